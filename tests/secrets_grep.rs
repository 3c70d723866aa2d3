//! Secrets are never printed: a distinct secret planted in each place the configuration
//! holds one (the upstream proxy's password, an ingest token file's content, an alert
//! webhook's path and query), then every command that prints configuration or logs is run
//! (`check-config` as text, `--print` and `--json`; `policy explain`; `run` at TRACE with a
//! login through the proxy, ingest requests with right and wrong tokens and a policy alert
//! posted to the webhook; `status`; the error paths of a bad `--set` and a bad file next
//! to a secret) and the whole of their stdout and stderr is searched for each secret.
//! Each run also shows the secret's place redacted, so the search cannot pass because the
//! path that would leak it never ran.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use imtegrity_harness::ingest::{batch, post};
use imtegrity_harness::{Binary, cli, free_loopback_port};
use lab::{Accounts, LabClient, LabConfig, LabServer};

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const PROXY_PASSWORD: &str = "PxPassw0rd7Qz";
const PROXY_USER: &str = "gwuser";
const INGEST_TOKEN: &str = "InT0kenSecretK9vWq2Lm5Rt8";
const WEBHOOK_PATH: &str = "WhPathSecret4Jd";
const WEBHOOK_QUERY: &str = "WhQuerySecret6Fb";
const WEAK_TOKEN: &str = "WeakTok3nZ";
const SECRETS: [&str; 5] = [
    PROXY_PASSWORD,
    INGEST_TOKEN,
    WEBHOOK_PATH,
    WEBHOOK_QUERY,
    WEAK_TOKEN,
];
const WAIT: Duration = Duration::from_secs(20);

/// Everything the commands printed, each block headed by its command.
#[derive(Default)]
struct Transcript(String);

impl Transcript {
    /// Adds `out` under the heading `what` (the command, with the secrets it was given
    /// replaced: only what the command printed is searched).
    fn add(&mut self, what: &str, out: &str) {
        let what = SECRETS
            .iter()
            .fold(what.to_owned(), |w, secret| w.replace(secret, "<planted>"));
        self.0.push_str(&format!("==> {what}\n{out}\n"));
    }

    /// The output of the last command added, for checks that it did what it should.
    fn last(&self) -> &str {
        self.0.rsplit("==> ").next().unwrap_or("")
    }

    fn assert_no_secret(&self) {
        for secret in SECRETS {
            let leaks: Vec<&str> = self
                .0
                .lines()
                .filter(|l| l.contains(secret) || l.starts_with("==> "))
                .collect();
            assert!(
                !self.0.contains(secret),
                "secret {secret:?} printed:\n{}",
                leaks.join("\n")
            );
        }
    }
}

/// A loopback port nothing listens on: the proxy and the webhook are refused there, and
/// the gateway logs the refusal.
fn closed_port() -> u16 {
    free_loopback_port().unwrap()
}

