#![no_main]
// See imtegrity_stchatlog::fuzzing::gateway_answer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| imtegrity_stchatlog::fuzzing::gateway_answer(data));
