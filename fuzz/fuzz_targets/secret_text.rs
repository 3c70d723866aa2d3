#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| policy::fuzzing::secret_text(data));
