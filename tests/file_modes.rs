//! Data at rest is private whatever the umask: after `ca init`, `generate`, `run` (archive,
//! sled's files, the signing key, the CA it loads) and `export`, every directory and file is
//! owner-only, though each command ran under `umask 000`. Looser modes found at open are
//! fixed with a message naming them; an exposed signing key is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound on one command, and on the gateway's start and stop.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `imtegrity ARGS...` under `umask 000`, as a careless service manager might start it.
fn permissive(args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_imtegrity"))
        .args(args)
        .stdin(Stdio::null());
    command
}

fn run_ok(args: &[&str]) -> Output {
    let out = permissive(args).output().unwrap();
    assert!(
        out.status.success(),
        "imtegrity {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every directory and file under `dir` (itself included) that group or others may use,
/// with its mode; sockets are checked where they are bound (tests/admin_socket.rs).
fn open_to_others(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        seen += 1;
        if (meta.is_dir() || meta.is_file()) && meta.mode() & 0o077 != 0 {
            found.push(format!("{} {:04o}", path.display(), meta.mode() & 0o777));
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(seen > 1, "{} is empty: nothing was checked", dir.display());
    found
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o777
}

/// `imtegrity --json run` under `umask 000`, its stderr kept for reading after it stops.
struct Gateway {
    child: Child,
    stderr: PathBuf,
}

impl Gateway {
    fn start(archive: &Path, ca: &Path, log: PathBuf) -> Self {
        let archive_set = format!("archive.path={}", archive.display());
        let ca_set = format!("tls.ca_dir={}", ca.display());
        let mut child = permissive(&[
            "--json",
            "run",
            "--set",
            r#"relay.listen=["127.0.0.1:0"]"#,
            "--set",
            "dns.listen=[]",
            "--set",
            "upstream.login=127.0.0.1:1",
            "--set",
            &archive_set,
            "--set",
            &ca_set,
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(TIMEOUT)
            .expect("the gateway started in time");
        let running: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}; log: {}", read(&log)));
        assert_eq!(running["event"], "running", "{running}");
        Self { child, stderr: log }
    }

    /// SIGTERM, a bounded wait for a clean exit; returns what it logged.
    fn stop(mut self) -> String {
        imtegrity_harness::process::terminate_process(self.child.id());
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "gateway exit: {status}");
                return read(&self.stderr);
            }
            assert!(Instant::now() < deadline, "the gateway did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn ca_init_generate_run_and_export_leave_only_owner_only_files_under_umask_000() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let ca_set = format!("tls.ca_dir={}", ca.display());
    run_ok(&["ca", "init", "--set", &ca_set]);
    assert_eq!(open_to_others(&ca), Vec::<String>::new(), "after ca init");
    assert_eq!(mode(&ca.join("ca.key")), 0o600);

    let generated = tmp.path().join("generated");
    let g = generated.to_str().unwrap();
    run_ok(&["generate", "--archive", g, "--count", "300", "--seed", "3"]);
    assert_eq!(
        open_to_others(&generated),
        Vec::<String>::new(),
        "after generate"
    );
    assert_eq!(mode(&generated.join("signing.key")), 0o600);

    let out = tmp.path().join("export");
    let o = out.to_str().unwrap();
    run_ok(&["export", "--archive", g, "--format", "eml", "--out", o]);
    assert_eq!(open_to_others(&out), Vec::<String>::new(), "after export");

    let archive = tmp.path().join("archive");
    let gateway = Gateway::start(&archive, &ca, tmp.path().join("run.log"));
    // While it runs too: the store, the signing key, the CA files it loaded.
    let during = open_to_others(&archive);
    let log = gateway.stop();
    assert_eq!(during, Vec::<String>::new(), "while running; log: {log}");
    assert_eq!(open_to_others(&archive), Vec::<String>::new(), "after run");
    assert_eq!(open_to_others(&ca), Vec::<String>::new(), "CA after run");
    assert!(archive.join("db/db").exists() && archive.join("signing.key").exists());
}

#[test]
fn a_loose_archive_is_fixed_at_open_and_said_and_an_exposed_key_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let a = archive.to_str().unwrap();
    run_ok(&["generate", "--archive", a, "--count", "20", "--seed", "3"]);
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        archive.join("db/conf"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let ca = tmp.path().join("ca");
    let gateway = Gateway::start(&archive, &ca, tmp.path().join("run.log"));
    let log = gateway.stop();
    assert!(
        log.contains(&format!(
            "{a} was mode 0755, open to other users; set to 0700 (owner only)"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "{a}/db/conf was mode 0644, open to other users; set to 0600 (owner only)"
        )),
        "{log}"
    );
    assert_eq!(open_to_others(&archive), Vec::<String>::new());

    // A signing key others could read may have been copied: refused, left as found.
    let key = archive.join("signing.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = permissive(&["search", "--archive", a]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} is mode 0644: the key is open to other users and may have been copied; \
             if that is acceptable, `chmod 600` it (or replace it) and start again",
            key.display()
        )),
        "{stderr}"
    );
    assert_eq!(mode(&key), 0o644);
}
