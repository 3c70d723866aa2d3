//! TLS interception with the real client: libpurple's AIM plugin (Debian bullseye's 2.14.1,
//! inside bitlbee, driven over IRC) with `encryption = require_encryption`, no server
//! configured, finds the gateway through its DNS responder, trusts the gateway CA (installed on
//! the client machine the way an administrator would: in `/etc/ssl/certs`), and signs on over
//! TLS through `imtegrity run` to a lab server that speaks TLS the way AOL did. Two logins:
//!
//! - `md5_login`: BUCP inside TLS to `slogin.oscar.aol.com:5190`, then TLS BOS, which libpurple
//!   validates as the hard-coded `bos.oscar.aol.com` (oscar.md §2.3);
//! - `client_login`: `POST https://api.screenname.aol.com/auth/clientLogin` and
//!   `GET https://api.oscar.aol.com/aim/startOSCARSession` on port 443, then TLS BOS at the
//!   host and port of the answer (rewritten by the gateway to the address the client used,
//!   here port 443), validated against `tlsCertName` (oscar.md §2.5).
//!
//! In both, the echo bot answers, a scripted user exchanges IMs with the libpurple user, the
//! archive holds every IM with the right local user, and a capture shows the client's leg was
//! TLS only: ClientHellos with the expected names, and no IM text in clear on it. A third test
//! is the control: a client that does not trust the gateway CA is asked about the leaf and,
//! answering no, never signs on.
//!
//! libpurple verifies with its own code (`tls_cached` verifier, `ca` pool) over Debian's NSS
//! plugin (`ssl-nss`, NSS 3.87): TLS 1.3, the gateway's default ECDSA P-256 CA and leaves
//! accepted, no hash links needed in `/etc/ssl/certs` (it loads every file there). An
//! RSA-2048 gateway CA (`ca init --key rsa-2048`) works the same: the SSL login runs under
//! both.
//!
//! The network is the pair of namespaces of `real_client_dns.rs`:
//!
//! ```text
//!  client side 10.53.90.2                         gateway side 10.53.90.1 (this test's thread)
//!  bitlbee + libpurple  ---- DNS :53 ---------->  imtegrity run: DNS responder
//!  /etc/ssl/certs: the gateway CA only            relay :5190, :443 (TLS) --TLS--> lab (lo)
//!                       ---- TLS :5190 / :443 ->  scripted user, IRC driver, dumpcap -i any
//! ```
//!
//! Needs root, iproute2 and `tests/peers/install.sh`; skipped with a message otherwise, and a
//! failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use imtegrity_harness::aim_login::{Encryption, LoginType};
use imtegrity_harness::netns::{CLIENT_SIDE_IP, GATEWAY_SIDE_IP};
use imtegrity_harness::{
    AimClient, AimLogin, Binary, Bitlbee, Capture, FieldRow, FixedResolver, Gateway, Imtegrity,
    NetnsPair, Peers, assert_standard_ims, cli, field_rows, require_netns, require_peers, search,
    status, verify_intact,
};
use lab::{Accounts, LabConfig, LabServer, TlsListeners};
use serde_json::json;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// Bound on each wait for an IM.
const WAIT: Duration = Duration::from_secs(10);
/// Bound on the real client's login (DNS, TLS handshakes, the HTTPS API, BOS sign-on).
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The gateway's node name in records.
const NODE: &str = "tls-test";
/// The name libpurple's SSL login connects to, and the gateway's relay resolves upstream.
const SSL_LOGIN: &str = "slogin.oscar.aol.com";
/// libpurple's default OSCAR port, and so one relay port.
const OSCAR_PORT: u16 = 5190;
/// The HTTPS login API's port, and so the other relay port.
const HTTPS_PORT: u16 = 443;

/// What one run exercises.
#[derive(Debug, Clone, Copy)]
struct Case {
    /// The namespace tag (one pair per case, so cases may run in parallel).
    tag: &'static str,
    /// The account's `encryption`.
    encryption: Encryption,
    /// The account's `login_type`.
    login_type: LoginType,
    /// `imtegrity ca init --key`.
    ca_key: &'static str,
}

