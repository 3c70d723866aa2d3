#![no_main]
// Captured text as a transcript (search, EML) and a CSV cell show it: no message can start a
// record line or carry a control a viewer obeys, no name spans lines, no cell is a formula.
libfuzzer_sys::fuzz_target!(|data: &[u8]| archive::export::fuzzing::transcript_text(data));