fn write_config(dir: &Path, upstream: &str, proxy: Option<u16>, webhook_port: u16) -> PathBuf {
    let token_file = dir.join("ingest.token");
    std::fs::write(&token_file, format!("{INGEST_TOKEN}\n")).unwrap();
    let proxy = proxy.map_or(String::new(), |port| {
        format!("proxy = \"socks5://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}\"\n")
    });
    let text = format!(
        r#"[relay]
listen = ["127.0.0.1:0"]

[upstream]
login = "{upstream}"
{proxy}
[dns]
listen = []

[archive]
path = "{archive}"

[ingest]
listen = ["127.0.0.1:0"]
token_file = "{token}"

[policy]
default_profile = "standard"

[policy.profiles.standard]
alert_webhook = "http://127.0.0.1:{webhook_port}/hooks/{WEBHOOK_PATH}?key={WEBHOOK_QUERY}"

[[policy.profiles.standard.rules]]
name = "watch"
keywords = ["watchword"]
action = "alert"
"#,
        archive = dir.join("archive").display(),
        token = token_file.display(),
    );
    let path = dir.join("imtegrity.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `imtegrity ARGS...` (with `--json` when `json`) to completion: its stdout and stderr.
async fn run_cli(json: bool, args: &[&str]) -> (Option<i32>, String) {
    if json {
        let (code, stdout, stderr) = cli(IMTEGRITY, args).await;
        return (code, stdout + &stderr);
    }
    let out = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_imtegrity"))
            .args(args)
            .env("IMTEGRITY_LOG", "trace")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the command finishes in time")
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `imtegrity --json -vvv run --config CONFIG` at TRACE, stdout and stderr into files.
struct Running {
    child: tokio::process::Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    fn start(dir: &Path, config: &Path, name: &str) -> Self {
        let (stdout, stderr) = (
            dir.join(format!("{name}.stdout")),
            dir.join(format!("{name}.stderr")),
        );
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_imtegrity"))
            .args(["--json", "-vvv", "run", "--config"])
            .arg(config)
            .env("IMTEGRITY_LOG", "trace")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The `running` line's relay and ingest addresses, once printed.
    async fn addresses(&self) -> (SocketAddr, SocketAddr) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = std::fs::read_to_string(&self.stdout).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("\"running\"")) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let addr = |k: &str| v[k][0].as_str().unwrap().parse().unwrap();
                return (addr("relay"), addr("ingest"));
            }
            assert!(
                Instant::now() < deadline,
                "no running line: {}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, wait, and everything it printed.
    async fn stop(mut self) -> String {
        imtegrity_harness::process::terminate_process(self.child.id().unwrap());
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the gateway stops in time")
            .unwrap();
        assert!(status.success(), "{status}");
        std::fs::read_to_string(&self.stdout).unwrap()
            + &std::fs::read_to_string(&self.stderr).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_prints_a_planted_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Transcript::default();
    let (proxy_port, webhook_port) = (closed_port(), closed_port());
    let shown_webhook = format!("http://127.0.0.1:{webhook_port}/…");
    let shown_proxy = format!("socks5://***@127.0.0.1:{proxy_port}");

    // Configuration printers, with the proxy and the webhook set.
    let config = write_config(dir.path(), "127.0.0.1:9", Some(proxy_port), webhook_port);
    let file = config.display().to_string();
    for (json, args) in [
        (false, vec!["check-config", &file]),
        (false, vec!["check-config", &file, "--print"]),
        (true, vec!["check-config", &file]),
        (true, vec!["check-config", &file, "--print"]),
    ] {
        let (code, text) = run_cli(json, &args).await;
        out.add(&format!("json={json} {args:?}"), &text);
        assert_eq!(code, Some(0), "{text}");
        assert!(text.contains(&shown_webhook), "{text}");
    }
    assert!(
        out.0.contains(&format!("proxy = \"{shown_proxy}\"")),
        "{}",
        out.0
    );
    for json in [false, true] {
        let args = [
            "policy",
            "explain",
            "--config",
            &file,
            "--from",
            "alice",
            "--to",
            "bob",
            "--text",
            "the watchword",
        ];
        let (code, text) = run_cli(json, &args).await;
        out.add(&format!("json={json} {args:?}"), &text);
        assert_eq!(code, Some(0), "{text}");
    }

    // Error paths next to a secret: a bad --set, a bad value, a file that does not parse.
    let bad_file = dir.path().join("bad.toml");
    std::fs::write(
        &bad_file,
        format!(
            "[policy.profiles.standard]\nalert_webhook = \"http://h/{WEBHOOK_PATH}?{WEBHOOK_QUERY}\n"
        ),
    )
    .unwrap();
    let weak = dir.path().join("weak.toml");
    let weak_token = dir.path().join("weak.token");
    std::fs::write(&weak_token, WEAK_TOKEN).unwrap();
    std::fs::write(
        &weak,
        format!(
            "[ingest]\nlisten = [\"127.0.0.1:0\"]\ntoken_file = {:?}\n",
            weak_token.display().to_string()
        ),
    )
    .unwrap();
    let bad_proxy = format!("upstream.proxy={PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:1");
    let port_zero = format!("upstream.proxy=socks5://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:0");
    let through = format!("upstream.proxy.x=socks5://{PROXY_USER}:{PROXY_PASSWORD}@h:1");
    let bad_hook =
        format!("policy.profiles.standard.alert_webhook=ftp://h/{WEBHOOK_PATH}?{WEBHOOK_QUERY}");
    let no_equals = format!("upstream.proxy socks5://{PROXY_USER}:{PROXY_PASSWORD}@h:1");
    let bad_name = bad_file.display().to_string();
    let weak_name = weak.display().to_string();
    for json in [false, true] {
        for args in [
            vec!["check-config", &file, "--set", &bad_proxy],
            vec!["check-config", &file, "--set", &port_zero],
            vec!["check-config", &file, "--set", &through],
            vec!["check-config", &file, "--set", &bad_hook],
            vec!["check-config", &file, "--set", &no_equals],
            vec!["check-config", &bad_name],
            vec!["check-config", &weak_name],
            vec!["run", "--config", &file, "--set", &bad_proxy],
            vec!["run", "--config", &bad_name],
            vec![
                "run",
                "--config",
                &weak_name,
                "--set",
                "relay.listen=[\"127.0.0.1:0\"]",
            ],
            vec![
                "policy", "explain", "--config", &file, "--set", &bad_hook, "--from", "a", "--to",
                "b",
            ],
        ] {
            let (code, text) = run_cli(json, &args).await;
            out.add(&format!("json={json} {args:?}"), &text);
            assert_eq!(code, Some(64), "{args:?}: {text}");
        }
    }

    // `run` at TRACE through the proxy (refused: it listens nowhere): a login attempt, and
    // ingest requests with the right token and a wrong one; `status` meanwhile.
    let gw = Running::start(dir.path(), &config, "run-proxy");
    let (relay, ingest_addr) = gw.addresses().await;
    assert!(LabClient::login(relay, "alice", "x").await.is_err());
    assert_eq!(
        post(ingest_addr, INGEST_TOKEN, &batch("s1", &[])).await.0,
        200
    );
    assert_eq!(
        post(ingest_addr, "not-the-token", &batch("s1", &[]))
            .await
            .0,
        401
    );
    let archive = dir.path().join("archive").display().to_string();
    for json in [false, true] {
        let (code, text) = run_cli(json, &["status", "--archive", &archive]).await;
        out.add(&format!("json={json} status"), &text);
        assert_eq!(code, Some(0), "{text}");
    }
    out.add("run through the proxy", &gw.stop().await);
    // The relay names the proxy as `settings::ProxyUrl` shows it: the user, not the password.
    let logged_proxy = format!("socks5://{PROXY_USER}:***@127.0.0.1:{proxy_port}");
    assert!(out.last().contains(&logged_proxy), "{}", out.last());

    // `run` at TRACE before a lab server, without the proxy: a policy alert, posted to the
    // webhook (refused: it listens nowhere).
    let lab = LabServer::start(LabConfig {
        accounts: Accounts::AnyPassword,
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let config = write_config(dir.path(), &lab.auth_addr.to_string(), None, webhook_port);
    let gw = Running::start(dir.path(), &config, "run-webhook");
    let (relay, _) = gw.addresses().await;
    let mut alice = LabClient::login(relay, "alice", "x").await.unwrap();
    let mut bob = LabClient::login(lab.auth_addr, "bob", "y").await.unwrap();
    alice.send_im("bob", "the watchword").await.unwrap();
    assert_eq!(bob.expect_im("alice", WAIT).await.unwrap(), "the watchword");
    // The post is in the background: wait for its log line (bounded).
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&gw.stderr)
        .unwrap_or_default()
        .contains("alert webhook unreachable")
    {
        assert!(Instant::now() < deadline, "the webhook post was not logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out.add("run with the webhook", &gw.stop().await);
    assert!(out.last().contains(&shown_webhook), "{}", out.last());

    out.assert_no_secret();
}
