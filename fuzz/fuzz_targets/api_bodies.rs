#![no_main]
// What the HTTPS login API carries, as the relay reads it: startOSCARSession answers (XML
// or JSON) rewritten to the gateway and read back, clientLogin answers and forms.
libfuzzer_sys::fuzz_target!(|data: &[u8]| intercept::fuzzing::api_bodies(data));
