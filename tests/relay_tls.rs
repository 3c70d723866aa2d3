//! TLS interception end to end, with `imtegrity run` between the scripted client and a lab
//! server that speaks TLS the way AOL did (an SSL authorizer, TLS BOS and chat, and the
//! HTTPS clientLogin / startOSCARSession API under a lab CA of its own):
//!
//! - TLS and plain OSCAR share the relay port; a client that does not trust the gateway CA
//!   cannot complete the handshake;
//! - an SSL login goes to `upstream.login_tls`, looked up by name through the relay's
//!   resolver and verified against that name with `upstream.tls_roots`; its TLS BOS and a
//!   0x008C chat room follow with the names the client itself validates
//!   (`bos.oscar.aol.com`, `chat.oscar.aol.com`), and every message is archived;
//! - an upstream the gateway cannot verify ends the session, unless `upstream.tls_insecure`;
//! - clientLogin and startOSCARSession (XML and JSON, useTLS 1 and 0) are forwarded
//!   unchanged (the lab checks the signature over the Host the client used), the BOS
//!   address is rewritten to the gateway, and the BOS session is attributed to the
//!   clientLogin screen name; `curl` is a real third-party client of the same API;
//! - without a CA, TLS clients are refused, and a TLS chat redirect is told to the client as
//!   plain text while the gateway's upstream leg stays TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use imtegrity_harness::gateway_ca::{ca_init, connector};
use imtegrity_harness::{Binary, FixedResolver, Gateway, cli, search, verify_intact};
use lab::{
    Accounts, ApiFormat, ClientLogin, ClientTls, LabClient, LabConfig, LabServer, SslLogin,
    TlsListeners,
};
use oscar::message::{Redirect, SignOff, SignonHello};
use oscar::{Channel, FlapCodec, ScreenName};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// The name libpurple's SSL login connects to.
const SSL_LOGIN: &str = "slogin.oscar.aol.com";
/// Bound on each wait for a message.
const WAIT: Duration = Duration::from_secs(5);

/// A lab with TLS, a resolver that knows the SSL authorizer's name, and a gateway in front.
struct Setup {
    lab: LabServer,
    resolver: FixedResolver,
    dir: tempfile::TempDir,
    /// The gateway CA's certificate (absent when the gateway has no CA).
    gateway_ca: PathBuf,
    gw: Gateway,
}

