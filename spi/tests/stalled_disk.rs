//! Every call returns within its bound, whatever the disk does: ~100 KB messages
//! on a 4 MiB tmpfs until it is full, and a spool on a file system frozen with `fsfreeze`,
//! in strict and relaxed mode, with the library loaded by a C host
//! (`tests/host/line_host.c`) that times each call itself.
//!
//! The bound is the default `call_timeout_ms` (250 ms); a call is allowed two seconds more
//! before it counts as a stall, so a loaded two-core machine does not fail the test, while a
//! call stuck in the disk (what the admin saw: for good) does.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod c_host_harness;
mod fake_gateway;
mod line_host_driver;
mod test_disks;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use archive::Kind;
use fake_gateway::FakeGateway;
use imtegrity_stchatlog::Spool;
use line_host_driver::{
    Answer, CALL_BOUND, CALL_SLACK, DB_ERROR, Host, SEV_FATAL, SEV_OK, SEV_WARNING, assert_bounded,
    gaps, setup,
};
use test_disks::{FreezableDisk, SmallDisk, can_mount};

/// The size of each message: what the admin sent.
const BIG: usize = 100_000;

fn open_chat(h: &mut Host) {
    h.ok("init");
    h.ok("start s1");
    h.ok("join s1 alice");
    h.ok("join s1 bob");
}

/// Sends a tagged 100 KB message; the answer, checked against the bound.
fn big(h: &mut Host, tag: &str) -> Answer {
    let answer = h.call(&format!("longmsg s1 alice bob {BIG} {tag}:"));
    assert_bounded(&answer, tag);
    answer
}

/// The tags of the big messages in `spool`, in order.
fn tags(spool: &Path) -> Vec<String> {
    Spool::read_all(spool)
        .expect("read spool")
        .into_iter()
        .filter(|e| e.kind == Kind::Im)
        .map(|e| e.text.split(':').next().unwrap_or_default().to_owned())
        .collect()
}

/// Takes `mib` MiB of `disk`, to be given back later (the admin "freeing space"). A 100 KB
/// message is a record of about 200 KB (its text and its raw form).
fn ballast(disk: &SmallDisk, mib: usize) -> PathBuf {
    let path = disk.path().join("ballast");
    std::fs::write(&path, vec![0x5Au8; mib << 20]).expect("ballast");
    path
}

/// Sends 100 KB messages until one is answered otherwise than `accepted` says (at most 200:
/// 4 MiB hold about 40); the tags accepted before it, and that answer.
fn fill_with_big_messages(
    h: &mut Host,
    accepted: impl Fn(&Answer) -> bool,
) -> (Vec<String>, Answer) {
    let mut tags = Vec::new();
    for i in 0..200 {
        let tag = format!("m{i}");
        let answer = big(h, &tag);
        if !accepted(&answer) {
            return (tags, answer);
        }
        assert_eq!((answer.rc, answer.sev), (0, SEV_OK), "{answer:?}");
        tags.push(tag);
    }
    panic!("the disk never filled");
}

