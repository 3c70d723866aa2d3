//! Crash test: the durability statement in `archive/src/lib.rs` ("a record
//! is durable once `append` has returned `Ok`") proven by killing a real writer process.
//!
//! The parent re-executes this binary with `IMT_CRASH_CHILD=<dir>`. The child appends records
//! forever from several threads (single `append_blocking` calls and bursts of concurrent
//! `append`s) and prints `<id> <tag>` for each one only after its append returned `Ok`. The
//! parent SIGKILLs it after a pseudo-random 20–300 ms, reopens the archive and checks that
//! every printed id is present with its tag, that ids have no gaps, and that `verify` finds
//! the chain intact with nothing left unsigned (records written but never acknowledged are
//! adopted and signed when the archive is opened). Then the next round, on the same store.
//!
//! `IMT_CRASH_SEED` replays a run (the seed is printed). By default 12 rounds run and no new
//! round starts after 20 s; `IMT_CRASH_ROUNDS=<n>` runs exactly n rounds (a longer stress run).
//!
//! SIGKILL tests a process crash: the kernel keeps what was written. A power cut also needs
//! the `fdatasync` of the commit journal, which this test cannot observe.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use archive::{
    Archive, ArchiveError, ArchiveOptions, Direction, Event, Kind, Protocol, Query, Verdict,
    conversation_for_pair, now_ns,
};

const CHILD: &str = "IMT_CRASH_CHILD";
const ROUND: &str = "IMT_CRASH_ROUND";
const SEED: &str = "IMT_CRASH_SEED";
const ROUNDS: &str = "IMT_CRASH_ROUNDS";
const DEFAULT_ROUNDS: u32 = 12;
/// No new round starts after this.
const DEADLINE: Duration = Duration::from_secs(20);
/// Threads appending one record at a time.
const SINGLE_THREADS: u32 = 2;
/// Most concurrent appends in one burst.
const MAX_BURST: u64 = 8;

fn main() -> ExitCode {
    match std::env::var_os(CHILD) {
        Some(dir) => append_forever(Path::new(&dir)),
        None => match supervise() {
            Ok(summary) => {
                say(&summary);
                ExitCode::SUCCESS
            }
            Err(failure) => {
                say(&format!("crash: FAILED: {failure}"));
                ExitCode::FAILURE
            }
        },
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn options() -> ArchiveOptions {
    ArchiveOptions {
        node: Some("crash".into()),
        // Small, so periodic checkpoints are written (and interrupted) too.
        checkpoint_every: 100,
        ..ArchiveOptions::default()
    }
}

/// Opens the archive, waiting while another process (or a closing writer) still holds it.
fn open(dir: &Path) -> Result<Archive, String> {
    let start = Instant::now();
    loop {
        match Archive::open(dir, options()) {
            Ok(a) => return Ok(a),
            Err(ArchiveError::Locked { .. }) if start.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("open {}: {e}", dir.display())),
        }
    }
}

fn event(tag: &str) -> Event {
    Event {
        time_ns: now_ns(),
        protocol: Protocol::Aim,
        kind: Kind::Im,
        conversation: conversation_for_pair(Protocol::Aim, "alice", "bob"),
        sender: "alice".into(),
        recipients: vec!["bob".into()],
        direction: Direction::Outbound,
        local_user: "alice".into(),
        room: None,
        client_addr: None,
        node: String::new(),
        text: tag.into(),
        raw: tag.into(),
        charset: None,
        verdict: Verdict::Allowed,
        detail: None,
        employee: None,
    }
}

// ---------------------------------------------------------------------------------------
// Child

/// Prints an acknowledged record; the line reaches the pipe before the next append starts.
fn ack(id: u64, tag: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{id} {tag}")
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(4);
    }
}

fn die(what: &str) -> ! {
    eprintln!("crash child: {what}");
    std::process::exit(3);
}

