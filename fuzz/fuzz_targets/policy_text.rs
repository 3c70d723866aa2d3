#![no_main]
// See policy::fuzzing::policy_text.
libfuzzer_sys::fuzz_target!(|data: &[u8]| policy::fuzzing::policy_text(data));
