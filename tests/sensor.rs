//! The sensor on a real link: clients that go around the gateway are reported and their IMs
//! archived as passive; clients that go through it are not.
//!
//! Three network namespaces the test creates, joined by veth pairs; the root namespace is
//! not touched:
//!
//! ```text
//!  client 10.61.1.2 ---- c0 | r-cli 10.61.1.1   router (ip_forward)   r-inet 10.61.2.1 | i0 ---- internet 10.61.2.2
//!  lab clients (this test's thread)   imtegrity run: relay :5190,           lab OSCAR servers
//!                                     egress 10.61.2.1, sensor on r-inet    on :5190 and on :80
//! ```
//!
//! One lab client signs on through the gateway; two sign on directly to the internet side,
//! one on port 5190 and one on port 80. Each sends an IM to the echo bot and reads its echo.
//! The sensor, inside the gateway process, captures on the router's internet-facing veth,
//! with two capture threads.
//!
//! Needs root and iproute2; skipped with a message otherwise (a failure in CI). The
//! namespaces (and the processes in them) are removed on drop, when the test fails too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use imtegrity_harness::{Binary, search};
use lab::LabClient;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// Bound on each wait.
const WAIT: Duration = Duration::from_secs(20);

const CLIENT_IP: &str = "10.61.1.2";
const ROUTER_CLIENT_SIDE: &str = "10.61.1.1";
const ROUTER_INTERNET_SIDE: &str = "10.61.2.1";
const INTERNET_IP: &str = "10.61.2.2";

/// The three namespaces, deleted (with every process still in them) on drop.
struct Net {
    client: String,
    router: String,
    internet: String,
    created: Vec<String>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Net {
    fn create() -> Self {
        let base = format!("imt-sensor-{}", std::process::id());
        let mut net = Self {
            client: format!("{base}-client"),
            router: format!("{base}-router"),
            internet: format!("{base}-inet"),
            created: Vec::new(),
        };
        for ns in [net.client.clone(), net.router.clone(), net.internet.clone()] {
            if Path::new("/run/netns").join(&ns).exists() {
                ip(&["netns", "delete", &ns]); // left by a killed run with our pid
            }
            ip(&["netns", "add", &ns]);
            net.created.push(ns);
        }
        let (c, r, i) = (&net.client, &net.router, &net.internet);
        ip(&[
            "link", "add", "c0", "netns", c, "type", "veth", "peer", "name", "r-cli", "netns", r,
        ]);
        ip(&[
            "link", "add", "r-inet", "netns", r, "type", "veth", "peer", "name", "i0", "netns", i,
        ]);
        for (ns, dev, addr) in [
            (c, "c0", CLIENT_IP),
            (r, "r-cli", ROUTER_CLIENT_SIDE),
            (r, "r-inet", ROUTER_INTERNET_SIDE),
            (i, "i0", INTERNET_IP),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&[
            "-n",
            c,
            "route",
            "add",
            "default",
            "via",
            ROUTER_CLIENT_SIDE,
        ]);
        ip(&[
            "-n",
            i,
            "route",
            "add",
            "default",
            "via",
            ROUTER_INTERNET_SIDE,
        ]);
        ip(&[
            "netns",
            "exec",
            r,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ]);
        net
    }

    /// `imtegrity --json ARGS` inside namespace `ns`.
    fn spawn(&self, ns: &str, args: &[&str]) -> Child {
        let mut child = tokio::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                env!("CARGO_BIN_EXE_imtegrity"),
                "--json",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn imtegrity");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Child { child, lines }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.created.drain(..).rev() {
            // Processes still inside are killed first (their children are ours anyway).
            let _ = Command::new("ip")
                .args(["netns", "pids", &ns])
                .output()
                .map(|o| {
                    for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                        let _ = Command::new("kill").args(["-KILL", pid]).status();
                    }
                });
            let _ = Command::new("ip").args(["netns", "delete", &ns]).status();
        }
    }
}

