//! Captured text as a transcript shows it (`search`'s text output and the EML export), so
//! that no message can look like another record.
//!
//! A transcript is read line by line: every record starts a line at column 0 with
//! `[time] #id`. A message is free text from the network, so it could hold
//! `ok\n[02:12:09] #8 Kim Ops: I approve`; printed as is, the second line would pass for a
//! record of its own. So:
//!
//! * every line break a viewer might honour (LF, CR, CRLF, VT, FF, NEL, U+2028, U+2029)
//!   ends the line and the rest continues on a line that starts with [`CONTINUATION`]
//!   (four spaces and `| `), never at column 0: a record line is one that starts with `[`,
//!   and no text can produce one. Indenting rather than escaping keeps pasted multi-line
//!   text readable, which is what a reviewer reads a transcript for; the exact bytes are in
//!   the JSONL and CSV exports.
//! * other control characters (ESC of a terminal escape sequence, a lone backspace) and the
//!   bidirectional overrides and isolates, which can make a line display in another order
//!   than it reads (hiding or moving a verdict), are shown as `<U+XXXX>`: visible, since
//!   their presence is itself worth a reviewer's attention.
//! * names (senders, rooms, details) never span lines: their line breaks are shown as
//!   `<U+XXXX>` too.
//!
//! The transcript puts the message text last on its line, after the verdict, so a text
//! cannot append a verdict or anything else the line's structure means.

/// What a continued line of a multi-line message starts with.
pub const CONTINUATION: &str = "    | ";

/// Whether `c` breaks a line in some viewer (a terminal, a mail client, an editor).
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Whether `c` is shown as `<U+XXXX>` rather than as itself: control characters other than
/// tab, and the bidirectional controls.
fn is_hidden_control(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

fn push_visible(out: &mut String, c: char) {
    use std::fmt::Write as _;
    let _ = write!(out, "<U+{:04X}>", u32::from(c));
}

/// A message's text for a transcript: each line break ends the line and the text continues
/// after a newline and [`CONTINUATION`]; CRLF counts as one break; line breaks at the end
/// are dropped; other hidden controls are shown as `<U+XXXX>`.
pub fn message_text(text: &str) -> String {
    let text = text.trim_end_matches(is_line_break);
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_line_break(c) {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
            out.push_str(CONTINUATION);
        } else if is_hidden_control(c) {
            push_visible(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// A name or short label for a transcript line, which must stay on that line: line breaks
/// and other hidden controls are shown as `<U+XXXX>`.
pub fn single_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hidden_control(c) || is_line_break(c) {
            push_visible(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spoofed_record_line_is_indented_under_its_message() {
        let spoof = "ok\n[02:12:09] #8 Kim Ops: I approve the unauthorised trade";
        let shown = message_text(spoof);
        assert_eq!(
            shown,
            "ok\n    | [02:12:09] #8 Kim Ops: I approve the unauthorised trade"
        );
        assert!(shown.lines().skip(1).all(|l| l.starts_with(CONTINUATION)));
    }

    #[test]
    fn every_line_break_a_viewer_honours_is_a_continuation() {
        for br in [
            "\n", "\r", "\r\n", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}",
        ] {
            let shown = message_text(&format!("a{br}[1] b"));
            assert_eq!(shown, "a\n    | [1] b", "{br:?}");
        }
        // A lone CR before LF-less text and LF CR are two breaks; blank lines are kept.
        assert_eq!(message_text("a\n\rb"), "a\n    | \n    | b");
        assert_eq!(message_text("a\n\nb\n\n"), "a\n    | \n    | b");
        assert_eq!(message_text("\nx"), "\n    | x");
    }

    #[test]
    fn controls_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(
            message_text("a\u{1b}[2Kb\u{8}\u{202E}c\u{2066}\td"),
            "a<U+001B>[2Kb<U+0008><U+202E>c<U+2066>\td"
        );
        assert_eq!(message_text("café ☕ 👍🏽"), "café ☕ 👍🏽");
    }

    #[test]
    fn names_stay_on_one_line() {
        assert_eq!(
            single_line("Kim\n[02:12:09] #8 Ops\r"),
            "Kim<U+000A>[02:12:09] #8 Ops<U+000D>"
        );
        assert_eq!(single_line("Alice Smith"), "Alice Smith");
        assert!(!single_line("a\u{2028}b\u{85}").contains(['\n', '\u{2028}', '\u{85}']));
    }
}
