//! Error injection: the spool's disk fills up or is read-only, with the library loaded by a
//! C host (`tests/host/line_host.c`) one call at a time.
//!
//! Strict mode must refuse what it cannot make durable (so the server ends the chat) and
//! work again once space is back, without a server restart. Relaxed mode must let every
//! call succeed, write what it held once the disk works, and record a `capture_gap` for
//! what it had to drop.
//!
//! The disk is a small tmpfs mounted for the test (root only; skipped otherwise, with a
//! message, and a failure under `CI=true`), unmounted when the test ends, pass or fail.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod c_host_harness;
mod line_host_driver;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use line_host_driver::{Answer, Host, build_line_host};

use archive::Kind;
use imtegrity_stchatlog::SledSpool;

/// The `ST_DDA_*` severities the host sees through `appRetCode`.
const SEV_WARNING: i32 = 2;
const SEV_FATAL: i32 = 4;
/// The default `codes.db_error` (`ST_DDA_API_INTERNAL_ERROR`).
const DB_ERROR: i32 = 3;

/// Whether this runs as root, which mounting a tmpfs needs; otherwise skips `test` (a
/// failure under `CI=true`, where the suite runs as root).
fn can_mount(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        test_skips::skip_or_fail(
            test,
            "needs root to mount a small tmpfs (run the suite as root, as .ci/run does)",
        );
    }
    root
}

/// A tmpfs of a few MiB, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount");
        assert!(status.success(), "mount tmpfs failed");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.path().join("filler")).expect("filler");
        let block = vec![0x5Au8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        // The last partial block may have gone in; keep going byte-wise to the last byte.
        while f.write_all(&[0]).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).expect("remove filler");
    }

    fn remount(&self, option: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{option}")])
            .arg(self.path())
            .status()
            .expect("mount -o remount");
        assert!(status.success(), "remount {option} failed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A scratch directory with the host built and a config file for `mode`, spooling to
/// `spool`.
fn setup(spool: &Path, extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let work = tempfile::tempdir().expect("temp dir");
    let host = build_line_host(work.path());
    let config = work.path().join("imtegrity_stchatlog.toml");
    std::fs::write(
        &config,
        format!(
            "spool = {:?}\nnode = \"st-test\"\n{extra}\n",
            spool.display().to_string()
        ),
    )
    .expect("write config");
    (work, host, config)
}

fn texts_and_kinds(spool: &Path) -> Vec<(Kind, String)> {
    SledSpool::read_all(spool)
        .expect("read spool")
        .into_iter()
        .map(|e| (e.kind, e.text))
        .collect()
}

fn messages(spool: &Path) -> Vec<String> {
    texts_and_kinds(spool)
        .into_iter()
        .filter(|(k, _)| *k == Kind::Im)
        .map(|(_, t)| t)
        .collect()
}

/// Waits past the library's reopen interval (`spool_slot::REOPEN_INTERVAL`).
fn after_reopen_interval() {
    std::thread::sleep(imtegrity_stchatlog::spool_slot::REOPEN_INTERVAL * 2);
}

/// Sends 1 KiB messages until one gets an answer `stop` accepts (at most 10 000, far more
/// than a 4 MiB disk holds): the texts answered before it, and that answer. sled writes
/// into space its log already holds, so the disk being full shows only some calls later.
fn chat_until(h: &mut Host, stop: impl Fn(&Answer) -> bool) -> (Vec<String>, String, Answer) {
    let mut sent = Vec::new();
    for i in 0..10_000 {
        let text = format!("filler {i} {}", "x".repeat(1024));
        let answer = h.call(&format!("msg s1 alice bob {text}"));
        if stop(&answer) {
            return (sent, text, answer);
        }
        assert_eq!(answer.rc, 0, "{answer:?}");
        sent.push(text);
    }
    panic!("the full disk never showed");
}

fn open_chat(h: &mut Host) {
    h.ok("init");
    h.ok("start s1");
    h.ok("join s1 alice");
    h.ok("join s1 bob");
}

#[test]
fn strict_mode_refuses_on_a_full_disk_and_recovers_without_a_restart() {
    if !can_mount("strict_mode_refuses_on_a_full_disk_and_recovers_without_a_restart") {
        return;
    }
    let disk = SmallDisk::mount("4m");
    let spool = disk.path().join("spool");
    let (_work, host, config) = setup(&spool, "mode = \"strict\"");
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);
    h.ok("msg s1 alice bob before the disk filled");

    disk.fill();
    let (mut accepted, refused_text, refused) = chat_until(&mut h, |a| a.rc != 0);
    assert_eq!(refused.rc, DB_ERROR, "{refused:?}");
    assert_eq!(refused.sev, SEV_FATAL, "{refused:?}");
    assert!(
        refused.msg.contains("No space left"),
        "the server's log should say why: {refused:?}"
    );
    // While the spool is down, every call is refused, promptly.
    let again = h.call("msg s1 alice bob still full");
    assert_eq!(again.rc, DB_ERROR, "{again:?}");

    disk.free();
    after_reopen_interval();
    let back = h.call("msg s1 alice bob after space came back");
    assert_eq!((back.rc, back.sev), (0, -1), "{back:?}");
    h.ok("end s1");
    h.finish();

    accepted.insert(0, "before the disk filled".into());
    accepted.push("after space came back".into());
    let stored = messages(&spool);
    assert!(
        !stored.contains(&refused_text),
        "a refused message is not in the spool"
    );
    assert_eq!(
        stored, accepted,
        "every accepted message is in the spool, in order"
    );
}

#[test]
fn relaxed_mode_holds_records_on_a_full_disk_and_writes_them_in_order_later() {
    if !can_mount("relaxed_mode_holds_records_on_a_full_disk_and_writes_them_in_order_later") {
        return;
    }
    let disk = SmallDisk::mount("4m");
    let spool = disk.path().join("spool");
    let (_work, host, config) = setup(&spool, "mode = \"relaxed\"");
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);

    disk.fill();
    let (mut sent, held_text, first_warning) = chat_until(&mut h, |a| a.sev != -1);
    assert_eq!(
        first_warning.rc, 0,
        "relaxed lets the chat go on: {first_warning:?}"
    );
    assert_eq!(
        first_warning.sev, SEV_WARNING,
        "and warns the server: {first_warning:?}"
    );
    sent.push(held_text);
    for text in ["held two", "held three"] {
        let answer = h.call(&format!("msg s1 alice bob {text}"));
        assert_eq!((answer.rc, answer.sev), (0, SEV_WARNING), "{answer:?}");
        sent.push(text.into());
    }
    disk.free();
    after_reopen_interval();
    // The server's timer is enough to write what was held.
    let timer = h.call("timer");
    assert_eq!(timer.sev, -1, "{timer:?}");
    let copy = copy_of(&spool);
    assert_eq!(
        messages(&copy.path().join("spool")),
        sent,
        "the timer wrote what was held, before any new message"
    );
    h.ok("msg s1 alice bob after");
    h.ok("end s1");
    h.finish();

    let all = texts_and_kinds(&spool);
    assert!(
        all.iter().all(|(k, _)| *k != Kind::CaptureGap),
        "nothing was dropped"
    );
    sent.push("after".into());
    assert_eq!(messages(&spool), sent);
}

