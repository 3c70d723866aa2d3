//! `imtegrity sametime ...`: the Sametime administrator's side of the module, with the
//! module's own code: `check-config FILE` reads the module's file as `stDdaClInit` would
//! and says what it would do (or, exit 64, what is wrong and where).

use std::path::Path;

use imtegrity_stchatlog::config::{Mode, SpiConfig};
use imtegrity_stchatlog::shipper::ShipperConfig;
use imtegrity_stchatlog::spi_policy::SpiPolicy;
use serde_json::json;

use crate::cli::{SametimeCommand, UsageError};
use crate::output::emit;

/// Runs one `sametime` subcommand.
pub(crate) fn run(command: &SametimeCommand, json: bool) -> crate::CmdResult {
    match command {
        SametimeCommand::CheckConfig(args) => check_config(&args.file, json),
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
            || "the module's default (see the README, \"Sametime\")".to_owned(),
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