impl Setup {
    /// The gateway relays plain logins to the lab's authorizer and TLS logins to
    /// `slogin.oscar.aol.com` on the lab's SSL port; it trusts the lab CA unless `extra`
    /// says otherwise. `with_ca`: whether the gateway has a CA of its own.
    async fn start(node: &str, with_ca: bool, trust_lab: bool, extra: &[&str]) -> Self {
        let lab = LabServer::start(LabConfig {
            accounts: Accounts::from_pairs([
                ("alice", "a"),
                ("bob", "b"),
                ("carol", "c"),
                ("sslalice", "pw"),
                ("mallory", "pw"),
                ("x", "pw"),
            ]),
            ..LabConfig::ephemeral_tls()
        })
        .await
        .unwrap();
        let listeners: TlsListeners = lab.tls.unwrap();
        let resolver = FixedResolver::start(&[SSL_LOGIN]).await;
        let dir = tempfile::tempdir().unwrap();
        let lab_ca = dir.path().join("lab-ca.pem");
        std::fs::write(&lab_ca, lab.ca_pem().unwrap()).unwrap();
        let ca_dir = dir.path().join("ca");
        if with_ca {
            ca_init(IMTEGRITY, &ca_dir).await;
        }
        let mut sets = vec![
            format!("tls.ca_dir={}", ca_dir.display()),
            format!("upstream.login_tls={SSL_LOGIN}:{}", listeners.auth.port()),
            format!(r#"upstream.resolver=["{}"]"#, resolver.addr),
            format!("upstream.api={}", listeners.api),
        ];
        if trust_lab {
            sets.push(format!(r#"upstream.tls_roots=["{}"]"#, lab_ca.display()));
        }
        sets.extend(extra.iter().map(|s| (*s).to_owned()));
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let gw = Gateway::start(
            IMTEGRITY,
            &lab.auth_addr.to_string(),
            &dir.path().join("archive"),
            node,
            &sets,
        )
        .await;
        Self {
            lab,
            resolver,
            gateway_ca: ca_dir.join("ca.pem"),
            dir,
            gw,
        }
    }

    /// What a client that trusts the gateway CA uses.
    fn client_tls(&self) -> ClientTls {
        ClientTls::trusting_pem(&std::fs::read_to_string(&self.gateway_ca).unwrap()).unwrap()
    }

    /// The clientLogin flow aimed at the gateway with AOL's API names.
    fn client_login(&self, format: ApiFormat, use_tls: bool) -> ClientLogin {
        let mut api = ClientLogin::new(self.gw.relay, self.client_tls());
        api.format = format;
        api.use_tls = use_tls;
        api
    }

    /// Stops the gateway and returns every archived record, after checking the chain.
    async fn records(self) -> Vec<Value> {
        let archive = self.gw.archive.clone();
        self.gw.stop().await;
        verify_intact(IMTEGRITY, &archive).await;
        let _keep = (self.dir, self.lab);
        search(IMTEGRITY, &archive, &[]).await
    }
}

/// Whether `records` hold one with `text`, said by `sender`, archived for `local_user`.
fn has(records: &[Value], kind: &str, sender: &str, local_user: &str, text: &str) -> bool {
    records.iter().any(|r| {
        r["kind"] == kind
            && r["sender"] == sender
            && r["local_user"] == local_user
            && r["text"] == text
    })
}

/// Over TLS to the relay at `relay` with SNI [`SSL_LOGIN`]: the server hello, then a legacy
/// channel-1 login whose channel-4 answer carries the BOS address; returns that address.
async fn ssl_login(
    connector: &TlsConnector,
    relay: SocketAddr,
    name: &str,
) -> std::io::Result<String> {
    let reply = ssl_signoff(connector, relay, name).await?;
    assert_eq!(reply.error_code(), None, "{reply:?}");
    assert!(reply.cookie().is_some());
    Ok(reply.address().unwrap().unwrap().to_string())
}

/// A legacy (channel 1) login as `name` over TLS to `slogin.oscar.aol.com` at `relay`: the
/// sign-off frame that answers it, a redirect or an error.
async fn ssl_signoff(
    connector: &TlsConnector,
    relay: SocketAddr,
    name: &str,
) -> std::io::Result<SignOff> {
    let tcp = TcpStream::connect(relay).await?;
    let tls = connector
        .connect(ServerName::try_from(SSL_LOGIN).unwrap(), tcp)
        .await?;
    let mut conn = Framed::new(tls, FlapCodec::default());
    let hello = tokio::time::timeout(WAIT, conn.next())
        .await
        .expect("the relay's hello in time")
        .expect("a frame")
        .unwrap();
    assert_eq!(hello.channel, Channel::SIGNON, "{hello:?}");
    let sn = ScreenName::parse(name.as_bytes()).unwrap();
    let mut login = SignonHello::legacy_login(&sn, b"pw", "imtegrity TLS test")
        .to_flap()
        .unwrap();
    login.seq = 1;
    conn.send(login).await.unwrap();
    let reply = loop {
        let flap = tokio::time::timeout(WAIT, conn.next())
            .await
            .expect("the login reply in time")
            .expect("a frame")
            .unwrap();
        if flap.channel == Channel::SIGNOFF {
            break SignOff::from_flap(&flap).unwrap();
        }
    };
    Ok(reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_plain_clients_share_the_relay_port() {
    let setup = Setup::start("gw-tls", true, true, &[]).await;
    let relay = setup.gw.relay;

    // SSL login: terminated with a leaf for the SNI name, relayed over TLS to the SSL
    // authorizer found by name, BOS rewritten to us.
    let trusted = connector(&setup.gateway_ca);
    let bos = ssl_login(&trusted, relay, "sslalice").await.unwrap();
    assert_eq!(
        bos,
        relay.to_string(),
        "the BOS redirect points at the gateway"
    );
    assert!(
        setup.resolver.asked().iter().any(|n| n == SSL_LOGIN),
        "the relay looked up the SSL authorizer by name: {:?}",
        setup.resolver.asked()
    );

    // A plain client on the same port: full sign-on and an IM.
    let mut alice = LabClient::login(relay, "alice", "a").await.unwrap();
    let mut bob = LabClient::login(relay, "bob", "b").await.unwrap();
    assert_eq!(alice.bos_tls_name(), None);
    alice.send_im("bob", "plain beside TLS").await.unwrap();
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "plain beside TLS"
    );
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();

    // A client trusting another CA does not complete the handshake.
    let other = setup.dir.path().join("other-ca");
    ca_init(IMTEGRITY, &other).await;
    let err = ssl_login(&connector(&other.join("ca.pem")), relay, "mallory")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "expected a certificate error, got {err}"
    );
    let records = setup.records().await;
    assert!(
        has(&records, "im", "alice", "alice", "plain beside TLS"),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssl_login_its_tls_bos_and_a_tls_chat_are_relayed_and_archived() {
    let setup = Setup::start("gw-ssl", true, true, &[]).await;
    let relay = setup.gw.relay;
    let ssl = SslLogin::new(setup.client_tls());
    let mut alice = LabClient::login_ssl(relay, &ssl, "alice", "a")
        .await
        .unwrap();
    assert_eq!(
        alice.bos_tls_name(),
        Some("bos.oscar.aol.com"),
        "after an SSL login BOS is TLS, validated as libpurple does"
    );
    let mut bob = LabClient::login(relay, "bob", "b").await.unwrap();

    alice
        .send_im("bob", "secret plans, over TLS")
        .await
        .unwrap();
    assert_eq!(
        bob.expect_im("alice", WAIT).await.unwrap(),
        "secret plans, over TLS"
    );
    bob.send_im("alice", "back to the TLS user").await.unwrap();
    assert_eq!(
        alice.expect_im("bob", WAIT).await.unwrap(),
        "back to the TLS user"
    );
    alice.send_im("labbot", "echo me").await.unwrap();
    assert_eq!(alice.expect_im("labbot", WAIT).await.unwrap(), "echo me");

    // A chat room asked for with 0x008C: TLS on both legs, the lab's own cert name kept.
    let mut room = alice.join_chat("tlsroom").await.unwrap();
    assert_eq!(room.tls_name(), Some("chat.oscar.aol.com"));
    room.send("said in a TLS room").await.unwrap();
    room.expect_message("alice", WAIT).await.unwrap();
    room.leave().await.unwrap();
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();

    let records = setup.records().await;
    for (sender, local, text) in [
        ("alice", "alice", "secret plans, over TLS"),
        // Between two local users: archived once, on the sender's session.
        ("bob", "bob", "back to the TLS user"),
        ("alice", "alice", "echo me"),
    ] {
        assert!(
            has(&records, "im", sender, local, text),
            "{text}: {records:?}"
        );
    }
    assert!(
        has(
            &records,
            "chat_message",
            "alice",
            "alice",
            "said in a TLS room"
        ),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_the_gateway_cannot_verify_is_refused_unless_insecure_is_set() {
    // The lab CA is in no trust store the gateway uses.
    let setup = Setup::start("gw-untrusted", true, false, &[]).await;
    // docs/tls.md's promise: the client is told with a sign-off carrying error 0x0014.
    let refused = ssl_signoff(&connector(&setup.gateway_ca), setup.gw.relay, "alice")
        .await
        .unwrap();
    assert_eq!(refused.error_code(), Some(0x0014), "{refused:?}");
    assert!(refused.cookie().is_none(), "no way in: {refused:?}");
    let status = cli(
        IMTEGRITY,
        &["status", "--archive", setup.gw.archive.to_str().unwrap()],
    )
    .await;
    let status: Value = serde_json::from_str(status.1.trim()).unwrap();
    assert!(
        status["owner"]["relay"]["sessions_failed"]
            .as_u64()
            .unwrap()
            >= 1,
        "{status}"
    );
    setup.records().await;

    // Explicitly insecure (a lab upstream): the same login goes through.
    let setup = Setup::start("gw-insecure", true, false, &["upstream.tls_insecure=true"]).await;
    let ssl = SslLogin::new(setup.client_tls());
    let mut alice = LabClient::login_ssl(setup.gw.relay, &ssl, "alice", "a")
        .await
        .unwrap();
    alice
        .send_im("labbot", "through an unverified lab")
        .await
        .unwrap();
    assert_eq!(
        alice.expect_im("labbot", WAIT).await.unwrap(),
        "through an unverified lab"
    );
    alice.logout().await.unwrap();
    setup.records().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_login_through_the_gateway_in_xml_and_json() {
    let setup = Setup::start("gw-api", true, true, &[]).await;
    let relay = setup.gw.relay;

    // Step by step, XML with TLS: the rewritten answer names the gateway.
    let api = setup.client_login(ApiFormat::Xml, true);
    let login = api
        .login_request("alice", "a")
        .await
        .unwrap()
        .success()
        .unwrap();
    let target = api.start_session_target(
        login.field("data.token.a").unwrap(),
        login.field("data.hostTime").unwrap(),
        "a",
        login.field("data.sessionSecret").unwrap(),
    );
    let session = api
        .start_session_request(&target)
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(
        session.field("data.host"),
        Some("127.0.0.1"),
        "{}",
        session.body
    );
    assert_eq!(
        session.field("data.port"),
        Some(relay.port().to_string().as_str()),
        "{}",
        session.body
    );
    assert_eq!(session.field("data.tlsCertName"), Some("bos.oscar.aol.com"));

    // A wrong password passes through as the server said it.
    let refused = api.login_request("alice", "wrong").await.unwrap();
    assert_eq!(
        (refused.status_code, refused.status_detail),
        (330, Some(3011))
    );

    // Whole flows: XML + TLS BOS, JSON + plain BOS; IMs attributed to the login's name.
    let mut alice = LabClient::client_login(&api, "alice", "a").await.unwrap();
    assert_eq!(alice.bos_tls_name(), Some("bos.oscar.aol.com"));
    let json = setup.client_login(ApiFormat::Json, false);
    let mut carol = LabClient::client_login(&json, "carol", "c").await.unwrap();
    assert_eq!(carol.bos_tls_name(), None);
    alice.send_im("carol", "via clientLogin").await.unwrap();
    assert_eq!(
        carol.expect_im("alice", WAIT).await.unwrap(),
        "via clientLogin"
    );
    carol.send_im("labbot", "json too").await.unwrap();
    assert_eq!(carol.expect_im("labbot", WAIT).await.unwrap(), "json too");
    alice.logout().await.unwrap();
    carol.logout().await.unwrap();

    let records = setup.records().await;
    assert!(
        has(&records, "im", "alice", "alice", "via clientLogin"),
        "{records:?}"
    );
    assert!(
        has(&records, "im", "carol", "carol", "json too"),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_logs_in_through_the_gateway_api() {
    if !imtegrity_harness::tools_present("curl_logs_in_through_the_gateway_api", &["/usr/bin/curl"])
    {
        return;
    }
    let setup = Setup::start("gw-curl", true, true, &[]).await;
    let port = setup.gw.relay.port();
    let output = tokio::process::Command::new("/usr/bin/curl")
        .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
        .arg(&setup.gateway_ca)
        .arg("--resolve")
        .arg(format!("api.screenname.aol.com:{port}:127.0.0.1"))
        .args(["--data", "devId=x&f=json&pwd=a&s=alice"])
        .arg(format!(
            "https://api.screenname.aol.com:{port}/auth/clientLogin"
        ))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["response"]["statusCode"], 200, "{answer}");
    assert!(
        answer["response"]["data"]["token"]["a"].is_string(),
        "{answer}"
    );
    // Kerberos login is refused, not relayed: its ticket's BOS address is not rewritten.
    let output = tokio::process::Command::new("/usr/bin/curl")
        .args([
            "--silent",
            "--max-time",
            "10",
            "--write-out",
            "%{http_code}",
            "--output",
        ])
        .arg("/dev/null")
        .arg("--cacert")
        .arg(&setup.gateway_ca)
        .arg("--resolve")
        .arg(format!("kdc.uas.aol.com:{port}:127.0.0.1"))
        .args(["--data-binary", "x"])
        .arg(format!("https://kdc.uas.aol.com:{port}/"))
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "403");
    // A name outside the gateway CA's constraints gets no certificate that verifies.
    let output = tokio::process::Command::new("/usr/bin/curl")
        .args(["--silent", "--max-time", "10", "--cacert"])
        .arg(&setup.gateway_ca)
        .arg("--resolve")
        .arg(format!("www.example.org:{port}:127.0.0.1"))
        .arg(format!("https://www.example.org:{port}/"))
        .output()
        .await
        .unwrap();
    assert!(
        !output.status.success(),
        "a leaf for www.example.org verified"
    );
    setup.records().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ca_tls_clients_are_refused_and_tls_redirects_become_plain() {
    let setup = Setup::start("gw-no-tls", false, true, &[]).await;
    let relay = setup.gw.relay;
    let some_ca = setup.dir.path().join("some-ca");
    ca_init(IMTEGRITY, &some_ca).await;
    assert!(
        ssl_login(&connector(&some_ca.join("ca.pem")), relay, "x")
            .await
            .is_err(),
        "a TLS client must not get through a gateway without a CA"
    );

    // A plain client that asks for a TLS chat room (0x008C): the lab answers with its TLS
    // chat listener; the gateway tells the client plain text and speaks TLS upstream.
    let mut alice = LabClient::login(relay, "alice", "a").await.unwrap();
    let lab_trust = ClientTls::trusting_pem(setup.lab.ca_pem().unwrap()).unwrap();
    alice.set_tls(Some(lab_trust));
    let mut room = alice.join_chat("plainroom").await.unwrap();
    assert_eq!(room.tls_name(), None, "the client was told plain text");
    room.send("plain here, TLS upstream").await.unwrap();
    room.expect_message("alice", WAIT).await.unwrap();
    room.leave().await.unwrap();
    alice.logout().await.unwrap();
    let records = setup.records().await;
    assert!(
        has(
            &records,
            "chat_message",
            "alice",
            "alice",
            "plain here, TLS upstream"
        ),
        "{records:?}"
    );
}

/// One raw request over TLS to the gateway with SNI `host`; everything the gateway sends
/// back until it closes (or [`WAIT`]).
async fn raw_exchange(setup: &Setup, host: &str, request: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let tcp = TcpStream::connect(setup.gw.relay).await.unwrap();
    let name = ServerName::try_from(host.to_owned()).unwrap();
    let mut tls = connector(&setup.gateway_ca)
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A server may end TLS without close_notify after an HTTP/1.0 answer; what was read counts.
    let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut answer)).await;
    String::from_utf8(answer).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpurples_own_http_10_requests_pass_through_the_gateway() {
    let setup = Setup::start("gw-http10", true, true, &[]).await;
    // libpurple's clientLogin: HTTP/1.0 and no Host header; only the TLS name says where.
    let form = "devId=ma19CwYN9i9Mw5nY&f=xml&pwd=a&s=alice";
    let post = format!(
        "POST /auth/clientLogin HTTP/1.0\r\nConnection: close\r\nAccept: */*\r\n\
         Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let answer = raw_exchange(&setup, "api.screenname.aol.com", post).await;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let login = lab::ApiReply::parse(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(login.status_code, 200, "{answer}");
    // startOSCARSession: the absolute URL on the request line, signed over that host.
    let api = setup.client_login(ApiFormat::Xml, true);
    let target = api.start_session_target(
        login.field("data.token.a").unwrap(),
        login.field("data.hostTime").unwrap(),
        "a",
        login.field("data.sessionSecret").unwrap(),
    );
    let get = format!(
        "GET https://api.oscar.aol.com{target} HTTP/1.0\r\nConnection: close\r\nAccept: */*\r\n\
         Host: api.oscar.aol.com\r\n\r\n"
    );
    let answer = raw_exchange(&setup, "api.oscar.aol.com", get).await;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let session = lab::ApiReply::parse(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(session.status_code, 200, "{answer}");
    assert_eq!(session.field("data.host"), Some("127.0.0.1"), "{answer}");
    assert_eq!(
        session.field("data.port"),
        Some(setup.gw.relay.port().to_string().as_str())
    );
    let length: usize = answer
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length: ")
                .or(l.strip_prefix("Content-Length: "))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no content-length: {answer}"));
    assert_eq!(length, body.len(), "the length matches the rewritten body");
    setup.records().await;
}
