//! Message text: charset decoding (oscar.md §4.2) and the plain-text rendering of the HTML
//! most clients wrap their messages in. The raw bytes are always kept alongside.

use std::fmt;

use bytes::Bytes;

/// The charset word of an ICBM text fragment.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Charset(pub u16);

impl Charset {
    /// "ASCII"; in practice Windows-1252 / Latin-1 (decoded as Latin-1).
    pub const ASCII: Self = Self(0x0000);
    /// UCS-2BE, decoded as UTF-16BE (tolerating surrogate pairs, as libpurple does).
    pub const UCS2BE: Self = Self(0x0002);
    /// ISO-8859-1.
    pub const LATIN1: Self = Self(0x0003);

    /// Decodes `raw` in this charset. Never fails: undecodable input is rendered with
    /// replacement characters, because the raw bytes are archived next to it anyway.
    pub fn decode(self, raw: &[u8]) -> String {
        match self {
            Self::UCS2BE => {
                let units: Vec<u16> = raw
                    .chunks(2)
                    .map(|c| match *c {
                        [hi, lo] => u16::from_be_bytes([hi, lo]),
                        _ => 0xfffd,
                    })
                    .collect();
                String::from_utf16_lossy(&units)
            }
            Self::ASCII | Self::LATIN1 => match std::str::from_utf8(raw) {
                // Pure ASCII is valid in all three; anything else is Latin-1 by definition.
                Ok(s) if raw.is_ascii() => s.to_owned(),
                _ => latin1(raw),
            },
            // Unknown charsets (0x000D from iChat, others): UTF-8, then Latin-1.
            Self(_) => match std::str::from_utf8(raw) {
                Ok(s) => s.to_owned(),
                Err(_) => latin1(raw),
            },
        }
    }

    /// Decodes the charset named in a chat message's encoding TLV (`us-ascii`,
    /// `unicode-2-0`, `iso-8859-1`, `utf-8`).
    pub fn from_chat_encoding(name: &[u8]) -> Self {
        match name.to_ascii_lowercase().as_slice() {
            b"unicode-2-0" | b"utf-16be" | b"ucs-2" => Self::UCS2BE,
            b"iso-8859-1" | b"latin1" | b"windows-1252" => Self::LATIN1,
            b"us-ascii" | b"ascii" => Self::ASCII,
            _ => Self(0xffff),
        }
    }

    /// Encodes `text` in this charset for sending (lab and injected notices). Characters a
    /// charset cannot hold become `?`.
    pub fn encode(self, text: &str) -> Bytes {
        match self {
            Self::UCS2BE => text
                .encode_utf16()
                .flat_map(u16::to_be_bytes)
                .collect::<Vec<u8>>()
                .into(),
            Self::ASCII | Self::LATIN1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect::<Vec<u8>>()
                .into(),
            Self(_) => Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    /// The charset to send `text` in: ASCII when it fits, UCS-2BE otherwise (libpurple's rule).
    pub fn for_text(text: &str) -> Self {
        if text.is_ascii() {
            Self::ASCII
        } else {
            Self::UCS2BE
        }
    }
}

impl fmt::Debug for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ASCII => f.write_str("ASCII"),
            Self::UCS2BE => f.write_str("UCS2BE"),
            Self::LATIN1 => f.write_str("LATIN1"),
            Self(other) => write!(f, "Charset({other:#06x})"),
        }
    }
}

fn latin1(raw: &[u8]) -> String {
    raw.iter().map(|&b| char::from(b)).collect()
}

/// One piece of message text as sent: the raw bytes, their charset, the decoded text
/// (HTML kept as sent) and a plain-text rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText {
    /// Charset word from the fragment (or derived from a chat encoding name).
    pub charset: Charset,
    /// Charset subset word (0x0000 or 0xFFFF); kept for fidelity.
    pub subset: u16,
    /// The exact text bytes from the wire.
    pub raw: Bytes,
    /// The decoded text, HTML markup included, as the sender wrote it.
    pub html: String,
    /// Tags stripped, entities decoded, `<br>` as newlines.
    pub plain: String,
}

impl MessageText {
    /// Decodes `raw` in `charset` and renders its plain text.
    pub fn decode(charset: Charset, subset: u16, raw: Bytes) -> Self {
        let html = charset.decode(&raw);
        let plain = html_to_plain(&html);
        Self {
            charset,
            subset,
            raw,
            html,
            plain,
        }
    }
}

/// Plain text as the HTML body AIM servers deliver and AIM clients write
/// (`<HTML><BODY>…</BODY></HTML>`), with `& < > " '` escaped and line breaks as `<BR>`: what
/// the gateway says itself (notices, disclaimers) reaches clients that show only HTML bodies,
/// and nothing in it can be taken for markup.
pub fn html_body(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 26);
    out.push_str("<HTML><BODY>");
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("<BR>");
        }
        for piece in line.split('\r') {
            record::escape_markup_into(&mut out, piece);
        }
    }
    out.push_str("</BODY></HTML>");
    out
}