fn append_forever(dir: &Path) -> ExitCode {
    let round = std::env::var(ROUND).unwrap_or_default();
    let a = open(dir).unwrap_or_else(|e| die(&e));
    let mut threads = Vec::new();
    for t in 0..SINGLE_THREADS {
        let (a, round) = (a.clone(), round.clone());
        threads.push(std::thread::spawn(move || {
            for n in 0u64.. {
                let tag = format!("r{round}-s{t}-{n}");
                match a.append_blocking(event(&tag)) {
                    Ok(receipt) => ack(receipt.id, &tag),
                    Err(e) => die(&format!("append {tag}: {e}")),
                }
            }
        }));
    }
    threads.push(std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| die(&format!("runtime: {e}")));
        rt.block_on(async {
            let a = Arc::new(a);
            for n in 0u64.. {
                let mut burst = tokio::task::JoinSet::new();
                for j in 0..=n % MAX_BURST {
                    let (a, tag) = (a.clone(), format!("r{round}-b{n}-{j}"));
                    burst.spawn(async move { (a.append(event(&tag)).await, tag) });
                }
                while let Some(done) = burst.join_next().await {
                    match done {
                        Ok((Ok(receipt), tag)) => ack(receipt.id, &tag),
                        Ok((Err(e), tag)) => die(&format!("append {tag}: {e}")),
                        Err(e) => die(&format!("burst task: {e}")),
                    }
                }
            }
        });
    }));
    for t in threads {
        let _ = t.join();
    }
    die("appenders stopped")
}

// ---------------------------------------------------------------------------------------
// Parent

/// xorshift64*: enough to spread kill times; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[derive(Default)]
struct Totals {
    rounds: u32,
    acknowledged: usize,
    unacknowledged: usize,
    adopted: u64,
    adopting_rounds: u32,
    /// Rounds whose acknowledged commits were in the journal and not yet in sled.
    replaying_rounds: u32,
    killed_before_first_ack: u32,
    max_round_acks: usize,
}

