//! `imtegrity sametime ...`: the Sametime administrator's side of the module, with the
//! module's own code: `check-config FILE` reads the module's file as `stDdaClInit` would
//! and says what it would do (or, exit 64, what is wrong and where); `spool DIR` says what
//! waits in a spool and, with `--drain`, ships it.
//!
//! The spool holds chat content, but `spool` shows counts and times only: content is read
//! through the archive, where every access is recorded.

use std::path::Path;
use std::time::{Duration, Instant};

use imtegrity_stchatlog::config::{Mode, SpiConfig};
use imtegrity_stchatlog::shipper::ShipperConfig;
use imtegrity_stchatlog::spi_policy::SpiPolicy;
use imtegrity_stchatlog::spool_inspect;
use serde_json::json;

use crate::cli::{SametimeCommand, SametimeSpoolArgs};
use crate::exit::UsageError;
use crate::output::emit;

/// Runs one `sametime` subcommand.
pub(crate) fn run(command: &SametimeCommand, json: bool) -> crate::CmdResult {
    match command {
        SametimeCommand::CheckConfig(args) => check_config(&args.file, json),
        SametimeCommand::Spool(args) => spool(args, json),
    }
}

/// A spool drain that left records waiting: exit 1, after the summary.
#[derive(Debug, thiserror::Error)]
#[error(
    "{left} records still wait in the spool after --drain (is the gateway up, the token right?)"
)]
struct NotDrained {
    left: usize,
}

/// `sametime spool DIR [--drain --config FILE]`.
fn spool(args: &SametimeSpoolArgs, json: bool) -> crate::CmdResult {
    let usage = |e: imtegrity_stchatlog::SpiError| UsageError(e.to_string());
    let drained = if args.drain {
        let Some(file) = &args.config else {
            return Err(UsageError("--drain needs --config FILE".into()).into());
        };
        let config = SpiConfig::read(file).map_err(usage)?;
        let Some(shipping) = ShipperConfig::from_config(&config).map_err(usage)? else {
            return Err(UsageError(format!("{} names no [gateway]", file.display())).into());
        };
        let deadline = Instant::now() + Duration::from_secs(args.timeout);
        Some(spool_inspect::drain(&args.dir, shipping, deadline)?)
    } else {
        None
    };
    let summary = spool_inspect::summary(&args.dir)?;
    let time = |ns: Option<i64>| ns.map_or_else(|| "-".to_owned(), crate::timespec::format);
    let mut lines = vec![format!(
        "spool {}: {} waiting for the gateway (oldest {}, newest {}); {} in {}; acknowledged up to #{}",
        args.dir.display(),
        archive::export::counted(summary.records as u64, "record"),
        time(summary.oldest_ns),
        time(summary.newest_ns),
        archive::export::counted(summary.bytes, "byte"),
        archive::export::counted(summary.segments as u64, "segment file"),
        summary.acked_upto,
    )];
    lines.push(format!(
        "  source id {}",
        summary
            .source
            .as_deref()
            .unwrap_or("none (no module has written here)")
    ));
    match &summary.shipping {
        Some(ship) => lines.push(format!(
            "  shipping to {} (status.json of {}): last shipped {}{}",
            ship.gateway,
            time(Some(ship.updated_ns)),
            time(ship.last_shipped_ns),
            ship.problem()
                .map(|p| format!("; FAILING: {p}"))
                .unwrap_or_default()
        )),
        None => lines
            .push("  shipping: no status.json (no gateway configured, or never started)".into()),
    }
    for path in &summary.damaged {
        lines.push(format!(
            "  DAMAGED: {} has bytes after its last whole record",
            path.display()
        ));
    }
    for path in &summary.kept_aside {
        lines.push(format!(
            "  KEPT ASIDE: {} (damaged bytes: records in it could not be read or shipped; examine, then remove)",
            path.display()
        ));
    }
    if summary.undecodable > 0 {
        lines.push(format!(
            "  UNREADABLE: {} that do not decode (not shipped)",
            archive::export::counted(summary.undecodable as u64, "record")
        ));
    }
    if let Some(report) = &drained {
        lines.push(format!(
            "  drained: {} shipped, {} left",
            report.before.saturating_sub(report.left),
            report.left
        ));
    }
    emit(
        json,
        &lines.join("\n"),
        &json!({
            "dir": args.dir,
            "source": summary.source,
            "records": summary.records,
            "acked_upto": summary.acked_upto,
            "oldest_ns": summary.oldest_ns,
            "newest_ns": summary.newest_ns,
            "bytes": summary.bytes,
            "segments": summary.segments,
            "damaged": summary.damaged,
            "kept_aside": summary.kept_aside,
            "undecodable": summary.undecodable,
            "shipping": summary.shipping.as_ref().map(|s| json!({
                "gateway": s.gateway,
                "last_shipped_ns": s.last_shipped_ns,
                "failing_since_ns": s.failing_since_ns,
                "last_error": s.last_error,
                "backlog": s.backlog,
                "updated_ns": s.updated_ns,
            })),
            "drained": drained.map(|r| json!({"before": r.before, "left": r.left})),
        }),
    );
    match drained {
        Some(report) if report.left > 0 => Err(NotDrained { left: report.left }.into()),
        _ => Ok(()),
    }
}

