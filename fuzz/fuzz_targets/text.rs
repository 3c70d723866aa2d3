#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| oscar::fuzzing::text(data));