impl Case {
    /// The names the client must have looked up through the responder.
    fn looked_up(&self) -> &'static [&'static str] {
        match self.login_type {
            LoginType::Md5 => &[SSL_LOGIN],
            LoginType::ClientLogin => &["api.screenname.aol.com", "api.oscar.aol.com"],
        }
    }

    /// The SNI names of the client's TLS connections, in the order it makes them (login,
    /// then BOS; chat navigation, if any, on BOS's name too).
    fn tls_names(&self) -> &'static [&'static str] {
        match self.login_type {
            LoginType::Md5 => &[SSL_LOGIN, "bos.oscar.aol.com"],
            LoginType::ClientLogin => &[
                "api.screenname.aol.com",
                "api.oscar.aol.com",
                "bos.oscar.aol.com",
            ],
        }
    }

    /// How many HTTPS API requests the gateway forwards.
    fn api_requests(&self) -> u64 {
        match self.login_type {
            LoginType::Md5 => 0,
            LoginType::ClientLogin => 2,
        }
    }

    /// The relay port the client connects to: libpurple's default port for an SSL login,
    /// HTTPS for the API, and then BOS where the rewritten answer says (the same port).
    fn client_port(&self) -> u16 {
        match self.login_type {
            LoginType::Md5 => OSCAR_PORT,
            LoginType::ClientLogin => HTTPS_PORT,
        }
    }
}

/// The lab (TLS), the resolvers behind the gateway and the gateway CA; the gateway itself is
/// [`Setup::start_gateway`].
struct Setup {
    lab: LabServer,
    tls: TlsListeners,
    /// Behind the DNS responder (`dns.upstream`): NXDOMAIN for everything, so the lookups
    /// bitlbee makes of its IRC peer end at once.
    forwarder: FixedResolver,
    /// The relay's own resolver (`upstream.resolver`): `slogin.oscar.aol.com` is the lab.
    upstream_resolver: FixedResolver,
    dir: tempfile::TempDir,
    gateway_ca: PathBuf,
    archive: PathBuf,
}

impl Setup {
    /// The lab with accounts `tester1`/`secret` and `alice`/`pw`, and a gateway CA made with
    /// `case.ca_key`; everything on the calling thread's (the gateway side's) loopback.
    async fn start(case: Case) -> Self {
        let lab = LabServer::start(LabConfig {
            accounts: Accounts::from_pairs([("tester1", "secret"), ("alice", "pw")]),
            ..LabConfig::ephemeral_tls()
        })
        .await
        .unwrap();
        let tls = lab.tls.expect("the lab's TLS listeners");
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        let set = format!("tls.ca_dir={}", ca_dir.display());
        let (code, _, stderr) = cli(
            IMTEGRITY,
            &["ca", "init", "--key", case.ca_key, "--set", &set],
        )
        .await;
        assert_eq!(code, Some(0), "ca init: {stderr}");
        Self {
            forwarder: FixedResolver::start(&[]).await,
            upstream_resolver: FixedResolver::start(&[SSL_LOGIN]).await,
            archive: dir.path().join("archive"),
            gateway_ca: ca_dir.join("ca.pem"),
            lab,
            tls,
            dir,
        }
    }

