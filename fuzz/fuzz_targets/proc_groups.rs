#![no_main]
// The `Groups:` line of /proc/<pid>/status, which the admin socket reads to decide whether a
// peer is in the admin group: any bytes give a list or an error, never a panic, and never
// more groups than a process can have.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(groups) = archive_servers::parse_proc_groups(data) {
        assert!(groups.len() <= 65_536);
    }
});