#[test]
fn relaxed_mode_beyond_its_memory_drops_and_records_the_gap() {
    if !can_mount("relaxed_mode_beyond_its_memory_drops_and_records_the_gap") {
        return;
    }
    let disk = SmallDisk::mount("4m");
    let spool = disk.path().join("spool");
    let (_work, host, config) = setup(
        &spool,
        "mode = \"relaxed\"\n[relaxed]\nmax_held_records = 2",
    );
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);
    disk.fill();
    let (mut kept, first_held, _) = chat_until(&mut h, |a| a.sev != -1);
    kept.push(first_held);
    kept.push("m1".into());
    for i in 1..=4 {
        h.ok(&format!("msg s1 alice bob m{i}"));
    }
    disk.free();
    after_reopen_interval();
    h.ok("msg s1 alice bob after");
    h.ok("end s1");
    h.finish();

    let all = texts_and_kinds(&spool);
    let gaps: Vec<&String> = all
        .iter()
        .filter(|(k, _)| *k == Kind::CaptureGap)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0].starts_with("3 Sametime records"), "{}", gaps[0]);
    kept.push("after".into());
    assert_eq!(
        messages(&spool),
        kept,
        "two held (m1 the second), m2..m4 dropped"
    );
    let gap_at = all.iter().position(|(k, _)| *k == Kind::CaptureGap);
    let after_at = all.iter().position(|(_, t)| t == "after");
    assert!(gap_at < after_at, "the gap is recorded where it happened");
}

