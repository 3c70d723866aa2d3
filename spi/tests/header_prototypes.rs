//! The header declares a prototype for each of the library's 16 entry points, of the type a
//! host resolving it with dlsym would use: a C program linking the library through those
//! prototypes compiles under -Werror, runs, and names exactly the library's exports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod c_host_harness;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

#[test]
fn every_entry_point_has_a_prototype_of_its_type_and_links() {
    let library = c_host_harness::library();
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("prototypes");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/host/prototypes.c");
    let lib_dir = library.parent().unwrap();
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(&source)
        .arg(format!("-L{}", lib_dir.display()))
        .arg("-l:libimtegrity_stchatlog.so")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .status()
        .expect("cc (apt-get install build-essential)");
    assert!(status.success(), "cc failed on {}", source.display());
    let out = Command::new(&exe).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.ends_with("clean 0\n"), "{stdout}");
    // The header's default codes are the library's.
    let codes = imtegrity_stchatlog::config::Codes::default();
    let expected = format!(
        "codes {} {} {}\n",
        codes.db_error, codes.msg_changed, codes.session_creation_declined
    );
    assert!(stdout.contains(&expected), "{stdout}");
    let declared: BTreeSet<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("stDdaCl"))
        .collect();
    assert_eq!(declared.len(), 16, "{stdout}");

    // The library's own exports of that family, read with nm: the same 16 names.
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&library)
        .output()
        .expect("nm (apt-get install binutils)");
    let symbols = String::from_utf8_lossy(&nm.stdout);
    let exported: BTreeSet<&str> = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|name| name.starts_with("stDdaCl"))
        .collect();
    assert_eq!(declared, exported);
}
