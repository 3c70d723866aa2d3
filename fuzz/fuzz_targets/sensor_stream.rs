#![no_main]
// Captured frames through the whole sensor: packet parsing, flow table, reassembly, OSCAR
// and TLS detection, passive decoding; the memory bounds are asserted after every record.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sensor::fuzzing::sensor_stream(data));