    /// Every port the capture must see: the relay's and the lab's (plain and TLS).
    fn tcp_ports(&self) -> Vec<u16> {
        let mut ports = vec![
            OSCAR_PORT,
            HTTPS_PORT,
            self.lab.auth_addr.port(),
            self.lab.bos_addr.port(),
            self.lab.chat_addr.port(),
            self.tls.auth.port(),
            self.tls.bos.port(),
            self.tls.chat.port(),
            self.tls.api.port(),
        ];
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// `imtegrity run` on the gateway side: the relay on 10.53.90.1:5190 and :443 (plain
    /// OSCAR, TLS OSCAR and the HTTPS API on each), the DNS responder on 10.53.90.1:53, TLS
    /// terminated with the gateway CA and re-originated to the lab, verified with the lab CA.
    async fn start_gateway(&self) -> Gateway {
        let relay = SocketAddr::from((GATEWAY_SIDE_IP, OSCAR_PORT));
        let https = SocketAddr::from((GATEWAY_SIDE_IP, HTTPS_PORT));
        let dns = SocketAddr::from((GATEWAY_SIDE_IP, 53));
        let lab_ca = self.dir.path().join("lab-ca.pem");
        std::fs::write(&lab_ca, self.lab.ca_pem().unwrap()).unwrap();
        let ca_dir = self.gateway_ca.parent().unwrap();
        let sets = [
            format!(r#"relay.listen=["{relay}","{https}"]"#),
            format!(r#"dns.listen=["{dns}"]"#),
            format!(r#"dns.upstream=["{}"]"#, self.forwarder.addr),
            format!("upstream.login={}", self.lab.auth_addr),
            format!("upstream.login_tls={SSL_LOGIN}:{}", self.tls.auth.port()),
            format!(r#"upstream.resolver=["{}"]"#, self.upstream_resolver.addr),
            format!(r#"upstream.tls_roots=["{}"]"#, lab_ca.display()),
            format!("upstream.api={}", self.tls.api),
            format!("tls.ca_dir={}", ca_dir.display()),
            format!("archive.path={}", self.archive.display()),
            format!("archive.node={NODE}"),
        ];
        let mut args = vec!["run"];
        for set in &sets {
            args.extend(["--set", set]);
        }
        // Spawned from this thread, so it runs on the gateway side too.
        let mut process = Imtegrity::spawn(IMTEGRITY, &args);
        let running = process.next_json().await;
        assert_eq!(running["event"], "running", "{running}");
        assert_eq!(
            running["relay"],
            json!([relay.to_string(), https.to_string()]),
            "{running}"
        );
        assert_eq!(running["dns"], json!([dns.to_string()]), "{running}");
        Gateway {
            process,
            relay,
            archive: self.archive.clone(),
            running,
        }
    }
}

/// What libpurple's debug log says, without the lines about plugins, files and preferences.
fn purple_log(bitlbee: &Bitlbee) -> String {
    let quiet = [
        "DEBUG util: Reading",
        "DEBUG util: File",
        "DEBUG prefs:",
        "DEBUG oscar: Registered",
    ];
    bitlbee
        .log()
        .lines()
        .filter(|l| l.starts_with("DEBUG ") || l.contains("CRITICAL"))
        .filter(|l| !quiet.iter().any(|q| l.starts_with(q)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The values of `field` in `rows`, one string per row (several occurrences joined by `,`).
fn column(rows: &[FieldRow], field: &str) -> Vec<String> {
    rows.iter().map(|r| r[field].join(",")).collect()
}

/// The whole flow for `case`; see the module documentation.
async fn libpurple_over_tls(name: &str, case: Case) {
    let Some(peers) = require_peers(name) else {
        return;
    };
    if !require_netns(name) {
        return;
    }
    let started = Instant::now();
    let net = NetnsPair::create(case.tag).unwrap();
    let _inside = net.enter_gateway_side().unwrap();

    let setup = Setup::start(case).await;
    // The client machine trusts the gateway CA, and only it.
    let ca_pem = std::fs::read_to_string(&setup.gateway_ca).unwrap();
    net.trust_ca_on_client_side(&ca_pem).unwrap();

    let tcp_ports = setup.tcp_ports();
    let pcap_path = setup.dir.path().join("tls.pcapng");
    let capture =
        Capture::start_all_interfaces(&peers, &[&tcp_ports[..], &[53]].concat(), &[53], &pcap_path)
            .await
            .unwrap();
    let gateway = setup.start_gateway().await;

    // A fresh bitlbee, so libpurple's certificate cache (`certificates/x509/tls_peers` in its
    // user dir) is empty: every leaf it sees is new and must verify against the CA. With its
    // debug log, which says why a TLS login failed.
    let bitlbee = Bitlbee::start_in_with_debug(&peers, &net).await.unwrap();
    assert_eq!(bitlbee.addr().ip(), CLIENT_SIDE_IP);
    let login = AimLogin {
        encryption: case.encryption,
        login_type: case.login_type,
        timeout: LOGIN_TIMEOUT,
        ..AimLogin::default_server("tester1", "secret")
    };
    let mut aim = AimClient::connect_with(&bitlbee, &login)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "libpurple ({case:?}) could not sign on: {e}\n--- libpurple's log ---\n{}",
                purple_log(&bitlbee)
            )
        });
    assert!(setup.lab.is_online("tester1"), "the lab has no BOS session");

    // The echo bot is outside the gateway.
    let to_bot = "hello labbot, over TLS through the gateway";
    aim.send_im("labbot", to_bot).await.unwrap();
    let echo = aim.wait_im("labbot", to_bot, WAIT).await;
    let echo = echo.unwrap_or_else(|e| panic!("no echo: {e}\n{}", purple_log(&bitlbee)));
    assert_eq!(echo.text, to_bot);

    // A scripted user on the gateway side, plain OSCAR on the same relay port.
    let mut alice = lab::LabClient::login(gateway.relay, "alice", "pw")
        .await
        .unwrap();
    let to_tester = "hi tester1, alice here, in clear to the gateway";
    alice.send_im("tester1", to_tester).await.unwrap();
    let got = aim.wait_im("alice", to_tester, WAIT).await;
    assert_eq!(got.unwrap_or_else(|e| panic!("{e}")).text, to_tester);
    let to_alice = "hello alice, libpurple answering over TLS";
    aim.send_im("alice", to_alice).await.unwrap();
    assert_eq!(alice.expect_im("tester1", WAIT).await.unwrap(), to_alice);

    // libpurple cached each leaf it verified (a leaf it could not verify would have been
    // put to the user as a question instead; see the untrusted test below).
    let peers_dir = bitlbee
        .dir()
        .join("conf/purple")
        .join(&login.irc_nick)
        .join("certificates/x509/tls_peers");
    for name in case.tls_names() {
        assert!(
            peers_dir.join(name).is_file(),
            "libpurple cached no certificate for {name} in {}",
            peers_dir.display()
        );
    }
    let status = status(IMTEGRITY, &gateway.archive).await;
    let relay = &status["owner"]["relay"];
    assert_eq!(relay["sessions_failed"], 0, "{status}");
    assert_eq!(relay["api_requests"], case.api_requests(), "{status}");

    aim.sign_off().await.unwrap();
    alice.logout().await.unwrap();
    let stopped = gateway.stop().await;
    // Four IMs, and tester1's and alice's session_start and session_end.
    assert_eq!(stopped["records"], 8, "{stopped}");

    // The archive: every IM once, attributed to the user whose session carried it.
    let records = search(IMTEGRITY, &setup.archive, &["--kind", "im"]).await;
    assert_standard_ims(
        &records,
        NODE,
        (CLIENT_SIDE_IP, GATEWAY_SIDE_IP),
        (to_bot, to_tester, to_alice),
    );
    let report = verify_intact(IMTEGRITY, &setup.archive).await;
    assert_eq!(report["records"], 8, "{report}");

    let pcap = capture.stop().await.unwrap();
    check_capture(
        &peers,
        &pcap,
        case,
        &[to_bot, to_tester, to_alice],
        to_tester,
    )
    .await;

    let took = started.elapsed();
    eprintln!("{name}: {took:?}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

/// On the wire: the client found the gateway by DNS, connected only to the gateway's TLS
/// port, spoke TLS with the expected server names on every connection, and none of `texts`
/// crossed its link in clear. `scripted_text` is one the scripted user sent in clear.
async fn check_capture(
    peers: &Peers,
    pcap: &Path,
    case: Case,
    texts: &[&str],
    scripted_text: &str,
) {
    let (client, gw) = (CLIENT_SIDE_IP.to_string(), GATEWAY_SIDE_IP.to_string());
    // No port is decoded as AIM here: TLS on 5190 is found by tshark's TLS heuristics.
    let no_aim: &[u16] = &[];
    let dns = field_rows(
        peers,
        pcap,
        no_aim,
        &format!("dns && ip.src == {gw} && ip.dst == {client} && dns.a"),
        &["dns.qry.name", "dns.a"],
    )
    .await
    .unwrap();
    for name in case.looked_up() {
        let answers: Vec<_> = dns
            .iter()
            .filter(|r| r["dns.qry.name"].join(",") == *name)
            .collect();
        assert!(!answers.is_empty(), "no answer for {name}: {dns:#?}");
        for answer in answers {
            assert_eq!(answer["dns.a"], [gw.as_str()], "{answer:?}");
        }
    }

    let syns = field_rows(
        peers,
        pcap,
        no_aim,
        &format!("tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == {client}"),
        &["ip.dst", "tcp.dstport", "tcp.stream"],
    )
    .await
    .unwrap();
    let targets: BTreeSet<String> = syns
        .iter()
        .map(|r| format!("{}:{}", r["ip.dst"].join(","), r["tcp.dstport"].join(",")))
        .collect();
    assert_eq!(
        targets,
        BTreeSet::from([format!("{gw}:{}", case.client_port())]),
        "{syns:#?}"
    );

    let hellos = field_rows(
        peers,
        pcap,
        no_aim,
        &format!("tls.handshake.type == 1 && ip.src == {client}"),
        &["tcp.stream", "tls.handshake.extensions_server_name"],
    )
    .await
    .unwrap();
    let names = column(&hellos, "tls.handshake.extensions_server_name");
    eprintln!("client TLS connections: {names:?}");
    // Every connection the client opened began with a ClientHello, named as libpurple
    // validates it.
    let streams: BTreeSet<String> = column(&syns, "tcp.stream").into_iter().collect();
    let tls_streams: BTreeSet<String> = column(&hellos, "tcp.stream").into_iter().collect();
    assert_eq!(streams, tls_streams, "{syns:#?}\n{hellos:#?}");
    let mut expected: Vec<&str> = case.tls_names().to_vec();
    expected.dedup();
    let mut seen: Vec<&str> = names.iter().map(String::as_str).collect();
    seen.dedup();
    assert_eq!(seen, expected, "{hellos:#?}");

    // Nothing said crossed the client's link in clear; yet the same search finds what the
    // scripted user said on its own plain leg (relay port, from the gateway side), so it
    // would have found it.
    let in_clear = async |filter: String| {
        field_rows(peers, pcap, no_aim, &filter, &["frame.number"])
            .await
            .unwrap()
    };
    for text in texts {
        let clear = in_clear(format!(r#"ip.addr == {client} && frame contains "{text}""#)).await;
        assert!(clear.is_empty(), "{text:?} in clear: {clear:?}");
    }
    let plain_leg = in_clear(format!(
        r#"ip.src == {gw} && tcp.dstport == {OSCAR_PORT} && frame contains "{scripted_text}""#
    ))
    .await;
    assert!(
        !plain_leg.is_empty(),
        "{scripted_text:?} not found on the plain leg"
    );
}

/// An SSL login, as libpurple does it by default with encryption required.
const MD5_OVER_TLS: Case = Case {
    tag: "tls-md5",
    encryption: Encryption::Require,
    login_type: LoginType::Md5,
    ca_key: "ecdsa-p256",
};

// Current-thread runtime: every socket of the test is made on the thread that enters the
// gateway side.
#[tokio::test]
async fn libpurple_md5_login_over_tls_is_intercepted_and_archived() {
    libpurple_over_tls(
        "libpurple_md5_login_over_tls_is_intercepted_and_archived",
        MD5_OVER_TLS,
    )
    .await;
}

/// The same SSL login under an RSA-2048 gateway CA (`ca init --key rsa-2048`), as docs/tls.md
/// claims works: the CA signs with RSA, its leaves are still P-256.
#[tokio::test]
async fn libpurple_md5_login_over_tls_under_an_rsa_2048_ca_is_intercepted_and_archived() {
    libpurple_over_tls(
        "libpurple_md5_login_over_tls_under_an_rsa_2048_ca_is_intercepted_and_archived",
        Case {
            tag: "tls-rsa",
            ca_key: "rsa-2048",
            ..MD5_OVER_TLS
        },
    )
    .await;
}

/// The control: a client machine that trusts another CA (not the gateway's) gets the leaf
/// for `slogin.oscar.aol.com` put to its user as a question, and with "no" never signs on.
/// So the passes above are libpurple verifying the gateway's leaves against the installed CA,
/// not accepting whatever it is shown.
#[tokio::test]
async fn libpurple_not_trusting_the_gateway_ca_asks_and_never_signs_on() {
    const NAME: &str = "libpurple_not_trusting_the_gateway_ca_asks_and_never_signs_on";
    let Some(peers) = require_peers(NAME) else {
        return;
    };
    if !require_netns(NAME) {
        return;
    }
    let net = NetnsPair::create("tls-untrusted").unwrap();
    let _inside = net.enter_gateway_side().unwrap();
    let setup = Setup::start(MD5_OVER_TLS).await;
    let other_ca = setup.dir.path().join("other-ca");
    let set = format!("tls.ca_dir={}", other_ca.display());
    let (code, _, stderr) = cli(IMTEGRITY, &["ca", "init", "--set", &set]).await;
    assert_eq!(code, Some(0), "ca init: {stderr}");
    let other_pem = std::fs::read_to_string(other_ca.join("ca.pem")).unwrap();
    net.trust_ca_on_client_side(&other_pem).unwrap();
    let gateway = setup.start_gateway().await;

    let bitlbee = Bitlbee::start_in_with_debug(&peers, &net).await.unwrap();
    let login = AimLogin {
        encryption: MD5_OVER_TLS.encryption,
        login_type: MD5_OVER_TLS.login_type,
        timeout: LOGIN_TIMEOUT,
        ..AimLogin::default_server("tester1", "secret")
    };
    let mut aim = AimClient::start(&bitlbee, &login).await.unwrap();
    let question = format!("Accept certificate for {SSL_LOGIN}?");
    let logged_in = format!("{} - Logging in: Logged in", aim.tag());
    let asked = aim
        .irc()
        .wait_for(&format!("`{question}`"), LOGIN_TIMEOUT, |l| {
            l.root_text()
                .is_some_and(|t| t == question || t == logged_in)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", purple_log(&bitlbee)));
    assert_eq!(
        asked.root_text(),
        Some(question.as_str()),
        "{}",
        purple_log(&bitlbee)
    );
    let why = "The certificate is not trusted because no certificate that can verify it is \
               currently trusted.";
    aim.irc()
        .wait_for(&format!("`{why}`"), WAIT, |l| l.root_text() == Some(why))
        .await
        .unwrap();
    let mark = aim.irc().mark();
    aim.irc().command("no").await.unwrap();
    let error = format!("{} - Login error: ", aim.tag());
    let refused = aim
        .irc()
        .wait_for_since(mark, "a login error", WAIT, |l| {
            l.root_text()
                .is_some_and(|t| t.starts_with(&error) || t == logged_in)
        })
        .await
        .unwrap();
    // libpurple's words for a refused certificate, on the SSL authorizer's connection.
    assert_eq!(
        refused.root_text().unwrap_or_default(),
        format!(
            "{error}Unable to connect to authentication server: SSL peer presented an invalid \
             certificate"
        ),
        "{}",
        purple_log(&bitlbee)
    );
    assert!(!setup.lab.is_online("tester1"), "signed on regardless");
    drop(aim);
    let stopped = gateway.stop().await;
    assert_eq!(stopped["records"], 0, "{stopped}");
}

#[tokio::test]
async fn libpurple_client_login_over_https_and_tls_bos_is_intercepted_and_archived() {
    libpurple_over_tls(
        "libpurple_client_login_over_https_and_tls_bos_is_intercepted_and_archived",
        Case {
            tag: "tls-api",
            encryption: Encryption::Require,
            login_type: LoginType::ClientLogin,
            ca_key: "ecdsa-p256",
        },
    )
    .await;
}