#[test]
fn strict_mode_on_a_disk_filled_by_big_messages_refuses_within_the_bound_and_recovers() {
    if !can_mount(
        "strict_mode_on_a_disk_filled_by_big_messages_refuses_within_the_bound_and_recovers",
    ) {
        return;
    }
    let disk = SmallDisk::mount("4m");
    let spool = disk.path().join("spool");
    let ballast = ballast(&disk, 1);
    let (_work, host, config) = setup(&spool, "mode = \"strict\"");
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);
    let (mut accepted, refused) = fill_with_big_messages(&mut h, |a| a.rc == 0);
    assert_eq!(
        (refused.rc, refused.sev),
        (DB_ERROR, SEV_FATAL),
        "{refused:?}"
    );
    assert!(
        refused.msg.contains("No space left on device"),
        "{refused:?}"
    );
    for i in 0..5 {
        let again = big(&mut h, &format!("full{i}"));
        assert_eq!((again.rc, again.sev), (DB_ERROR, SEV_FATAL), "{again:?}");
    }
    // Space comes back: no stall, no restart (the admin's call never returned here).
    std::fs::remove_file(ballast).expect("free the ballast");
    let deadline = Instant::now() + Duration::from_secs(10);
    // At most 10 s (the deadline) and 100 tries.
    let mut back = false;
    for i in 0..100 {
        let tag = format!("after{i}");
        let answer = big(&mut h, &tag);
        if answer.rc == 0 {
            assert_eq!(
                (answer.sev, answer.msg.as_str()),
                (SEV_OK, ""),
                "{answer:?}"
            );
            accepted.push(tag);
            back = true;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never accepted again: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(back, "never accepted again in 100 tries");
    h.ok("end s1");
    let term = h.call("term");
    assert!(term.took < Duration::from_secs(3) + CALL_SLACK, "{term:?}");
    h.finish();
    assert_eq!(
        tags(&spool),
        accepted,
        "what was accepted, once, in order; nothing refused"
    );
}

#[test]
fn relaxed_mode_on_a_disk_filled_by_big_messages_goes_on_and_records_the_gap() {
    if !can_mount("relaxed_mode_on_a_disk_filled_by_big_messages_goes_on_and_records_the_gap") {
        return;
    }
    let disk = SmallDisk::mount("4m");
    let spool = disk.path().join("spool");
    let ballast = ballast(&disk, 2);
    let (_work, host, config) = setup(&spool, "mode = \"relaxed\"");
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);
    let (mut sent, first_held) = fill_with_big_messages(&mut h, |a| a.sev == SEV_OK);
    assert_eq!(
        (first_held.rc, first_held.sev),
        (0, SEV_WARNING),
        "{first_held:?}"
    );
    sent.push(format!("m{}", sent.len()));
    for i in 0..3 {
        let tag = format!("held{i}");
        let answer = big(&mut h, &tag);
        assert_eq!((answer.rc, answer.sev), (0, SEV_WARNING), "{answer:?}");
        sent.push(tag);
    }
    std::fs::remove_file(ballast).expect("free the ballast");
    // The writer thread writes the held records on its own once there is room (it retries
    // every 500 ms); then a new message is durable within its call again.
    let deadline = Instant::now() + Duration::from_secs(10);
    // At most 10 s (the deadline) and 400 tries.
    let mut durable = false;
    for _ in 0..400 {
        std::thread::sleep(Duration::from_millis(700));
        let answer = big(&mut h, "probe");
        assert_eq!(answer.rc, 0, "{answer:?}");
        sent.push("probe".into());
        if answer.sev == SEV_OK {
            durable = true;
            break;
        }
        assert!(Instant::now() < deadline, "never durable again: {answer:?}");
    }
    assert!(durable, "never durable again in 400 tries");
    h.ok("end s1");
    h.finish();
    assert_eq!(tags(&spool), sent, "every message once, in order");
    let gaps = gaps(&spool);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].0, 0, "nothing dropped: {gaps:?}");
    assert!(
        gaps[0].1 >= 4,
        "the held records are counted as delayed: {gaps:?}"
    );
}

/// A write on a frozen file system blocks in the kernel until it is thawed: every call
/// still returns within its bound, strict refuses, and Terminate returns too.
#[test]
fn strict_mode_on_a_frozen_file_system_refuses_within_the_bound() {
    if !can_mount("strict_mode_on_a_frozen_file_system_refuses_within_the_bound") {
        return;
    }
    let mut disk = FreezableDisk::mount();
    let spool = disk.path().join("spool");
    let (_work, host, config) = setup(&spool, "mode = \"strict\"\nterminate_timeout_ms = 500");
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);
    h.ok("msg s1 alice bob before the freeze");
    disk.freeze();
    let mut refused = Vec::new();
    for i in 0..5 {
        let answer = h.call(&format!("msg s1 alice bob frozen {i}"));
        assert_bounded(&answer, "a call on a frozen disk");
        assert_eq!((answer.rc, answer.sev), (DB_ERROR, SEV_FATAL), "{answer:?}");
        assert!(
            answer.msg.contains("did not answer within 250 ms"),
            "{answer:?}"
        );
        refused.push(format!("frozen {i}"));
    }
    let started = Instant::now();
    let term = h.call("term");
    assert!(
        started.elapsed() < Duration::from_millis(500) + CALL_BOUND * 4 + CALL_SLACK,
        "Terminate on a frozen disk took {:?}: {term:?}",
        started.elapsed()
    );
    // Thawed before the host exits: a thread blocked on a frozen file system would hold
    // up the process's exit.
    disk.thaw();
    h.finish();
    let stored = Spool::read_all(&spool)
        .expect("read spool")
        .into_iter()
        .filter(|e| e.kind == Kind::Im)
        .map(|e| e.text)
        .collect::<Vec<_>>();
    assert_eq!(stored[0], "before the freeze");
    // The first refused message was already in the kernel when its bound passed: it may
    // land (refused but recorded, never the reverse). The others were taken back.
    assert!(
        stored.len() == 1 || (stored.len() == 2 && stored[1] == refused[0]),
        "{stored:?}"
    );
}

