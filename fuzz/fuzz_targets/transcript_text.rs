#![no_main]
// Captured text as a transcript shows it (search, EML): whatever a message holds, its lines
// after the first start with the continuation mark, so none can pass for a record line; no
// character a viewer takes for a line break or a control survives but the newline before a
// mark; a name never spans lines.
use archive::export::transcript_text::{CONTINUATION, message_text, single_line};

fn visible(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{061C}' | '\u{200E}' | '\u{200F}'
        )
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c))
        || c == '\t'
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let shown = message_text(&text);
    for (i, line) in shown.split('\n').enumerate() {
        assert!(i == 0 || line.starts_with(CONTINUATION), "{line:?}");
        assert!(line.chars().all(visible), "{line:?}");
    }
    let name = single_line(&text);
    assert!(name.chars().all(visible), "{name:?}");
});
