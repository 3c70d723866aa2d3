#![no_main]
// See policy::fuzzing::directory.
libfuzzer_sys::fuzz_target!(|data: &[u8]| policy::fuzzing::directory(data));
