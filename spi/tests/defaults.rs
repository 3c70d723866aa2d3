//! Defaults that work: with no configuration at all, the library spools to a
//! state directory the server's user can write, not next to itself (a program directory the
//! server's user cannot write), and Init says it found no configuration file and where it
//! looked. The library is loaded by a C host (`tests/host/line_host.c`).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod c_host_harness;
mod line_host_driver;

use std::path::Path;

use imtegrity_stchatlog::Spool;
use line_host_driver::{Host, build_line_host};

/// `ST_DDA_WARNING`.
const SEV_WARNING: i32 = 2;

/// Runs a short chat with no configuration, under `env`; Init's message and the texts
/// spooled in `expected_spool`.
fn chat_unconfigured(host: &Path, env: &[(&str, Option<&Path>)], expected_spool: &Path) -> String {
    let mut h = Host::start_unconfigured(host, env);
    let init = h.call("init");
    assert_eq!((init.rc, init.sev), (0, SEV_WARNING), "{init:?}");
    h.ok("start s1");
    h.ok("join s1 alice");
    h.ok("join s1 bob");
    h.ok("msg s1 alice bob hello defaults");
    h.ok("end s1");
    h.finish();
    let texts: Vec<String> = Spool::read_all(expected_spool)
        .unwrap()
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert!(texts.contains(&"hello defaults".to_owned()), "{texts:?}");
    init.msg
}

#[test]
fn without_configuration_the_spool_is_a_state_directory_and_init_says_so() {
    let work = tempfile::tempdir().unwrap();
    let host = build_line_host(work.path());

    let state = work.path().join("state");
    let spool = state.join("imtegrity/stchatlog");
    let said = chat_unconfigured(
        &host,
        &[
            ("XDG_STATE_HOME", Some(&state)),
            ("HOME", Some(work.path())),
        ],
        &spool,
    );
    assert!(said.starts_with("no configuration file ("), "{said}");
    assert!(
        said.contains("imtegrity_stchatlog.toml not found"),
        "{said}"
    );
    assert!(said.contains(&*spool.to_string_lossy()), "{said}");
    assert!(said.len() < 256 && !said.contains('\n'), "{said}");

    // No XDG_STATE_HOME: under the home directory.
    let home = work.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let spool = home.join(".local/state/imtegrity/stchatlog");
    chat_unconfigured(
        &host,
        &[("XDG_STATE_HOME", None), ("HOME", Some(&home))],
        &spool,
    );
}
