//! `imtegrity ca init|import|export|show|issue|issue-client`: the gateway CA for TLS
//! interception, and client certificates under it for the ingest endpoint's mutual TLS.
//! The CA's private key is written to its file and nowhere else: no command prints it.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use certs::{Ca, CaInfo, CaPaths, CertError, KeyKind, NameScope};
use serde_json::{Value, json};
use settings::{CaKey, TlsConfig};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::{CaCommand, CaIssueClientArgs, ConfigArgs};
use crate::exit::UsageError;
use crate::output::emit;

pub(crate) fn run(command: &CaCommand, json: bool) -> crate::CmdResult {
    match command {
        CaCommand::Init(args) => {
            let (tls, dir) = settings(&args.config)?;
            let kind = match &args.key {
                Some(text) => text.parse::<KeyKind>().map_err(UsageError)?,
                None => key_kind(tls.ca_key),
            };
            let paths = CaPaths::in_dir(&dir);
            if !args.force
                && let Some(existing) = [&paths.cert, &paths.key].into_iter().find(|p| p.exists())
            {
                return Err(CertError::Exists {
                    path: existing.clone(),
                }
                .into());
            }
            let subject = args
                .subject
                .clone()
                .unwrap_or_else(|| format!("IMtegrity gateway CA ({})", archive::host_name()));
            let ca = Ca::create(kind, &scope(&tls)?, &subject, OffsetDateTime::now_utc())?;
            let paths = ca.save(&dir, args.force)?;
            tracing::info!(dir = %dir.display(), sha256 = %ca.info().sha256, "gateway CA created");
            report("created", &paths, ca.info(), json);
        }
        CaCommand::Import(args) => {
            let (_, dir) = settings(&args.config)?;
            let (ca, paths) = Ca::import(
                &args.cert,
                &args.key,
                args.chain.as_deref(),
                &dir,
                args.force,
            )?;
            let info = ca.info();
            if !info.valid_at(OffsetDateTime::now_utc()) {
                tracing::warn!(
                    not_after = %date(info.not_after),
                    "the imported CA certificate is not valid now"
                );
            }
            report("imported", &paths, info, json);
        }
        CaCommand::Export(args) => {
            let (_, dir) = settings(&args.config)?;
            require_ca(&dir)?;
            let (der, info) = certs::load_certificate(&dir)?;
            let data = match args.format.as_str() {
                "pem" => certs_pem(&der),
                "der" => der.to_vec(),
                other => {
                    return Err(Box::new(UsageError(format!(
                        "unknown format {other:?}: pem or der"
                    ))));
                }
            };
            match &args.out {
                Some(out) => {
                    std::fs::write(out, &data)
                        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
                    emit(
                        json,
                        &format!(
                            "wrote the CA certificate ({}) to {}\n  sha256: {}",
                            args.format,
                            out.display(),
                            info.sha256
                        ),
                        &json!({"event": "exported", "format": args.format, "out": out,
                                "sha256": info.sha256, "subject": info.subject}),
                    );
                }
                None if json && args.format == "pem" => emit(
                    true,
                    "",
                    &json!({"event": "exported", "format": "pem", "sha256": info.sha256,
                            "subject": info.subject, "pem": String::from_utf8_lossy(&data)}),
                ),
                None if json => {
                    return Err(Box::new(UsageError(
                        "--json with --format der needs --out FILE".into(),
                    )));
                }
                None if args.format == "der" && std::io::stdout().is_terminal() => {
                    return Err(Box::new(UsageError(
                        "DER is binary: give --out FILE, or redirect stdout to a file".into(),
                    )));
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&data)?;
                    out.flush()?;
                }
            }
        }
        CaCommand::Show(args) => {
            let (_, dir) = settings(&args.config)?;
            require_ca(&dir)?;
            let (_, info) = certs::load_certificate(&dir)?;
            let paths = CaPaths::in_dir(&dir);
            let key_mode = std::fs::metadata(&paths.key).ok().map(|m| {
                format!(
                    "{:o}",
                    std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777
                )
            });
            let chain = certs_in(&paths.chain);
            let mut value = info_json(&info);
            value["dir"] = json!(dir);
            value["key_file_mode"] = json!(key_mode);
            value["chain"] = json!(chain);
            let key_line = match &key_mode {
                Some(mode) if mode == "600" || mode == "400" => format!("mode {mode}"),
                Some(mode) => format!("mode {mode}: other users can read it, chmod 600 it"),
                None => "missing or unreadable".to_owned(),
            };
            let text = format!(
                "CA in {}\n{}\n  key file:    {} ({key_line})\n  chain:       {chain} certificate(s) in {}",
                dir.display(),
                describe(&info),
                paths.key.display(),
                certs::CHAIN_FILE,
            );
            emit(json, &text, &value);
        }
        CaCommand::Issue(args) => {
            let (tls, dir) = settings(&args.config)?;
            require_ca(&dir)?;
            let issuer = crate::tls_setup::issuer(&tls, &dir)?;
            let leaf = issuer.issue(&args.name).map_err(|e| match e {
                CertError::NotPermitted { .. } | CertError::BadName { .. } => {
                    Box::new(UsageError(e.to_string())) as Box<dyn std::error::Error + Send + Sync>
                }
                other => other.into(),
            })?;
            let paths = leaf.save(&args.out_dir, args.force)?;
            emit(
                json,
                &format!(
                    "issued {} (serial {}, valid until {})\n  certificate: {}\n  with chain:  {}\n  key:         {} (mode 600)",
                    leaf.name,
                    leaf.serial,
                    date(leaf.not_after),
                    paths.cert.display(),
                    paths.chain.display(),
                    paths.key.display()
                ),
                &json!({"event": "issued", "name": leaf.name, "serial": leaf.serial,
                        "not_before": date(leaf.not_before), "not_after": date(leaf.not_after),
                        "cert": paths.cert, "chain": paths.chain, "key": paths.key}),
            );
        }
        CaCommand::IssueClient(args) => issue_client(args, json)?,
    }
    Ok(())
}

