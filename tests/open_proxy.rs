//! The gateway is no way in: tried as an attacker on the client network and as a hostile
//! upstream would, against the real `imtegrity run`.
//!
//! - The HTTPS login API forwards only to the API hosts the gateway intercepts: a request
//!   with SNI `api.screenname.aol.com` naming `127.0.0.7` (Host header or absolute URL) or
//!   an unknown name gets 421 from the gateway, while a decoy on `127.0.0.7:443` sees no
//!   connection and the upstream resolver is asked nothing; a real clientLogin still works.
//! - A login reply (TLV 5) pointing at a loopback address that is not the upstream's own
//!   ends the BOS session before anything connects there; a startOSCARSession answer
//!   pointing there gets 502 and no cookie route. Both are followed once
//!   `upstream.redirect_allow` names the address.
//! - A redirect by name is checked on the addresses the name resolves to: a BOS named
//!   `bos.inside.example`, which the upstream resolver answers with 127.0.0.7, is refused the
//!   same way.
//! - `status` shows the bounded cookie table (`relay.max_cookie_routes`) and what it dropped.
//!
//! Decoys listen on 127.0.0.7, which tests run as root (CI too) may bind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use imtegrity_harness::gateway_ca::{ca_init, connector};
use imtegrity_harness::{Binary, FixedResolver, Gateway, cli};
use lab::{ClientLogin, ClientTls, LabClient, LabConfig, LabServer, LabTlsConfig};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// The address the attacker (or a hostile upstream) points the gateway at.
const INSIDE: [u8; 4] = [127, 0, 0, 7];
/// Bound on each exchange.
const WAIT: Duration = Duration::from_secs(10);

/// A listener that counts the connections it accepts and, with a `forward` address, relays
/// each one there (so an allowed redirect still reaches the lab behind it).
struct Decoy {
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Decoy {
    async fn start(addr: SocketAddr, forward: Option<SocketAddr>) -> Self {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("decoy cannot listen on {addr} (tests run as root): {e}"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let Some(target) = forward else { continue };
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let relay = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                        let _ = tokio::time::timeout(Duration::from_secs(60), relay).await;
                    }
                });
            }
        });
        Self { accepted, task }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A gateway in front of `lab` with a CA of its own, trusting the lab CA upstream.
struct Front {
    dir: tempfile::TempDir,
    gw: Gateway,
}

impl Front {
    async fn start(lab: &LabServer, node: &str, extra: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lab_ca = dir.path().join("lab-ca.pem");
        std::fs::write(&lab_ca, lab.ca_pem().unwrap()).unwrap();
        let ca_dir = dir.path().join("ca");
        ca_init(IMTEGRITY, &ca_dir).await;
        let mut sets = vec![
            format!("tls.ca_dir={}", ca_dir.display()),
            format!(r#"upstream.tls_roots=["{}"]"#, lab_ca.display()),
        ];
        sets.extend(extra.iter().cloned());
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let gw = Gateway::start(
            IMTEGRITY,
            &lab.auth_addr.to_string(),
            &dir.path().join("archive"),
            node,
            &sets,
        )
        .await;
        Self { dir, gw }
    }

    fn gateway_ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca").join("ca.pem")
    }

    fn client_tls(&self) -> ClientTls {
        ClientTls::trusting_pem(&std::fs::read_to_string(self.gateway_ca()).unwrap()).unwrap()
    }

    /// Sends `request` over TLS with SNI `sni` to the relay; returns the status code.
    async fn status_of(&self, sni: &str, request: &str) -> u16 {
        let tcp = TcpStream::connect(self.gw.relay).await.unwrap();
        let name = ServerName::try_from(sni.to_owned()).unwrap();
        let mut tls = connector(&self.gateway_ca())
            .connect(name, tcp)
            .await
            .unwrap();
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"))
    }

