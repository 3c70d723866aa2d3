//! `imtegrity demo`: a lab server, the gateway in front of it, and scripted users who log in
//! *through* the gateway, exchange IMs, talk to the echo bot, join a room and get migrated.
//! Every delivered line is observed, not assumed (printed only when the receiving client got
//! it); then the archive's own transcript of the same conversation is printed and verified.

use std::time::Duration;

use lab::{ClientEvent, LabClient, LabConfig, LabServer, LoginMethod};
use serde_json::json;

use crate::cli::DemoArgs;
use crate::output::emit;

/// The name every unconfigured AIM client looks up first.
const LOGIN_HOST: &str = "login.oscar.aol.com";

/// `name`'s first address, asked of the DNS server at `server` alone (no cache, no hosts
/// file).
async fn resolve_via(
    server: std::net::SocketAddr,
    name: &str,
) -> Result<std::net::IpAddr, Box<dyn std::error::Error + Send + Sync>> {
    use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
    let mut ns = NameServerConfig::udp_and_tcp(server.ip());
    for connection in &mut ns.connections {
        connection.port = server.port();
    }
    let mut builder = hickory_resolver::Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
    );
    let options = builder.options_mut();
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    let resolver = builder.build()?;
    let lookup = resolver.lookup_ip(format!("{name}.")).await?;
    lookup
        .iter()
        .next()
        .ok_or_else(|| format!("the gateway's DNS gave no address for {name}").into())
}