fn supervise() -> Result<String, String> {
    let seed = match std::env::var(SEED) {
        Ok(s) => s.parse().map_err(|e| format!("{SEED}={s}: {e}"))?,
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64),
    };
    // An explicit round count (a longer stress run) is not cut short by the deadline.
    let (rounds, deadline) = match std::env::var(ROUNDS) {
        Ok(s) => (s.parse().map_err(|e| format!("{ROUNDS}={s}: {e}"))?, None),
        Err(_) => (DEFAULT_ROUNDS, Some(DEADLINE)),
    };
    say(&format!("crash: seed {seed} (replay with {SEED}={seed})"));
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let start = Instant::now();
    // Every record ever acknowledged, by id, with its tag.
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut totals = Totals::default();
    let mut head = 0u64;

    for round in 1..=rounds {
        if let Some(deadline) = deadline.filter(|d| start.elapsed() > *d) {
            say(&format!(
                "crash: stopping after {} rounds: {deadline:?} elapsed",
                totals.rounds
            ));
            break;
        }
        let fail = |what: String| format!("seed {seed}, round {round}: {what}");
        let delay = Duration::from_millis(20 + rng.next() % 281);
        let mut child = Command::new(&exe)
            .env(CHILD, dir.path())
            .env(ROUND, round.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| fail(format!("spawn: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| fail("no stdout".into()))?;
        // Read while the child runs, so it never blocks on a full pipe.
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            BufReader::new(stdout).read_to_end(&mut out).map(|_| out)
        });
        std::thread::sleep(delay);
        if let Some(status) = child.try_wait().map_err(|e| fail(e.to_string()))? {
            return Err(fail(format!("the child exited by itself: {status}")));
        }
        child.kill().map_err(|e| fail(format!("kill: {e}")))?;
        child.wait().map_err(|e| fail(format!("wait: {e}")))?;
        let out = reader
            .join()
            .map_err(|_| fail("stdout reader panicked".into()))?
            .map_err(|e| fail(format!("reading the child's stdout: {e}")))?;
        // Only whole lines are acknowledgements: a line cut by the kill was never completely
        // printed. (A short line is one `write`, atomic on a pipe, so none is expected.)
        let out = String::from_utf8_lossy(&out);
        let mut round_acks = 0;
        for line in out.split_inclusive('\n') {
            let Some(line) = line.strip_suffix('\n') else {
                say(&format!(
                    "crash: round {round}: ignoring a cut line {line:?}"
                ));
                continue;
            };
            let Some((id, tag)) = line.split_once(' ') else {
                return Err(fail(format!("unexpected child output {line:?}")));
            };
            let id: u64 = id
                .parse()
                .map_err(|e| fail(format!("bad id in {line:?}: {e}")))?;
            if id <= head {
                return Err(fail(format!(
                    "id {id} acknowledged again (the last round ended at {head})"
                )));
            }
            if acked.insert(id, tag.to_owned()).is_some() {
                return Err(fail(format!("id {id} acknowledged twice")));
            }
            round_acks += 1;
        }

        // What the kill left, before opening adopts anything: the last record on disk and
        // the last signed head, in sled or in the commit journal (where a commit becomes
        // durable; sled catches up with it when the archive opens). Records past the head
        // were written, never acknowledged.
        let (on_disk, signed_in_sled) = inspect(dir.path()).map_err(&fail)?;
        let journaled = archive::journaled_head(dir.path())
            .map_err(|e| fail(format!("reading the journal: {e}")))?
            .map_or(0, |head| head.upto_id);
        let signed = signed_in_sled.max(journaled);
        if let Some(id) = acked.keys().next_back().filter(|id| **id > signed) {
            return Err(fail(format!(
                "record {id} was acknowledged but the signed head on disk covers only {signed}"
            )));
        }
        // The high-water mark is written after the commit is durable: a kill may leave it
        // behind the signed head on disk, never ahead (ahead would read as a rollback on open).
        let mark = archive::high_water_mark::read(dir.path())
            .map_err(|e| fail(format!("reading the mark: {e}")))?
            .map(|bytes| archive::high_water_mark::parse(&bytes, None).map(|m| m.upto_id));
        if let Some(mark) = &mark {
            match mark {
                Ok(mark) if *mark <= signed => {}
                other => {
                    return Err(fail(format!(
                        "the high-water mark after the kill is {other:?}, the signed head {signed}"
                    )));
                }
            }
        }
        let unsigned = on_disk.saturating_sub(signed);
        let a = open(dir.path()).map_err(&fail)?;
        let stored: BTreeMap<u64, String> = a
            .all_records()
            .map(|r| r.map(|r| (r.id, r.event.text)))
            .collect::<Result<_, _>>()
            .map_err(|e| fail(format!("reading records: {e}")))?;
        for (id, tag) in &acked {
            match stored.get(id) {
                Some(text) if text == tag => {}
                Some(text) => {
                    return Err(fail(format!(
                        "acknowledged record {id} ({tag}) reads back as {text:?}"
                    )));
                }
                None => {
                    return Err(fail(format!(
                        "acknowledged record {id} ({tag}) is missing after SIGKILL; the \
                         store holds {} records, last id {:?}",
                        stored.len(),
                        stored.keys().next_back()
                    )));
                }
            }
        }
        // The index follows the writer, so a kill leaves it behind the records: open must
        // re-index, and a search by user and one by time find every record.
        for query in [
            Query {
                user: Some("alice".into()),
                ..Query::default()
            },
            Query::default(),
        ] {
            let mut found: Vec<u64> = a
                .search(&query)
                .map(|r| r.map(|r| r.id))
                .collect::<Result<_, _>>()
                .map_err(|e| fail(format!("searching: {e}")))?;
            found.sort_unstable();
            if !found.iter().copied().eq(stored.keys().copied()) {
                return Err(fail(format!(
                    "a search ({query:?}) finds {} records of {} after SIGKILL",
                    found.len(),
                    stored.len()
                )));
            }
        }
        let new_head = stored.keys().next_back().copied().unwrap_or(0);
        if stored.keys().copied().ne(1..=new_head) {
            return Err(fail(format!(
                "ids are not 1..={new_head} without gaps ({} records)",
                stored.len()
            )));
        }
        let prefix = format!("r{round}-");
        let mut unacked = 0;
        for (id, text) in stored.range(head + 1..) {
            if !text.starts_with(&prefix) {
                return Err(fail(format!(
                    "record {id} ({text:?}) appeared in round {round}"
                )));
            }
            if !acked.contains_key(id) {
                unacked += 1;
            }
        }
        // Opening brings sled up to the journal, then adopts an unsigned tail: the head is
        // whichever of the two reached further.
        if on_disk.max(journaled) != new_head {
            return Err(fail(format!(
                "the store ended at {on_disk} in sled and {journaled} in the journal after the \
                 kill, but at {new_head} once opened"
            )));
        }
        // Store::open adopts and signs records past the last signed head, so nothing may
        // be left unsigned and the chain must end exactly at the signed head.
        let report = a.verify().map_err(|e| fail(format!("verify: {e}")))?;
        if !report.is_intact()
            || report.unsigned_tail != 0
            || report.records != new_head
            // The mark names the signed head once there is one: an empty archive a
            // previous round closed (its close checkpoint signs head 0) has a mark at 0.
            || report.high_water_mark
                != (new_head > 0 || report.signed_head.is_some()).then_some(new_head)
        {
            return Err(fail(format!("verify after SIGKILL: {report:?}")));
        }
        drop(a);

        totals.rounds += 1;
        totals.acknowledged += round_acks;
        totals.unacknowledged += unacked;
        totals.adopted += unsigned;
        totals.adopting_rounds += u32::from(unsigned > 0);
        totals.replaying_rounds += u32::from(journaled > signed_in_sled);
        totals.max_round_acks = totals.max_round_acks.max(round_acks);
        if round_acks == 0 {
            totals.killed_before_first_ack += 1;
        }
        say(&format!(
            "crash: round {round}: killed after {delay:?}: {round_acks} acknowledged, \
             {unacked} more written, {unsigned} past the signed head (adopted), head {new_head}, \
             {} checkpoints",
            report.checkpoints
        ));
        head = new_head;
    }
    // Let the last parent-side writer finish its close checkpoint before the directory goes.
    wait_closed(dir.path())?;
    if totals.acknowledged == 0 {
        return Err(format!(
            "seed {seed}: no child acknowledged anything; the test proved nothing"
        ));
    }
    Ok(format!(
        "crash: {} rounds, {} acknowledged records, all present, chain intact ({} more written \
         before the kill; {} past the signed head, adopted on open in {} rounds; the journal \
         ahead of sled in {} rounds; at most {} acks in a round; {} rounds killed before the \
         first ack), {:.1} s",
        totals.rounds,
        totals.acknowledged,
        totals.unacknowledged,
        totals.adopted,
        totals.adopting_rounds,
        totals.replaying_rounds,
        totals.max_round_acks,
        totals.killed_before_first_ack,
        start.elapsed().as_secs_f64()
    ))
}

