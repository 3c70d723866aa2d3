#![no_main]
// See archive::fuzzing::journal: the archive's commit journal, read at every open.
libfuzzer_sys::fuzz_target!(|data: &[u8]| archive::fuzzing::journal(data));