/// `ca issue-client`: a client certificate for a sender of the ingest endpoint.
fn issue_client(args: &CaIssueClientArgs, json: bool) -> crate::CmdResult {
    let (_, dir) = settings(&args.config)?;
    require_ca(&dir)?;
    let ca = Ca::load(&dir)?;
    let client = ca
        .issue_client(
            &args.name,
            time::Duration::days(i64::from(args.days)),
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| match e {
            CertError::BadName { .. } => {
                Box::new(UsageError(e.to_string())) as Box<dyn std::error::Error + Send + Sync>
            }
            other => other.into(),
        })?;
    let cert = args
        .out_cert
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.client.pem", client.name)));
    let key = args
        .out_key
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.client.key", client.name)));
    client.save(&cert, &key, args.force)?;
    emit(
        json,
        &format!(
            "issued a client certificate for {} (serial {}, valid until {})\n  certificate: {}\n  key:         {} (mode 600)\n  give both to the Sametime server (gateway.client_cert, gateway.client_key), with the CA certificate (imtegrity ca export) as gateway.ca",
            client.name,
            client.serial,
            date(client.not_after),
            cert.display(),
            key.display()
        ),
        &json!({"event": "issued_client", "name": client.name, "serial": client.serial,
                "not_before": date(client.not_before), "not_after": date(client.not_after),
                "cert": cert, "key": key}),
    );
    Ok(())
}

/// The `[tls]` section, as `run` would read it, and the CA directory it names.
fn settings(args: &ConfigArgs) -> Result<(TlsConfig, PathBuf), UsageError> {
    let config = crate::config_file::load(args.config.as_deref(), &args.overrides)?;
    let dir = crate::tls_setup::ca_dir(&config.tls);
    Ok((config.tls, dir))
}

/// An error saying how to get a CA when `dir` has none.
fn require_ca(dir: &Path) -> Result<(), String> {
    if crate::tls_setup::has_ca(dir) {
        return Ok(());
    }
    Err(format!(
        "no CA in {} (create one with `imtegrity ca init`, or bring an enterprise sub-CA with \
         `imtegrity ca import`; tls.ca_dir says where)",
        dir.display()
    ))
}

/// `tls.permitted` as the CA's scope (validation has checked every name already).
fn scope(tls: &TlsConfig) -> Result<NameScope, UsageError> {
    NameScope::permitted(&tls.permitted)
        .map_err(|e| UsageError(format!("invalid tls.permitted: {e}")))
}

fn key_kind(key: CaKey) -> KeyKind {
    match key {
        CaKey::EcdsaP256 => KeyKind::EcdsaP256,
        CaKey::Rsa2048 => KeyKind::Rsa2048,
    }
}

/// What `init` and `import` print.
fn report(event: &str, paths: &CaPaths, info: &CaInfo, json: bool) {
    let mut value = info_json(info);
    value["event"] = json!(event);
    value["dir"] = json!(paths.dir);
    value["cert"] = json!(paths.cert);
    value["key"] = json!(paths.key);
    let text = format!(
        "{event} the gateway CA in {}\n{}\n  certificate: {} (give it to clients: imtegrity ca export)\n  key:         {} (mode 600; never copy it off this host)",
        paths.dir.display(),
        describe(info),
        paths.cert.display(),
        paths.key.display()
    );
    emit(json, &text, &value);
}

fn describe(info: &CaInfo) -> String {
    let issuer = if info.issuer == info.subject {
        "self-signed".to_owned()
    } else {
        info.issuer.clone()
    };
    let mut constraints = if info.name_constrained {
        format!("permitted {}", info.scope)
    } else {
        "none: this CA may sign for any name".to_owned()
    };
    for other in &info.other_constraints {
        constraints.push_str("; ");
        constraints.push_str(other);
    }
    format!(
        "  subject:     {}\n  issuer:      {issuer}\n  key:         {}\n  sha256:      {}\n  serial:      {}\n  valid:       {} to {}\n  names:       {constraints}",
        info.subject,
        info.key,
        info.sha256,
        info.serial,
        date(info.not_before),
        date(info.not_after),
    )
}

fn info_json(info: &CaInfo) -> Value {
    json!({
        "subject": info.subject,
        "issuer": info.issuer,
        "key_type": info.key,
        "sha256": info.sha256,
        "serial": info.serial,
        "not_before": date(info.not_before),
        "not_after": date(info.not_after),
        "name_constrained": info.name_constrained,
        "permitted": info.scope.permitted_subtrees(),
        "excluded": info.scope.excluded_subtrees(),
        "other_constraints": info.other_constraints,
        "path_len": info.path_len,
    })
}

fn date(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// One DER certificate as PEM.
fn certs_pem(der: &[u8]) -> Vec<u8> {
    certs::cert_pem(der).into_bytes()
}

/// How many certificates `path` holds (0 when it does not exist).
fn certs_in(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.matches("-----BEGIN CERTIFICATE-----").count())
        .unwrap_or(0)
}
