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
mod test_disks;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use line_host_driver::{
    Answer, DB_ERROR, Host, SEV_FATAL, SEV_OK, SEV_WARNING, assert_bounded, gaps, setup,
};
use test_disks::{SmallDisk, can_mount};

use archive::Kind;
use imtegrity_stchatlog::Spool;

fn texts_and_kinds(spool: &Path) -> Vec<(Kind, String)> {
    Spool::read_all(spool)
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

/// Waits past the library's reopen interval (`spool::REOPEN_INTERVAL`).
fn after_reopen_interval() {
    std::thread::sleep(imtegrity_stchatlog::spool::REOPEN_INTERVAL * 2);
}

/// Waits (at most 10 s) until the spool's writer thread has written what relaxed mode held:
/// `want` messages in a copy of the spool.
fn wait_for_messages(spool: &Path, want: &[String]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // At most 10 s (the deadline) and 400 tries.
    for _ in 0..400 {
        let copy = copy_of(spool);
        let got = messages(&copy.path().join("spool"));
        if got == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "held records not written: {} of {}",
            got.len(),
            want.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("held records not written after 400 tries");
}

/// Sends 1 KiB messages until one gets an answer `stop` accepts (at most 10 000, far more
/// than a 4 MiB disk holds): the texts answered before it, and that answer. sled writes
/// into space its log already holds, so the disk being full shows only some calls later.
fn chat_until(h: &mut Host, stop: impl Fn(&Answer) -> bool) -> (Vec<String>, String, Answer) {
    let mut sent = Vec::new();
    for i in 0..10_000 {
        let text = format!("filler {i} {}", "x".repeat(1024));
        let answer = h.call(&format!("msg s1 alice bob {text}"));
        assert_bounded(&answer, &text);
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
        refused.msg.contains("No space left on device"),
        "the server's log should say why: {refused:?}"
    );
    assert!(
        !refused.msg.contains("Os {") && !refused.msg.contains("kind:"),
        "plain words, not Rust's debug form: {refused:?}"
    );
    // While the spool is down, every call is refused, promptly.
    let again = h.call("msg s1 alice bob still full");
    assert_eq!(again.rc, DB_ERROR, "{again:?}");
    assert_bounded(&again, "a call while full");

    disk.free();
    after_reopen_interval();
    let back = h.call("msg s1 alice bob after space came back");
    assert_eq!(
        (back.rc, back.sev, back.msg.as_str()),
        (0, SEV_OK, ""),
        "a success resets appRetCode and appRetMsg: {back:?}"
    );
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
    let (mut sent, held_text, first_warning) = chat_until(&mut h, |a| a.sev != SEV_OK);
    assert_eq!(
        first_warning.rc, 0,
        "relaxed lets the chat go on: {first_warning:?}"
    );
    assert_eq!(
        first_warning.sev, SEV_WARNING,
        "and warns the server: {first_warning:?}"
    );
    assert!(
        first_warning
            .msg
            .starts_with("held in memory, not yet recorded: ")
            && first_warning.msg.contains("No space left on device"),
        "{first_warning:?}"
    );
    sent.push(held_text);
    for text in ["held two", "held three"] {
        let answer = h.call(&format!("msg s1 alice bob {text}"));
        assert_eq!((answer.rc, answer.sev), (0, SEV_WARNING), "{answer:?}");
        assert_bounded(&answer, text);
        sent.push(text.into());
    }
    disk.free();
    // The spool's writer thread retries on its own: no call, not even the timer, needed.
    wait_for_messages(&spool, &sent);
    h.ok("msg s1 alice bob after");
    h.ok("end s1");
    h.finish();

    // Nothing was dropped, but three records were acknowledged before they were durable:
    // the archive says so.
    assert_eq!(gaps(&spool), [(0, 3)]);
    sent.push("after".into());
    assert_eq!(messages(&spool), sent, "each once, in order");
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
    let (mut kept, first_held, _) = chat_until(&mut h, |a| a.sev != SEV_OK);
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
    assert!(
        gaps[0].starts_with("3 Sametime records were dropped and 2 were acknowledged"),
        "{}",
        gaps[0]
    );
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

/// A spool that cannot even be created is a setup mistake, not a passing disk hiccup: Init
/// fails, clearly, in both modes.
#[test]
fn a_spool_that_cannot_be_created_fails_init_in_both_modes() {
    if !can_mount("a_spool_that_cannot_be_created_fails_init_in_both_modes") {
        return;
    }
    let disk = SmallDisk::mount("4m");
    disk.remount("ro");
    let spool = disk.path().join("spool");
    for mode in ["strict", "relaxed"] {
        let (_work, host, config) = setup(&spool, &format!("mode = \"{mode}\""));
        let mut h = Host::start(&host, &config);
        let refused = h.call("init");
        assert_eq!(
            (refused.rc, refused.sev),
            (DB_ERROR, SEV_FATAL),
            "{mode}: {refused:?}"
        );
        assert!(
            refused.msg.contains("Read-only file system") && refused.msg.contains("spool"),
            "{mode}: {refused:?}"
        );
        assert_bounded(&refused, "init");
        // Not initialised: a chat is refused, not silently dropped.
        let start = h.call("start s1");
        assert_ne!(start.rc, 0, "{mode}: {start:?}");
    }
    // A file where the directory should be, on a disk that works.
    let work = tempfile::tempdir().unwrap();
    let blocked = work.path().join("spool");
    std::fs::write(&blocked, b"not a directory").unwrap();
    for mode in ["strict", "relaxed"] {
        let (_work, host, config) = setup(&blocked, &format!("mode = \"{mode}\""));
        let mut h = Host::start(&host, &config);
        let refused = h.call("init");
        assert_eq!(
            (refused.rc, refused.sev),
            (DB_ERROR, SEV_FATAL),
            "{mode}: {refused:?}"
        );
        assert!(
            refused.msg.contains(&*blocked.to_string_lossy()),
            "{refused:?}"
        );
    }
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

/// A repeated `stDdaClInit` re-reads the file and applies it at once, even while relaxed
/// mode holds records for the same spool: they stay queued for the spool's writer, in order,
/// and are written before anything newer once the disk works.
#[test]
fn a_repeated_init_applies_the_file_and_keeps_the_held_records() {
    if !can_mount("a_repeated_init_applies_the_file_and_keeps_the_held_records") {
        return;
    }
    let disk = SmallDisk::mount("4m");
    let spool = disk.path().join("spool");
    let (_work, host, config) = setup(&spool, "mode = \"relaxed\"");
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);
    disk.fill();
    let (mut sent, held_text, _warning) = chat_until(&mut h, |a| a.sev != SEV_OK);
    sent.push(held_text);

    // The operator switches to strict mode while records are held.
    std::fs::write(
        &config,
        format!(
            "spool = {:?}\nnode = \"st-test\"\nmode = \"strict\"\n",
            spool.display().to_string()
        ),
    )
    .unwrap();
    let applied = h.call("init");
    assert_eq!((applied.rc, applied.sev), (0, SEV_OK), "{applied:?}");
    // Strict now: while the disk is full, a message is refused, not held.
    let refused = h.call("msg s1 alice bob refused in strict mode");
    assert_eq!(
        (refused.rc, refused.sev),
        (DB_ERROR, SEV_FATAL),
        "{refused:?}"
    );
    assert!(
        refused.msg.contains("No space left on device"),
        "the disk's reason, not a timeout: {refused:?}"
    );
    assert_bounded(&refused, "strict while full");

    disk.free();
    wait_for_messages(&spool, &sent);
    h.ok("msg s1 alice bob in strict mode");
    sent.push("in strict mode".into());
    h.ok("end s1");
    h.finish();
    assert_eq!(
        messages(&spool),
        sent,
        "held records first, in order, none lost, the refused one absent"
    );
    assert_eq!(gaps(&spool), [(0, 1)]);
}

/// Terminate while relaxed mode holds records: if the disk works by then, they are written
/// and the gap record with them; if it still fails, the count of what is lost is said on
/// stderr (there is no other place left), never nothing.
#[test]
fn terminate_writes_held_records_or_says_how_many_are_lost() {
    if !can_mount("terminate_writes_held_records_or_says_how_many_are_lost") {
        return;
    }
    // The disk comes back just before Terminate: everything is written at Terminate.
    let disk = SmallDisk::mount("4m");
    let spool = disk.path().join("spool");
    let (_work, host, config) = setup(&spool, "mode = \"relaxed\"");
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);
    disk.fill();
    let (mut sent, held_text, _) = chat_until(&mut h, |a| a.sev != SEV_OK);
    sent.push(held_text);
    for text in ["held two", "held three"] {
        h.ok(&format!("msg s1 alice bob {text}"));
        sent.push(text.into());
    }
    disk.free();
    let term = h.call("term");
    assert_eq!(term.rc, 0, "{term:?}");
    h.finish();
    assert_eq!(messages(&spool), sent);
    // The three messages and Terminate's session_end, held while the spool still failed.
    assert_eq!(gaps(&spool), [(0, 4)]);
    drop(disk);

    // The disk still full at Terminate: the held records are lost, and stderr says so.
    let disk = SmallDisk::mount("4m");
    let spool = disk.path().join("spool");
    let (work, host, config) = setup(&spool, "mode = \"relaxed\"\nterminate_timeout_ms = 300");
    let stderr_path = work.path().join("stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut h = Host::start_with_stderr(&host, &config, stderr);
    open_chat(&mut h);
    disk.fill();
    let (written, _, _) = chat_until(&mut h, |a| a.sev != SEV_OK);
    for text in ["held two", "held three"] {
        h.ok(&format!("msg s1 alice bob {text}"));
    }
    let term = h.call("term");
    assert_eq!(term.rc, 0, "{term:?}");
    assert_bounded(&term, "term");
    h.finish();
    let said = std::fs::read_to_string(&stderr_path).unwrap();
    // The three messages and the session_end Terminate wrote for the open session.
    assert!(
        said.contains("4 records held in memory were never written and are lost"),
        "{said}"
    );
    disk.free();
    assert_eq!(messages(&spool), written, "what was durable stays");
}