pub(crate) async fn run(args: DemoArgs, json: bool) -> crate::CmdResult {
    let wait = Duration::from_secs(args.step_timeout);
    let lab = LabServer::start(LabConfig::ephemeral_tls()).await?;
    let lab_tls = lab.tls.ok_or("the lab started without its TLS listeners")?;
    let archive_dir = args.archive.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "imtegrity-demo-{}-{}",
            std::process::id(),
            archive::now_ns()
        ))
    });
    // A throwaway gateway CA beside the archive, as `imtegrity ca init` would make, and the
    // lab's own CA for the gateway to verify the lab's TLS listeners with.
    let ca_dir = std::path::PathBuf::from(format!("{}-ca", archive_dir.display()));
    let permitted = certs::NameScope::permitted(&settings::TlsConfig::default().permitted)?;
    let gateway_ca = certs::Ca::create(
        certs::KeyKind::EcdsaP256,
        &permitted,
        "IMtegrity demo CA",
        time::OffsetDateTime::now_utc(),
    )?;
    gateway_ca.save(&ca_dir, false)?;
    let lab_ca = ca_dir.join("lab-upstream-ca.pem");
    std::fs::write(&lab_ca, lab.ca_pem().ok_or("the lab has no CA")?)?;
    let config = crate::config_file::load(
        None,
        &[
            format!("tls.ca_dir={}", ca_dir.display()),
            format!(r#"upstream.tls_roots=["{}"]"#, lab_ca.display()),
            format!("upstream.api={}", lab_tls.api),
            r#"relay.listen=["127.0.0.1:0"]"#.to_owned(),
            r#"dns.listen=["127.0.0.1:0"]"#.to_owned(),
            // The demo asks only redirected names, which never reach an upstream; this
            // placeholder keeps the host's /etc/resolv.conf out of it.
            r#"dns.upstream=["127.0.0.1:9"]"#.to_owned(),
            format!("upstream.login={}", lab.auth_addr),
            format!("archive.path={}", archive_dir.display()),
            "archive.node=demo".to_owned(),
        ],
    )?;
    let gateway = crate::gateway::Gateway::start(&config).await?;
    let relay = *gateway
        .listening
        .first()
        .ok_or("the gateway has no listener")?;
    let dns = *gateway
        .dns
        .as_ref()
        .and_then(|d| d.local_addrs().first())
        .ok_or("the gateway has no DNS responder")?;
    emit(
        json,
        &format!(
            "lab OSCAR server: login {}, BOS {}, chat {}",
            lab.auth_addr, lab.bos_addr, lab.chat_addr
        ),
        &json!({"event": "lab", "auth": lab.auth_addr.to_string(),
                "bos": lab.bos_addr.to_string(), "chat": lab.chat_addr.to_string()}),
    );
    emit(
        json,
        &format!(
            "gateway: dns {dns}, relay {relay} -> upstream {}, archive {}",
            lab.auth_addr,
            archive_dir.display()
        ),
        &json!({"event": "gateway", "dns": dns.to_string(), "relay": relay.to_string(),
                "archive": archive_dir}),
    );
    // What an unconfigured client does: look up AOL's login host, here through the
    // gateway's responder (as the office resolver would send it there).
    let answer = resolve_via(dns, LOGIN_HOST).await?;
    emit(
        json,
        &format!("DNS: {LOGIN_HOST} -> {answer} (the gateway, not AOL)"),
        &json!({"event": "dns", "name": LOGIN_HOST, "answer": answer.to_string()}),
    );
    let via = std::net::SocketAddr::new(answer, relay.port());
    let mut delivered = 0u32;

    let mut alice = LabClient::login_with(via, "Alice", "secret", LoginMethod::Md5Strong).await?;
    signed_on(json, "Alice", "BUCP login, strong MD5 hash");
    let mut bob = LabClient::login_with(via, "bob", "secret", LoginMethod::Legacy).await?;
    signed_on(json, "bob", "legacy channel-1 login, roasted password");
    // libpurple's default: the HTTPS clientLogin API, then TLS to BOS. The client trusts the
    // gateway CA (deployed by group policy); the gateway verifies the lab with its own.
    let trust = lab::ClientTls::trusting_pem(&gateway_ca.cert_pem())?;
    let mut carol =
        LabClient::client_login(&lab::ClientLogin::new(via, trust), "carol", "secret").await?;
    signed_on(
        json,
        "carol",
        "clientLogin over HTTPS, then BOS over TLS, both with gateway CA leaves",
    );

    for (from, to, text) in [
        ("Alice", "bob", "Hi Bob, the Q3 numbers are final."),
        (
            "bob",
            "Alice",
            "Thanks! Sending the <b>summary</b> to the client now.",
        ),
    ] {
        let (sender, receiver) = if from == "Alice" {
            (&mut alice, &mut bob)
        } else {
            (&mut bob, &mut alice)
        };
        sender.send_im(to, text).await?;
        let got = receiver.expect_im(from, wait).await?;
        im_line(json, from, to, &got);
        delivered += 1;
    }

    alice.send_im(lab::DEFAULT_BOT, "echo test").await?;
    let echo = alice.expect_im(lab::DEFAULT_BOT, wait).await?;
    im_line(json, lab::DEFAULT_BOT, "Alice", &echo);
    delivered += 1;

    let mut a_room = alice.join_chat("compliance").await?;
    let mut b_room = bob.join_chat("compliance").await?;
    emit(
        json,
        "Alice and bob joined chat room \"compliance\" (via the 0x0001/0x0004 service redirect)",
        &json!({"event": "chat_join", "room": "compliance", "members": ["Alice", "bob"]}),
    );
    b_room.send("Morning all, standup in 5.").await?;
    let said = a_room.expect_message("bob", wait).await?;
    emit(
        json,
        &format!("[compliance] bob: {said}"),
        &json!({"event": "chat_message", "room": "compliance", "from": "bob", "text": said}),
    );
    delivered += 1;

    if lab.migrate("Alice").await? {
        let ClientEvent::Migrated(to) = alice
            .expect_event(wait, "migration", |e| matches!(e, ClientEvent::Migrated(_)))
            .await?
        else {
            return Err("migration event expected".into());
        };
        emit(
            json,
            &format!("server migrated Alice's session to {to} (0x0001/0x0012)"),
            &json!({"event": "migrated", "who": "Alice", "to": to}),
        );
    }
    carol
        .send_im("Alice", "Sent over TLS, archived all the same.")
        .await?;
    let got = alice.expect_im("carol", wait).await?;
    im_line(json, "carol", "Alice", &got);
    delivered += 1;

    bob.send_im("Alice", "Did the move work?").await?;
    let got = alice.expect_im("bob", wait).await?;
    im_line(json, "bob", "Alice", &got);
    delivered += 1;

    a_room.leave().await?;
    // Wait until bob's client has seen Alice leave: the relay archived it before passing it on.
    loop {
        match b_room.next_event(wait).await? {
            ClientEvent::ChatLeft(who) if who.iter().any(|n| n.normalized() == "alice") => break,
            ClientEvent::Disconnected => return Err("bob's room connection closed".into()),
            _ => {}
        }
    }
    emit(
        json,
        "Alice left chat room \"compliance\"",
        &json!({"event": "chat_leave", "room": "compliance", "who": "Alice"}),
    );
    b_room.leave().await?;
    alice.logout().await?;
    bob.logout().await?;
    carol.logout().await?;
    // Let the last frames cross the relay, then stop it: everything queued becomes durable.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let archive = gateway.archive.clone();
    gateway.stop().await?;
    lab.stop().await;
    emit(
        json,
        "--- archived transcript (what the compliance team sees) ---",
        &json!({"event": "archive"}),
    );
    let records: Vec<archive::Record> = archive
        .search(&archive::Query::default())
        .collect::<Result<_, _>>()?;
    for r in &records {
        emit(
            json,
            &format!(
                "{}  [{}]",
                archive::export::transcript_line(r, &archive::export::Zone::utc()),
                r.event.conversation
            ),
            &serde_json::from_str(&archive::export::json_line(r)?)?,
        );
    }
    let report = archive.verify()?;
    emit(
        json,
        &format!(
            "demo complete: {delivered} messages delivered, {} records archived, archive {}; try: imtegrity search --archive {}",
            records.len(),
            if report.is_intact() {
                "verified intact"
            } else {
                "NOT intact"
            },
            archive_dir.display()
        ),
        &json!({"event": "done", "delivered": delivered, "archived": records.len(), "intact": report.is_intact(), "archive": archive_dir}),
    );
    Ok(())
}

fn signed_on(json: bool, who: &str, how: &str) {
    emit(
        json,
        &format!("{who} signed on ({how})"),
        &json!({"event": "signed_on", "who": who, "how": how}),
    );
}

fn im_line(json: bool, from: &str, to: &str, text: &str) {
    emit(
        json,
        &format!("{from} -> {to}: {text}"),
        &json!({"event": "im", "from": from, "to": to, "text": text}),
    );
}