/// Reads `file` as the module would (without the `IMTEGRITY_SPI_*` variables, which are
/// the server's environment, not this shell's): the file itself, the gateway's token and
/// TLS files, and the policy it names. Prints what the module would do; any mistake is a
/// [`UsageError`] naming the file, and for a TOML mistake the line and column.
fn check_config(file: &Path, json: bool) -> crate::CmdResult {
    let usage = |e: imtegrity_stchatlog::SpiError| UsageError(e.to_string());
    let config = SpiConfig::read(file).map_err(usage)?;
    let shipping = ShipperConfig::from_config(&config).map_err(usage)?;
    let policy = match &config.policy {
        Some(source) => {
            let path = config.resolve(&source.file);
            let policy = SpiPolicy::from_file(&path).map_err(usage)?;
            let engine = policy.engine();
            let rules = engine
                .profiles()
                .iter()
                .map(|p| p.rule_count())
                .sum::<usize>();
            Some((path, rules, engine.warnings().to_vec()))
        }
        None => None,
    };
    let spool = config.spool.as_ref().map(|dir| config.resolve(dir));
    let mode = match config.mode {
        Mode::Strict => "strict",
        Mode::Relaxed => "relaxed",
    };
    let gateway = config.gateway.as_ref();
    let mut lines = vec![format!("ok: {}", file.display())];
    lines.push(format!(
        "  mode: {mode} ({})",
        match config.mode {
            Mode::Strict => "a chat whose record cannot be made durable is refused",
            Mode::Relaxed => {
                "chats always go on; what cannot be made durable is held and any loss recorded as a gap"
            }
        }
    ));
    lines.push(format!(
        "  spool: {}",
        spool.as_ref().map_or_else(
            || "the module's default (see docs/sametime.md)".to_owned(),
            |dir| dir.display().to_string()
        )
    ));
    match (gateway, &shipping) {
        (Some(gateway), Some(_)) => lines.push(format!(
            "  gateway: {} over {}, authenticated by {}",
            gateway.address,
            if gateway.ca.is_some() {
                "TLS"
            } else {
                "plain HTTP (loopback or a trusted segment only)"
            },
            match (&gateway.token_file, &gateway.token, &gateway.client_cert) {
                (Some(f), _, _) => format!("the token in {}", config.resolve(f).display()),
                (None, Some(_), _) => {
                    "the token written in this file (prefer gateway.token_file)".to_owned()
                }
                _ => "a client certificate".to_owned(),
            }
        )),
        _ => lines.push("  gateway: none: records stay in the spool until one is set".to_owned()),
    }
    match &policy {
        Some((path, rules, warnings)) => {
            lines.push(format!(
                "  policy: {} ({})",
                path.display(),
                archive::export::counted(*rules as u64, "rule")
            ));
            for warning in warnings {
                lines.push(format!("    warning: {warning}"));
            }
        }
        None => lines.push("  policy: none (every chat allowed, every message recorded)".into()),
    }
    let codes = config.codes;
    lines.push(format!(
        "  codes: db_error {}, msg_changed {}, session_creation_declined {}",
        codes.db_error, codes.msg_changed, codes.session_creation_declined
    ));
    emit(
        json,
        &lines.join("\n"),
        &json!({
            "ok": true,
            "file": file,
            "mode": mode,
            "spool": spool,
            "gateway": gateway.map(|g| json!({
                "address": g.address,
                "tls": g.ca.is_some(),
                "token_file": g.token_file.as_ref().map(|f| config.resolve(f)),
                "token_inline": g.token.is_some(),
                "client_cert": g.client_cert.as_ref().map(|f| config.resolve(f)),
            })),
            "policy": policy.as_ref().map(|(path, rules, warnings)| json!({
                "file": path, "rules": rules, "warnings": warnings,
            })),
            "codes": {
                "db_error": codes.db_error,
                "session_already_exists": codes.session_already_exists,
                "session_does_not_exist": codes.session_does_not_exist,
                "msg_too_long": codes.msg_too_long,
                "msg_changed": codes.msg_changed,
                "session_creation_declined": codes.session_creation_declined,
            },
        }),
    );
    Ok(())
}
