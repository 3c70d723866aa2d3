#![no_main]
// An HTTP proxy's answer to CONNECT, read as the relay reads it before the upstream's OSCAR.
libfuzzer_sys::fuzz_target!(|data: &[u8]| intercept::fuzzing::http_connect_reply(data));
