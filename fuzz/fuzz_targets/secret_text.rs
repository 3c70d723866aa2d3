#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| settings::fuzzing::secret_text(data));