/// Renders message HTML as plain text: tags dropped, `<br>`/`<p>` as line breaks, the
/// common entities and numeric character references decoded. Text that is not HTML comes
/// through unchanged apart from entities.
pub fn html_to_plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // Once no '>' is left, no '<' can open a tag: remembering that keeps hostile input such
    // as 64 KiB of '<' linear instead of quadratic.
    let mut tags_possible = true;
    while let Some(pos) = rest.find(['<', '&']) {
        let (text, tail) = rest.split_at(pos);
        out.push_str(text);
        if let Some(after_lt) = tail.strip_prefix('<') {
            let tag = if tags_possible {
                after_lt.split_once('>')
            } else {
                None
            };
            tags_possible = tag.is_some();
            match tag {
                Some((tag, after)) => {
                    let tag = tag.trim().to_ascii_lowercase();
                    let closing = tag.starts_with('/');
                    let name = tag
                        .trim_start_matches('/')
                        .split(|c: char| c.is_whitespace() || c == '/')
                        .next()
                        .unwrap_or("");
                    if name == "br" || (name == "p" && closing) {
                        out.push('\n');
                    }
                    rest = after;
                }
                None => {
                    // A lone '<' is text, not a tag.
                    out.push('<');
                    rest = after_lt;
                }
            }
        } else {
            let after_amp = tail.strip_prefix('&').unwrap_or(tail);
            match decode_entity(after_amp) {
                Some((ch, after)) => {
                    out.push(ch);
                    rest = after;
                }
                None => {
                    out.push('&');
                    rest = after_amp;
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes the entity at the start of `s` (just after its '&'): the character and the
/// text after the entity's ';'.
fn decode_entity(s: &str) -> Option<(char, &str)> {
    // Entities are short; look no further than that for the ';' so the scan stays bounded.
    let semi = s.bytes().take(12).position(|b| b == b';')?;
    let (body, after) = s.split_at(semi);
    let after = after.strip_prefix(';')?;
    let ch = match body {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => {
            let num = body.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse::<u32>().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((ch, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_three_charsets() {
        assert_eq!(Charset::ASCII.decode(b"hi"), "hi");
        assert_eq!(Charset::LATIN1.decode(&[0x63, 0x61, 0x66, 0xe9]), "café");
        assert_eq!(
            Charset::UCS2BE.decode(&[0x00, 0x63, 0x00, 0xe9, 0xd8, 0x3d, 0xde, 0x00]),
            "cé😀"
        );
    }

    #[test]
    fn odd_length_ucs2_does_not_panic() {
        assert_eq!(Charset::UCS2BE.decode(&[0x00, 0x41, 0x00]), "A\u{fffd}");
    }

    #[test]
    fn encode_then_decode_round_trips() {
        for text in ["plain", "café", "snowman ☃ and 😀"] {
            let cs = Charset::for_text(text);
            assert_eq!(cs.decode(&cs.encode(text)), text);
        }
    }

    #[test]
    fn html_is_rendered_as_plain_text() {
        let html = "<HTML><BODY BGCOLOR=\"#ffffff\"><FONT LANG=\"0\">hi &amp; bye<BR>x &lt;3 &#233;</FONT></BODY></HTML>";
        assert_eq!(html_to_plain(html), "hi & bye\nx <3 é");
        assert_eq!(html_to_plain("a < b & c"), "a < b & c");
        assert_eq!(html_to_plain("unterminated <b"), "unterminated <b");
        assert_eq!(html_to_plain("a <b>x</b> 1 < 2"), "a x 1 < 2");
        assert_eq!(
            html_to_plain("&amp;&;&#x41;&verylongentityname;"),
            "&&;A&verylongentityname;"
        );
    }

    #[test]
    fn hostile_markup_is_rendered_in_linear_time() {
        // 64 KiB of '<' or '&' once rescanned the rest of the text for every byte. Speed is
        // for the benchmarks; this checks such input still renders verbatim.
        for ch in ["<", "&"] {
            let hostile = ch.repeat(64 * 1024);
            assert_eq!(html_to_plain(&hostile), hostile);
        }
    }

    #[test]
    fn an_html_body_escapes_and_renders_back_to_the_same_text() {
        let text = "[IMtegrity] <b>not</b> & \"it's\"\nline two";
        let body = html_body(text);
        assert!(body.starts_with("<HTML><BODY>") && body.ends_with("</BODY></HTML>"));
        assert!(!body.contains("<b>"), "{body}");
        assert_eq!(html_to_plain(&body), text);
    }
}
