#![no_main]
// Bytes walked as a block of the sensor's capture ring (what the kernel writes there): no
// panic, every frame inside the block, the walk always ends.
libfuzzer_sys::fuzz_target!(|data: &[u8]| sensor::fuzzing::ring_block(data));