#[test]
fn a_read_only_spool_fails_strict_init_and_relaxed_mode_starts_and_catches_up() {
    if !can_mount("a_read_only_spool_fails_strict_init_and_relaxed_mode_starts_and_catches_up") {
        return;
    }
    let disk = SmallDisk::mount("4m");
    disk.remount("ro");
    let spool = disk.path().join("spool");

    let (_work, host, strict) = setup(&spool, "mode = \"strict\"");
    let mut h = Host::start(&host, &strict);
    let refused = h.call("init");
    assert_eq!(refused.rc, DB_ERROR, "{refused:?}");
    assert_eq!(refused.sev, SEV_FATAL, "{refused:?}");
    assert!(refused.msg.contains("Read-only"), "{refused:?}");
    drop(h);

    let (_work2, host, relaxed) = setup(&spool, "mode = \"relaxed\"");
    let mut h = Host::start(&host, &relaxed);
    let started = h.call("init");
    assert_eq!((started.rc, started.sev), (0, SEV_WARNING), "{started:?}");
    h.ok("start s1");
    h.ok("join s1 alice");
    h.ok("join s1 bob");
    h.ok("msg s1 alice bob said while read-only");
    disk.remount("rw");
    after_reopen_interval();
    let timer = h.call("timer");
    assert_eq!(timer.sev, -1, "{timer:?}");
    h.ok("end s1");
    h.finish();
    assert_eq!(messages(&spool), ["said while read-only"]);
    let kinds: Vec<Kind> = texts_and_kinds(&spool)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, [Kind::SessionStart, Kind::Im, Kind::SessionEnd]);
}

/// A copy of the spool directory, as `<copy>/spool`: the host keeps the spool locked while
/// it runs, and every record it acknowledged is synced, so a copy reads back what it holds.
fn copy_of(spool: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("temp dir");
    let status = Command::new("cp")
        .arg("-a")
        .arg(spool)
        .arg(copy.path().join("spool"))
        .status()
        .expect("cp");
    assert!(status.success());
    copy
}

/// A repeated `stDdaClInit` re-reads the file, except while relaxed mode holds records in
/// memory (they live in the running sink): then it warns and keeps the running
/// configuration, and the next Init after the spool works applies the file.
#[test]
fn a_repeated_init_waits_for_held_records_before_reading_the_file_again() {
    if !can_mount("a_repeated_init_waits_for_held_records_before_reading_the_file_again") {
        return;
    }
    let disk = SmallDisk::mount("4m");
    let spool = disk.path().join("spool");
    let (_work, host, config) = setup(&spool, "mode = \"relaxed\"");
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);
    disk.fill();
    let (mut sent, held_text, _warning) = chat_until(&mut h, |a| a.sev != -1);
    sent.push(held_text);

    // The operator switches to strict mode while records are held: not yet applied.
    std::fs::write(
        &config,
        format!(
            "spool = {:?}\nnode = \"st-test\"\nmode = \"strict\"\n",
            spool.display().to_string()
        ),
    )
    .unwrap();
    let deferred = h.call("init");
    assert_eq!(
        (deferred.rc, deferred.sev),
        (0, SEV_WARNING),
        "{deferred:?}"
    );
    assert!(
        deferred.msg.starts_with("configuration not re-read: "),
        "{deferred:?}"
    );
    // Still relaxed: the chat goes on.
    let answer = h.call("msg s1 alice bob held after the deferred init");
    assert_eq!((answer.rc, answer.sev), (0, SEV_WARNING), "{answer:?}");
    sent.push("held after the deferred init".into());

    disk.free();
    after_reopen_interval();
    let applied = h.call("init");
    assert_eq!((applied.rc, applied.sev), (0, 0), "{applied:?}");
    h.ok("msg s1 alice bob in strict mode");
    sent.push("in strict mode".into());
    // Strict now: a full disk is refused, not held.
    disk.fill();
    let (accepted, _refused_text, refused) = chat_until(&mut h, |a| a.rc != 0);
    assert_eq!(
        (refused.rc, refused.sev),
        (DB_ERROR, SEV_FATAL),
        "{refused:?}"
    );
    disk.free();
    after_reopen_interval();
    h.ok("end s1");
    h.finish();
    sent.extend(accepted);
    assert_eq!(
        messages(&spool),
        sent,
        "held records first, in order, none lost"
    );
}
