//! `imtegrity lab`: the lab OSCAR server in the foreground until Ctrl-C.

use std::net::SocketAddr;

use lab::{Accounts, LabConfig, LabServer, LabTlsConfig};
use serde_json::json;

use crate::cli::LabArgs;
use crate::exit::UsageError;
use crate::output::emit;

pub(crate) async fn run(args: LabArgs, json: bool) -> crate::CmdResult {
    let free_port = |ip| SocketAddr::new(ip, 0);
    let accounts = if args.accounts.is_empty() {
        Accounts::AnyPassword
    } else {
        let mut pairs = Vec::new();
        for a in &args.accounts {
            let (name, pw) = a
                .split_once(':')
                .ok_or_else(|| UsageError(format!("--account {a:?}: expected NAME:PASSWORD")))?;
            pairs.push((name, pw));
        }
        Accounts::from_pairs(pairs)
    };
    let config = LabConfig {
        auth: args.listen,
        bos: args.bos.unwrap_or_else(|| free_port(args.listen.ip())),
        chat: args.chat.unwrap_or_else(|| free_port(args.listen.ip())),
        advertise_host: args.advertise,
        accounts,
        bot: args.bot.clone(),
        tls: args.tls.then(|| LabTlsConfig::on(args.listen.ip())),
    };
    // Handlers first, so a signal right after the "listening" line stops us cleanly.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let server = LabServer::start(config).await?;
    // The CA file exists before the "listening" line, so a script can wait for that line
    // and then hand the file to a gateway.
    if let (Some(path), Some(pem)) = (&args.ca_out, server.ca_pem()) {
        std::fs::write(path, pem)
            .map_err(|e| format!("cannot write the lab CA to {}: {e}", path.display()))?;
    }
    let mut text = format!(
        "lab OSCAR server\n  login (authorizer): {}\n  BOS:                {}\n  chat:               {}\n  echo bot:           {}",
        server.auth_addr, server.bos_addr, server.chat_addr, args.bot,
    );
    let mut value = json!({
        "event": "listening",
        "auth": server.auth_addr.to_string(),
        "bos": server.bos_addr.to_string(),
        "chat": server.chat_addr.to_string(),
        "bot": args.bot,
    });
    if let Some(tls) = server.tls {
        let ca = args.ca_out.as_ref().map_or_else(
            || "not written (--ca-out FILE)".to_owned(),
            |p| p.display().to_string(),
        );
        text.push_str(&format!(
            "\n  SSL login:          {}\n  TLS BOS:            {}\n  TLS chat:           {}\n  HTTPS API:          {}\n  lab CA:             {ca}",
            tls.auth, tls.bos, tls.chat, tls.api,
        ));
        value["ssl_auth"] = json!(tls.auth.to_string());
        value["tls_bos"] = json!(tls.bos.to_string());
        value["tls_chat"] = json!(tls.chat.to_string());
        value["api"] = json!(tls.api.to_string());
        value["ca_out"] = json!(args.ca_out.as_ref().map(|p| p.display().to_string()));
    }
    text.push_str(&format!(
        "\nPoint an AIM client at the login address (e.g. libpurple: server {}, port {}, md5_login, no encryption). Ctrl-C stops.",
        server.auth_addr.ip(),
        server.auth_addr.port()
    ));
    emit(json, &text, &value);
    let stop = server.shutdown_token();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        stop.cancel();
    });
    server.wait().await;
    Ok(())
}