/// The last record id in the store and the record id its signed head covers, read straight
/// from sled (the archive's `open` would adopt an unsigned tail first).
fn inspect(dir: &Path) -> Result<(u64, u64), String> {
    let start = Instant::now();
    let db = loop {
        match sled::open(dir.join("db")) {
            Ok(db) => break db,
            Err(_) if start.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("sled open: {e}")),
        }
    };
    let err = |e: sled::Error| e.to_string();
    let last = db
        .open_tree("records")
        .map_err(err)?
        .last()
        .map_err(err)?
        .map_or(Ok(0), |(k, _)| {
            <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| "bad record key".to_owned())
        })?;
    let signed = match db
        .open_tree("meta")
        .map_err(err)?
        .get("signed_head")
        .map_err(err)?
    {
        Some(bytes) => {
            postcard::from_bytes::<archive::Checkpoint>(&bytes)
                .map_err(|e| format!("signed head: {e}"))?
                .upto_id
        }
        None => 0,
    };
    Ok((last, signed))
}

/// Waits until no archive handle in this process holds the store.
fn wait_closed(dir: &Path) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match sled::open(dir.join("db")) {
            Ok(db) => return db.flush().map(drop).map_err(|e| e.to_string()),
            Err(_) if start.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("store still held: {e}")),
        }
    }
}
