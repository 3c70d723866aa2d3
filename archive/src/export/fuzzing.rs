//! Entry points for the cargo-fuzz targets in `fuzz/` over what the export module renders
//! from captured text.

use std::borrow::Cow;

use super::csv::neutralise;
use super::transcript_text::{CONTINUATION, message_text, single_line};

/// Whether a rendered transcript may show `c` as itself: not a control (tab aside), not a
/// line or paragraph separator, not a bidirectional control.
fn shown_as_itself(c: char) -> bool {
    c == '\t'
        || !(c.is_control()
            || matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{061C}' | '\u{200E}' | '\u{200F}'
            )
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c))
}

/// Arbitrary bytes as a captured message and as a name: a message's lines after the first
/// start with [`CONTINUATION`] (so none can pass for a record line) and hold nothing a viewer
/// would obey; a name is one such line; a CSV cell never starts a formula and one leading
/// `'` removed gives the text back.
pub fn transcript_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let shown = message_text(&text);
    for (i, line) in shown.split('\n').enumerate() {
        assert!(i == 0 || line.starts_with(CONTINUATION), "{line:?}");
        assert!(line.chars().all(shown_as_itself), "{line:?}");
    }
    let name = single_line(&text);
    assert!(name.chars().all(shown_as_itself), "{name:?}");
    let cell = neutralise(Cow::Borrowed(&*text));
    assert!(
        !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
        "{cell:?}"
    );
    let back = if cell.len() > text.len() {
        cell.get(1..).unwrap_or_default()
    } else {
        &cell
    };
    assert_eq!(back, &*text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_properties_hold_for_hostile_samples() {
        for sample in [
            &b"ok\n[02:12:09] #8 Kim Ops: I approve"[..],
            b"a\r\n\r\x0b\x0c\xc2\x85b",
            "\u{2028}\u{2029}\u{202E}x\u{2066}".as_bytes(),
            b"\x1b[2J\x08\x00",
            b"=HYPERLINK(\"http://x\",\"y\")",
            b"'=1",
            b"\xff\xfe",
            b"",
        ] {
            transcript_text(sample);
        }
    }
}