#[test]
fn relaxed_mode_on_a_frozen_file_system_goes_on_and_writes_everything_once_thawed() {
    if !can_mount("relaxed_mode_on_a_frozen_file_system_goes_on_and_writes_everything_once_thawed")
    {
        return;
    }
    let mut disk = FreezableDisk::mount();
    let spool = disk.path().join("spool");
    let (_work, host, config) = setup(&spool, "mode = \"relaxed\"");
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);
    disk.freeze();
    let mut sent = Vec::new();
    for i in 0..5 {
        let text = format!("frozen {i}");
        let answer = h.call(&format!("msg s1 alice bob {text}"));
        assert_bounded(&answer, "a call on a frozen disk");
        assert_eq!((answer.rc, answer.sev), (0, SEV_WARNING), "{answer:?}");
        sent.push(text);
    }
    disk.thaw();
    // Written in order by the writer thread; a later call is durable in time again.
    let deadline = Instant::now() + Duration::from_secs(10);
    // At most 10 s (the deadline) and 400 tries.
    let mut durable = false;
    for _ in 0..400 {
        std::thread::sleep(Duration::from_millis(200));
        let answer = h.call("msg s1 alice bob thawed");
        assert_bounded(&answer, "a call after the thaw");
        sent.push("thawed".into());
        if answer.sev == SEV_OK {
            durable = true;
            break;
        }
        assert!(Instant::now() < deadline, "never durable again: {answer:?}");
    }
    assert!(durable, "never durable again in 400 tries");
    h.ok("end s1");
    h.finish();
    let stored: Vec<String> = Spool::read_all(&spool)
        .expect("read spool")
        .into_iter()
        .filter(|e| e.kind == Kind::Im)
        .map(|e| e.text)
        .collect();
    assert_eq!(stored, sent, "every message once, in order");
    let gaps = gaps(&spool);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].0, 0, "nothing dropped: {gaps:?}");
    assert!(gaps[0].1 >= 5, "{gaps:?}");
}

/// A spool that filled its disk while the gateway was away empties itself once the gateway
/// is back (acknowledging needs a new `acked` file, so the acknowledged segments must go
/// first), and strict mode takes chats again, without a restart.
#[test]
fn a_spool_that_filled_its_disk_empties_itself_once_the_gateway_is_back() {
    if !can_mount("a_spool_that_filled_its_disk_empties_itself_once_the_gateway_is_back") {
        return;
    }
    let disk = SmallDisk::mount("4m");
    let spool = disk.path().join("spool");
    // A port nobody listens on yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let token = "full-disk-token-5e3c1a9b7d2f4068";
    let (_work, host, config) = setup(
        &spool,
        &format!("mode = \"strict\"\n[gateway]\naddress = \"{addr}\"\ntoken = \"{token}\""),
    );
    let mut h = Host::start(&host, &config);
    open_chat(&mut h);
    let (accepted, refused) = fill_with_big_messages(&mut h, |a| a.rc == 0);
    assert_eq!(refused.rc, DB_ERROR, "{refused:?}");
    // Not a byte left, not even for a small `acked` file.
    disk.fill();

    let gateway = FakeGateway::start(addr, token, &[]);
    // session_start and every accepted message.
    gateway.wait_for("the spool's records", |st| {
        st.stored.len() == accepted.len() + 1
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    // At most 10 s (the deadline) and 400 tries.
    let mut room = false;
    for _ in 0..400 {
        let answer = big(&mut h, "after");
        if answer.rc == 0 {
            room = true;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the disk never had room again: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(room, "the disk never had room again in 400 tries");
    h.ok("end s1");
    h.finish();
    assert_eq!(gateway.state.lock().unwrap().duplicates, 0);
    assert!(
        Spool::read_all(&spool).unwrap().is_empty(),
        "shipped at Terminate"
    );
}