struct Child {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Child {
    async fn next_json(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("imtegrity printed nothing in time")
            .expect("read stdout")
            .expect("imtegrity closed stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
    }

    /// SIGTERM, then the `stopped` line and a clean exit.
    async fn stop(mut self) -> Value {
        let pid = self.child.id().expect("still running");
        // `ip netns exec` execs the program: the pid is imtegrity's.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let stopped = self.next_json().await;
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("wait");
        assert!(status.success(), "{status}");
        stopped
    }
}

/// Runs `script` on a new thread moved into namespace `ns`, on a runtime of its own, so
/// every socket it opens lives there.
fn in_namespace<T: Send + 'static>(
    ns: &str,
    script: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = PathBuf::from("/run/netns").join(ns);
    std::thread::spawn(move || {
        let target = File::open(&path).expect("open the namespace");
        rustix::thread::move_into_link_name_space(
            target.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
        script()
    })
}

/// Logs in at `auth` as `name`, sends `text` to the echo bot and waits for the echo.
async fn chat_with_bot(auth: &str, name: &str, text: &str) {
    let mut client =
        tokio::time::timeout(WAIT, LabClient::login(auth.parse().unwrap(), name, "pw"))
            .await
            .unwrap_or_else(|_| panic!("{name}: login at {auth} timed out"))
            .unwrap_or_else(|e| panic!("{name}: login at {auth}: {e}"));
    client.send_im(lab::DEFAULT_BOT, text).await.unwrap();
    let echo = client.expect_im(lab::DEFAULT_BOT, WAIT).await.unwrap();
    assert!(echo.contains(text), "{name}: echo {echo:?}");
    client.logout().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_around_the_gateway_are_reported_and_their_ims_archived_as_passive() {
    if !imtegrity_harness::require_netns("sensor") {
        return;
    }
    let net = Net::create();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let ca_dir = dir.path().join("ca"); // empty: no TLS interception, plain OSCAR only
    let auth_5190 = format!("{INTERNET_IP}:5190");
    let auth_80 = format!("{INTERNET_IP}:80");
    let mut labs = Vec::new();
    for (auth, bos, chat) in [
        (
            auth_5190.clone(),
            format!("{INTERNET_IP}:5191"),
            format!("{INTERNET_IP}:5192"),
        ),
        (
            auth_80.clone(),
            format!("{INTERNET_IP}:8080"),
            format!("{INTERNET_IP}:8081"),
        ),
    ] {
        let mut lab = net.spawn(
            &net.internet,
            &["lab", "--listen", &auth, "--bos", &bos, "--chat", &chat],
        );
        assert_eq!(lab.next_json().await["event"], "listening");
        labs.push(lab);
    }
    let sets = [
        format!(r#"relay.listen=["{ROUTER_CLIENT_SIDE}:5190"]"#),
        format!("upstream.login={auth_5190}"),
        format!(r#"upstream.egress=["{ROUTER_INTERNET_SIDE}"]"#),
        "dns.listen=[]".to_owned(),
        format!("archive.path={}", archive.display()),
        "archive.node=sensor-test".to_owned(),
        format!("tls.ca_dir={}", ca_dir.display()),
        "sensor.interface=r-inet".to_owned(),
        // Two capture threads whatever the machine: a login and its BOS connection may be
        // read by different threads, and must still be named and reported once each.
        "sensor.capture_threads=2".to_owned(),
    ];
    let mut args = vec!["run"];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    let mut gateway = net.spawn(&net.router, &args);
    assert_eq!(gateway.next_json().await["event"], "running");

    let (gw, a5190, a80) = (
        format!("{ROUTER_CLIENT_SIDE}:5190"),
        auth_5190.clone(),
        auth_80.clone(),
    );
    in_namespace(&net.client, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            chat_with_bot(&gw, "viagateway", "hello through the gateway").await;
            chat_with_bot(&a5190, "direct5190", "hello straight to 5190").await;
            chat_with_bot(&a80, "direct80", "hello over port 80").await;
        });
    })
    .join()
    .expect("the clients' script");

    // The counters, from the running gateway, once the last records are in.
    let mut status = Value::Null;
    for _ in 0..40 {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_imtegrity"))
            .args(["--json", "status", "--archive", archive.to_str().unwrap()])
            .output()
            .await
            .unwrap();
        status = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if status["owner"]["sensor"]["stats"]["passive_records"].as_u64() >= Some(4) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let stats = &status["owner"]["sensor"]["stats"];
    assert_eq!(status["owner"]["sensor"]["interface"], "r-inet", "{status}");
    // Two direct logins, each an authorizer and a BOS connection.
    assert_eq!(stats["bypasses"], 4, "{status}");
    assert!(stats["gateway_flows"].as_u64() >= Some(2), "{status}");
    assert!(stats["flows_seen"].as_u64() >= Some(6), "{status}");
    assert_eq!(stats["kernel_drops"], 0, "{status}");
    gateway.stop().await;
    for lab in labs {
        drop(lab);
    }

    let alerts = search(IMTEGRITY, &archive, &["--kind", "bypass_alert"]).await;
    let mut seen: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            assert_eq!(a["verdict"], "passive", "{a}");
            assert!(
                a["client_addr"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{CLIENT_IP}:")),
                "{a}"
            );
            let detail = a["detail"].as_str().unwrap();
            let port = detail
                .split_whitespace()
                .find_map(|w| w.strip_prefix("port="))
                .unwrap()
                .to_owned();
            assert!(detail.contains(&format!("server={INTERNET_IP} ")), "{a}");
            (a["sender"].as_str().unwrap().to_owned(), port)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("direct5190".to_owned(), "5190".to_owned()),
            ("direct5190".to_owned(), "5191".to_owned()),
            ("direct80".to_owned(), "80".to_owned()),
            ("direct80".to_owned(), "8080".to_owned()),
        ],
        "{alerts:#?}"
    );

    let ims = search(IMTEGRITY, &archive, &["--kind", "im"]).await;
    let summary: Vec<(String, String, String, String)> = ims
        .iter()
        .map(|r| {
            let verdict = r["verdict"].as_str().unwrap_or("other").to_owned();
            (
                r["sender"].as_str().unwrap().to_owned(),
                r["local_user"].as_str().unwrap().to_owned(),
                r["text"].as_str().unwrap().to_owned(),
                verdict,
            )
        })
        .collect();
    for user in ["direct5190", "direct80"] {
        let passive: Vec<_> = summary
            .iter()
            .filter(|(_, local, _, v)| local == user && v == "passive")
            .collect();
        // The IM sent and the bot's echo, each once.
        assert_eq!(passive.len(), 2, "{user}: {summary:#?}");
        assert!(passive.iter().any(|(s, _, _, _)| s == user), "{summary:#?}");
        assert!(
            passive.iter().any(|(s, _, _, _)| s == lab::DEFAULT_BOT),
            "{summary:#?}"
        );
    }
    // Through the gateway: recorded by the relay (allowed), never passive, never a bypass.
    let via: Vec<_> = summary
        .iter()
        .filter(|(_, local, _, _)| local == "viagateway")
        .collect();
    assert_eq!(via.len(), 2, "{summary:#?}");
    assert!(
        via.iter().all(|(_, _, _, v)| v == "allowed"),
        "{summary:#?}"
    );
    drop(net);
}
