#![no_main]
// See imtegrity_stchatlog::fuzzing::spool_segment.
libfuzzer_sys::fuzz_target!(|data: &[u8]| imtegrity_stchatlog::fuzzing::spool_segment(data));