    /// The gateway's `status --json` relay section.
    async fn relay_status(&self) -> Value {
        let archive = self.gw.archive.to_str().unwrap();
        let (code, stdout, stderr) = cli(IMTEGRITY, &["status", "--archive", archive]).await;
        assert_eq!(code, Some(0), "status: {stderr}");
        let status: Value = serde_json::from_str(stdout.trim()).unwrap();
        status["owner"]["relay"].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_api_forwards_only_to_intercepted_api_hosts() {
    // The lab API where a real one is: port 443 of what the API names resolve to, so the
    // gateway (without upstream.api) goes by the request's host, as in production.
    let lab = LabServer::start(LabConfig {
        tls: Some(LabTlsConfig {
            api: SocketAddr::from(([127, 0, 0, 1], 443)),
            ..LabTlsConfig::ephemeral()
        }),
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let resolver = FixedResolver::start(&["api.screenname.aol.com", "api.oscar.aol.com"]).await;
    let decoy = Decoy::start(SocketAddr::from((INSIDE, 443)), None).await;
    let front = Front::start(
        &lab,
        "gw-no-open-proxy",
        &[format!(r#"upstream.resolver=["{}"]"#, resolver.addr)],
    )
    .await;

    let post = |host_line: &str, target: &str| {
        format!(
            "POST {target} HTTP/1.1\r\n{host_line}Connection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\n\r\ns=bob"
        )
    };
    let attacks = [
        post("Host: 127.0.0.7\r\n", "/auth/clientLogin"),
        post("Host: 127.0.0.7:443\r\n", "/auth/clientLogin"),
        post("", "https://127.0.0.7/auth/clientLogin"),
        post(
            "Host: api.screenname.aol.com\r\n",
            "https://127.0.0.7/auth/clientLogin",
        ),
        post("Host: www.example.org\r\n", "/auth/clientLogin"),
        post("Host: [::1]\r\n", "/auth/clientLogin"),
    ];
    for attack in &attacks {
        assert_eq!(
            front.status_of("api.screenname.aol.com", attack).await,
            421,
            "{attack}"
        );
    }
    assert_eq!(decoy.accepted(), 0, "the gateway connected to the decoy");
    assert!(
        !resolver
            .asked()
            .iter()
            .any(|n| n == "www.example.org" || n.starts_with("127.")),
        "the gateway looked up a foreign host: {:?}",
        resolver.asked()
    );

    // The real thing still works: clientLogin, startOSCARSession, BOS, an IM to the bot.
    let api = ClientLogin::new(front.gw.relay, front.client_tls());
    let mut alice = LabClient::client_login(&api, "alice", "a").await.unwrap();
    alice.send_im("labbot", "still here").await.unwrap();
    assert_eq!(alice.expect_im("labbot", WAIT).await.unwrap(), "still here");
    alice.logout().await.unwrap();
    let status = front.relay_status().await;
    assert_eq!(
        status["api_requests"],
        attacks.len() + 2,
        "every request counted: {status}"
    );
    assert_eq!(decoy.accepted(), 0);
    front.gw.stop().await;
}

/// A lab whose every redirect (login reply TLV 5, startOSCARSession) names 127.0.0.7, with
/// decoys there that forward to the lab's real BOS listeners on 127.0.0.1.
struct InsideRedirects {
    lab: LabServer,
    plain_bos: Decoy,
    tls_bos: Decoy,
}

impl InsideRedirects {
    /// The lab's redirects name `host` (an address or a name for 127.0.0.7).
    async fn start(host: &str) -> Self {
        let lab = LabServer::start(LabConfig {
            advertise_host: Some(host.into()),
            ..LabConfig::ephemeral_tls()
        })
        .await
        .unwrap();
        let tls = lab.tls.unwrap();
        let at_inside = |port: u16| SocketAddr::from((INSIDE, port));
        let plain_bos = Decoy::start(at_inside(lab.bos_addr.port()), Some(lab.bos_addr)).await;
        let tls_bos = Decoy::start(at_inside(tls.bos.port()), Some(tls.bos)).await;
        Self {
            lab,
            plain_bos,
            tls_bos,
        }
    }

    async fn front(&self, node: &str, extra: &[&str]) -> Front {
        let api = self.lab.tls.unwrap().api;
        let mut sets = vec![format!("upstream.api={api}")];
        sets.extend(extra.iter().map(|s| (*s).to_owned()));
        Front::start(&self.lab, node, &sets).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_an_inside_address_ends_the_session_until_allowed() {
    let inside = InsideRedirects::start("127.0.0.7").await;

    let front = inside.front("gw-redirect-refused", &[]).await;
    let plain = LabClient::login(front.gw.relay, "alice", "a").await;
    let Err(err) = plain.map(|_| ()) else {
        panic!("signed on through a redirect to 127.0.0.7")
    };
    // The gateway's sign-off for an upstream it would not reach (oscar.md: 0x0014).
    assert!(
        matches!(err, lab::LabError::LoginRefused { code: 0x0014 }),
        "{err}"
    );
    let api = ClientLogin::new(front.gw.relay, front.client_tls());
    let via_api = LabClient::client_login(&api, "bob", "b").await;
    let Err(err) = via_api.map(|_| ()) else {
        panic!("startOSCARSession led to 127.0.0.7")
    };
    let err = err.to_string();
    let tls_port = inside.lab.tls.unwrap().bos.port();
    assert_eq!(
        err,
        format!(
            "unreadable API response: HTTP 502 Bad Gateway: imtegrity: upstream redirect to \
             127.0.0.7:{tls_port} (127.0.0.7) refused: not a public address nor a configured \
             upstream's; add its network to upstream.redirect_allow to allow it\n"
        ),
        "refused at the answer: no cookie route to 127.0.0.7"
    );
    assert_eq!(
        inside.plain_bos.accepted(),
        0,
        "connected to the login reply's BOS"
    );
    assert_eq!(
        inside.tls_bos.accepted(),
        0,
        "connected to startOSCARSession's BOS"
    );
    let status = front.relay_status().await;
    // The BOS session after the login reply failed (its cookie was taken when presented,
    // as every cookie is); the refused startOSCARSession left no route and was not counted
    // as rewritten.
    assert_eq!(
        (
            &status["sessions_failed"],
            &status["cookies"],
            &status["rewrites"]
        ),
        (&Value::from(1), &Value::from(0), &Value::from(1)),
        "{status}"
    );
    front.gw.stop().await;

    // Named in the allow list, the same redirects are followed: one BOS connection each.
    let front = inside
        .front(
            "gw-redirect-allowed",
            &[r#"upstream.redirect_allow=["127.0.0.7/32"]"#],
        )
        .await;
    let mut alice = LabClient::login(front.gw.relay, "alice", "a")
        .await
        .unwrap();
    alice.send_im("labbot", "via 127.0.0.7").await.unwrap();
    assert_eq!(
        alice.expect_im("labbot", WAIT).await.unwrap(),
        "via 127.0.0.7"
    );
    let api = ClientLogin::new(front.gw.relay, front.client_tls());
    let bob = LabClient::client_login(&api, "bob", "b").await.unwrap();
    assert_eq!(inside.plain_bos.accepted(), 1);
    assert_eq!(inside.tls_bos.accepted(), 1);
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();
    front.gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_by_name_is_checked_on_the_addresses_it_resolves_to() {
    let inside = InsideRedirects::start("bos.inside.example").await;
    let resolver = FixedResolver::answering(&["bos.inside.example"], INSIDE.into()).await;
    let resolver_set = format!(r#"upstream.resolver=["{}"]"#, resolver.addr);

    let front = inside.front("gw-name-refused", &[&resolver_set]).await;
    let plain = LabClient::login(front.gw.relay, "alice", "a").await;
    let Err(err) = plain.map(|_| ()) else {
        panic!("signed on through a name for 127.0.0.7")
    };
    assert!(
        matches!(err, lab::LabError::LoginRefused { code: 0x0014 }),
        "{err}"
    );
    assert!(
        resolver.asked().iter().any(|n| n == "bos.inside.example"),
        "the name was resolved: {:?}",
        resolver.asked()
    );
    assert_eq!(inside.plain_bos.accepted(), 0);
    front.gw.stop().await;

    let front = inside
        .front(
            "gw-name-allowed",
            &[&resolver_set, r#"upstream.redirect_allow=["127.0.0.0/29"]"#],
        )
        .await;
    let mut alice = LabClient::login(front.gw.relay, "alice", "a")
        .await
        .unwrap();
    alice.send_im("labbot", "by name").await.unwrap();
    assert_eq!(alice.expect_im("labbot", WAIT).await.unwrap(), "by name");
    assert_eq!(inside.plain_bos.accepted(), 1);
    alice.logout().await.unwrap();
    front.gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_the_bounded_cookie_table() {
    let lab = LabServer::start(LabConfig::ephemeral_tls()).await.unwrap();
    let front = Front::start(
        &lab,
        "gw-cookies",
        &[
            "relay.max_cookie_routes=1".to_owned(),
            format!("upstream.api={}", lab.tls.unwrap().api),
        ],
    )
    .await;
    // Two logins whose cookies are not presented yet (a presented cookie leaves the table),
    // two live cookie routes, room for one: the first is dropped and counted.
    let api = ClientLogin::new(front.gw.relay, front.client_tls());
    for (name, password) in [("alice", "a"), ("bob", "b")] {
        let login = api.login_request(name, password).await.unwrap();
        let field = |path: &str| login.field(path).unwrap();
        let target = api.start_session_target(
            field("data.token.a"),
            field("data.hostTime"),
            password,
            field("data.sessionSecret"),
        );
        let session = api.start_session_request(&target).await.unwrap();
        assert!(session.field("data.cookie").is_some(), "{}", session.body);
    }
    let status = front.relay_status().await;
    assert_eq!(status["cookies"], 1, "{status}");
    assert_eq!(status["cookies_evicted_live"], 1, "{status}");
    front.gw.stop().await;
}
