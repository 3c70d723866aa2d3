#![no_main]
// The archive's high-water mark file (`<archive>/head`), read at every open and by `verify`:
// any bytes give a mark or a reason it cannot be trusted, never a panic, and nothing but a
// file of exactly two 512-byte slots is ever trusted.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let parsed = archive::high_water_mark::parse(data, None);
    assert!(parsed.is_err() || data.len() == 1024);
});
