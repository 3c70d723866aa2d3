//! Shipping through the C ABI, as the server drives it: `stDdaClInit` starts the shipper from
//! the environment, `stDdaClTerminate` joins it, and a second Init (in the same process and
//! in a new one) keeps the spool's source id and resends nothing the gateway acknowledged.
//! The configuration is the process environment, so the library runs in a child process
//! (this test binary again, running [`child_process`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_gateway;

use std::ffi::{CString, c_char, c_int};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_gateway::FakeGateway;
use imtegrity_stchatlog::Spool;
use imtegrity_stchatlog::entry_points::{
    stDdaClInit, stDdaClSessionEnded, stDdaClSessionStarted, stDdaClTerminate,
};

const TOKEN: &str = "abi-token-5f0e4c2a9b7d13e86a4f0c2d";

fn init() {
    let mut version: c_int = 16;
    let mut inside: c_int = 0;
    let mut dir_type = [0 as c_char; 64];
    let mut lib_version = [0 as c_char; 64];
    // Kept until Terminate, as the server does.
    let ret_msg: &'static mut [c_char; 1024] = Box::leak(Box::new([0; 1024]));
    let ret_code: &'static mut c_int = Box::leak(Box::new(0));
    // SAFETY: valid pointers; the retained buffers are leaked, so they outlive Terminate.
    let code = unsafe {
        stDdaClInit(
            &mut version,
            0,
            &mut inside,
            dir_type.as_mut_ptr(),
            lib_version.as_mut_ptr(),
            ret_code,
            ret_msg.as_mut_ptr(),
        )
    };
    // SAFETY: the library writes a NUL-terminated reason into the 1024-byte buffer.
    let reason = unsafe { std::ffi::CStr::from_ptr(ret_msg.as_ptr()) };
    assert_eq!(code, 0, "stDdaClInit failed: {reason:?}");
}

fn chat(id: &str) {
    let id = CString::new(id).unwrap();
    // SAFETY: a NUL-terminated string, valid for the call.
    assert_eq!(unsafe { stDdaClSessionStarted(id.as_ptr()) }, 0);
    // SAFETY: as above.
    assert_eq!(unsafe { stDdaClSessionEnded(id.as_ptr()) }, 0);
}

/// Set in the child process this test file runs itself as.
const CHILD_ENV: &str = "SHIPPING_ABI_CHILD";

/// Not a test on its own: the library as a child process runs it (see below). It logs one
/// chat per line read from stdin, then Terminates (and Inits again for the next line).
#[test]
fn child_process() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let mut stdin = std::io::stdin().lock();
    loop {
        let mut line = String::new();
        stdin.read_line(&mut line).unwrap();
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        init();
        chat(line);
        println!("logged {line}");
        // Wait for the parent to see the records at the gateway.
        let mut ack = String::new();
        stdin.read_line(&mut ack).unwrap();
        stDdaClTerminate();
    }
}

/// Runs [`child_process`] with the library configured for `gateway`, logging `chats`; each
/// is shipped (the gateway then stores `stored_after[i]` records) before Terminate.
fn run_child(spool: &Path, gateway: &FakeGateway, chats: &[&str], stored_after: &[usize]) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env("IMTEGRITY_SPI_SPOOL", spool)
        .env("IMTEGRITY_SPI_GATEWAY", gateway.addr.to_string())
        .env("IMTEGRITY_SPI_TOKEN", TOKEN)
        .env_remove("IMTEGRITY_SPI_TOKEN_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for (chat, stored) in chats.iter().zip(stored_after) {
        writeln!(stdin, "{chat}").unwrap();
        gateway.wait_for(chat, |st| st.stored.len() == *stored);
        // The ack is handled microseconds after the fake stores; leave it time to delete.
        std::thread::sleep(Duration::from_millis(300));
        writeln!(stdin).unwrap();
    }
    writeln!(stdin).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_restart_keeps_the_source_id_and_resends_nothing_acked() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let gateway = FakeGateway::start("127.0.0.1:0".parse().unwrap(), TOKEN, &[]);

    // Init, chat, Terminate, Init, chat, Terminate in one process; then a new process.
    run_child(&spool, &gateway, &["first", "second"], &[2, 4]);
    let source = {
        let spool = Spool::open(&spool).unwrap();
        assert!(spool.is_empty(), "acknowledged records are deleted");
        spool.source().to_owned()
    };
    run_child(&spool, &gateway, &["third"], &[6]);
    assert!(Spool::open(&spool).unwrap().is_empty());

    let st = gateway.state.lock().unwrap();
    assert_eq!(st.duplicates, 0, "nothing acknowledged was resent");
    assert!(
        st.requests
            .iter()
            .all(|r| r.source == source && r.status == 200)
    );
    let sent: Vec<u64> = st.requests.iter().flat_map(|r| r.seqs.clone()).collect();
    assert_eq!(sent.len(), 6);
    assert!(sent.windows(2).all(|w| w[0] < w[1]));
    let sessions: Vec<String> = st
        .stored
        .values()
        .map(|e| {
            let d: serde_json::Value = serde_json::from_str(e.detail.as_deref().unwrap()).unwrap();
            d["session"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        sessions,
        ["first", "first", "second", "second", "third", "third"]
    );
}
