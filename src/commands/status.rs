//! `imtegrity status`: what the running gateway is doing (through its admin socket), or, when
//! none runs, the archive's own counters.

use archive::ArchiveStatus;
use serde_json::json;

use crate::archive_access::ArchiveAccess;
use crate::cli::StatusArgs;
use crate::output::emit;
use crate::timespec;

pub(crate) fn run(args: &StatusArgs, json: bool) -> crate::CmdResult {
    let dir = args.archive.dir();
    let (owner, archive): (serde_json::Value, ArchiveStatus) =
        match ArchiveAccess::open(&dir, false)? {
            ArchiveAccess::Remote(client) => {
                let answer = client.status()?;
                let archive = serde_json::from_value(answer["archive"].clone())?;
                (answer["owner"].clone(), archive)
            }
            ArchiveAccess::Local(local, _) => (serde_json::Value::Null, local.status()?),
        };
    let mut lines = Vec::new();
    match owner.get("relay") {
        Some(relay) => {
            lines.push(format!("gateway: running (pid {})", owner["pid"]));
            lines.push(format!(
                "  relay {} -> {} ({} mode)",
                relay["listening"].as_array().map_or(String::new(), |a| {
                    a.iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                relay["upstream"].as_str().unwrap_or(""),
                relay["mode"].as_str().unwrap_or("")
            ));
            lines.push(format!(
                "  sessions {} open, {} total, {} ended with errors; {} records; {} redirects rewritten; {} login API requests; {} typing events counted",
                relay["sessions_open"], relay["sessions_total"], relay["sessions_failed"], relay["records"], relay["rewrites"], relay["api_requests"], relay["typing"]
            ));
            if let Some(c) = relay.get("connections") {
                lines.push(connections_line(c));
            }
            lines.push(format!(
                "  cookie routes {} held, {} dropped while live (relay.max_cookie_routes)",
                relay["cookies"], relay["cookies_evicted_live"]
            ));
            for e in relay["egress"].as_array().into_iter().flatten() {
                lines.push(format!(
                    "  egress {}: {} sessions",
                    e["address"].as_str().unwrap_or(""),
                    e["sessions"]
                ));
            }
        }
        None if owner["role"] == "sensor" => {
            lines.push(format!("sensor: running alone (pid {})", owner["pid"]));
        }
        None => lines.push("gateway: not running (archive opened directly)".into()),
    }
    if let Some(sensor) = owner.get("sensor").filter(|s| !s.is_null()) {
        lines.push(sensor_line(sensor));
    }
    if let Some(dns) = owner.get("dns").filter(|d| !d.is_null()) {
        let stats = &dns["stats"];
        lines.push(format!(
            "  dns {}: {} refused, {} rate-limited, {} malformed, {} reloads",
            dns["listening"].as_array().map_or(String::new(), |a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            stats["refused"],
            stats["rate_limited"],
            stats["formerr"],
            stats["reloads"]
        ));
        lines.push(format!(
            "    dns limits: {} truncated, {} ANY minimal, {} NOTIMP, {} other class, {} log lines suppressed, {}/{} clients tracked",
            stats["truncated"],
            stats["any_minimal"],
            stats["not_implemented"],
            stats["refused_class"],
            stats["query_log_suppressed"],
            stats["clients_tracked"],
            stats["client_table_size"]
        ));
        for v in stats["views"].as_array().into_iter().flatten() {
            lines.push(format!(
                "    view {}: {} queries, {} redirected, {} forwarded, {} servfail",
                v["view"].as_str().unwrap_or(""),
                v["queries"],
                v["redirected"],
                v["forwarded"],
                v["servfail"]
            ));
        }
    }
    if let Some(ingest) = owner.get("ingest").filter(|i| !i.is_null()) {
        lines.extend(ingest_lines(ingest));
    }
    lines.push(format!(
        "archive {}: {} records, head #{}, {} checkpoints (last {})",
        archive.dir,
        archive.records,
        archive.head_id,
        archive.checkpoints,
        archive
            .last_checkpoint_ns
            .map_or("never".to_owned(), timespec::format)
    ));
    if let Some(problem) = &archive.refusing_appends {
        lines.push(format!("  REFUSING APPENDS: {problem}"));
    }
    let (index_line, index) = crate::commands::index::index_line(
        std::path::Path::new(&archive.dir),
        Some(archive.head_id),
    );
    lines.push(format!("  {index_line}"));
    emit(
        json,
        &lines.join("\n"),
        &json!({"owner": owner, "archive": archive,
                "text_index": index.map(|p| json!({"upto": p.upto, "behind": archive.head_id.saturating_sub(p.upto)}))}),
    );
    Ok(())
}

/// The ingest endpoint: a line per Sametime module that shipped (what a Sametime
/// administrator checks first when chats stop arriving), and one per refused sender.
fn ingest_lines(ingest: &serde_json::Value) -> Vec<String> {
    let stats = &ingest["stats"];
    let time = |v: &serde_json::Value| v.as_i64().map_or("never".to_owned(), timespec::format);
    let mut lines = vec![format!(
        "  ingest {}: {} records stored since start",
        ingest["listening"].as_array().map_or(String::new(), |a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }),
        stats["records"]
    )];
    let clients = stats["clients"].as_array().map_or(&[][..], Vec::as_slice);
    if clients.is_empty() {
        lines.push("    no Sametime module has shipped since start".into());
    }
    for c in clients {
        let mut line = format!(
            "    client {}: last seen {} from {}, {} records ({} resent) in {} batches, backlog {}",
            c["client"].as_str().unwrap_or(""),
            time(&c["last_seen_ns"]),
            c["last_addr"].as_str().unwrap_or("?"),
            c["records"],
            c["resent"],
            c["batches"],
            c["backlog"]
                .as_u64()
                .map_or("not reported".to_owned(), |b| b.to_string()),
        );
        if let Some(error) = c["last_error"].as_str() {
            line.push_str(&format!(
                "; last error {}: {error}",
                time(&c["last_error_ns"])
            ));
        }
        lines.push(line);
    }
    for r in stats["refused"].as_array().into_iter().flatten() {
        lines.push(format!(
            "    REFUSED {}: {} requests ({}), last {}",
            r["addr"].as_str().unwrap_or(""),
            r["count"],
            r["reason"].as_str().unwrap_or(""),
            time(&r["last_ns"])
        ));
    }
    lines
}

/// One line of sensor counters: what the network team watches.
fn sensor_line(sensor: &serde_json::Value) -> String {
    let s = &sensor["stats"];
    format!(
        "  sensor on {}: {} flows seen ({} active), {} OSCAR, {} AIM/ICQ TLS, {} bypasses, {} passive records, {} packets ({} dropped by the kernel), {} records lost",
        sensor["interface"].as_str().unwrap_or("?"),
        s["flows_seen"],
        s["flows_active"],
        s["oscar_flows"],
        s["tls_flows"],
        s["bypasses"],
        s["passive_records"],
        s["packets"],
        s["kernel_drops"],
        s["records_lost"],
    )
}

/// One line of connection limits: how full the relay is, and what it refused and why.
fn connections_line(c: &serde_json::Value) -> String {
    let r = &c["refused"];
    format!(
        "  connections {} open of {} (descriptor limit {}); refused: {} per-address limit, {} rate limit, {} descriptor reserve; {} closed at the sign-on deadline; {} accept errors",
        c["open"],
        c["max_open"],
        c["descriptor_limit"],
        r["per_address_limit"],
        r["rate_limit"],
        r["descriptor_reserve"],
        r["signon_deadline"],
        r["accept_errors"],
    )
}
