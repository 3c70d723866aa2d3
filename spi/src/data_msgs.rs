//! What a data message is (reference §5.4, §6.3), and plain text from rich-text HTML.
//!
//! Data messages are not chat text: typing notices, the rich-text capability exchange and
//! inline images. This slice keeps them as counts in the session's end record; it never
//! stores their bytes.

/// The data type IBM's sample parses capability and image payloads under (0x6A37).
pub const RICH_DATA_TYPE: u64 = 27191;
/// The Sametime IM data type of a typing notice.
pub const TYPING_DATA_TYPE: u64 = 1;

/// `00 04 "data" 00 08 "richtext"`: a rich-text capability announcement, followed by one
/// byte (0xEE supported, anything else, normally 0xDF, not).
const RICH_TEXT_PREFIX: &[u8] = b"\x00\x04data\x00\x08richtext";
/// `00 04 "data" 00 05 "image"`: an inline image, whose bytes follow.
const IMAGE_PREFIX: &[u8] = b"\x00\x04data\x00\x05image";

/// One data message, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMsg {
    /// The sender started (`stopped == false`) or stopped typing.
    Typing {
        /// Sub-type non-zero.
        stopped: bool,
    },
    /// The sender's client does or does not render rich text (HTML).
    RichTextCapability {
        /// Whether it does.
        supported: bool,
    },
    /// An inline image of `bytes` bytes (after the prefix).
    Image {
        /// The image's size.
        bytes: usize,
    },
    /// Anything else, kept as its type and sub-type.
    Other {
        /// `dataType`.
        data_type: u64,
        /// `dataSubType`.
        sub_type: u64,
    },
}

/// Classifies a data message by its type, sub-type and payload prefix.
pub fn classify(data_type: u64, sub_type: u64, payload: &[u8]) -> DataMsg {
    if data_type == TYPING_DATA_TYPE {
        return DataMsg::Typing {
            stopped: sub_type != 0,
        };
    }
    if data_type == RICH_DATA_TYPE && sub_type == 0 {
        if payload.len() == RICH_TEXT_PREFIX.len() + 1 && payload.starts_with(RICH_TEXT_PREFIX) {
            return DataMsg::RichTextCapability {
                supported: payload.last() == Some(&0xEE),
            };
        }
        if payload.len() > IMAGE_PREFIX.len() && payload.starts_with(IMAGE_PREFIX) {
            return DataMsg::Image {
                bytes: payload.len() - IMAGE_PREFIX.len(),
            };
        }
    }
    DataMsg::Other {
        data_type,
        sub_type,
    }
}

/// Plain text from a rich-text message, rendered as the relay renders AIM's HTML
/// (`oscar::html_to_plain`: tags dropped, line breaks kept, entities decoded), without
/// trailing line breaks. Not an HTML parser; the record's `raw` keeps the original.
pub fn html_to_text(html: &str) -> String {
    oscar::html_to_plain(html).trim_end_matches('\n').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_vectors_classify() {
        let rich = b"\x00\x04data\x00\x08richtext\xEE";
        assert_eq!(rich.len(), 17);
        assert_eq!(
            classify(RICH_DATA_TYPE, 0, rich),
            DataMsg::RichTextCapability { supported: true }
        );
        let plain = b"\x00\x04data\x00\x08richtext\xDF";
        assert_eq!(
            classify(RICH_DATA_TYPE, 0, plain),
            DataMsg::RichTextCapability { supported: false }
        );
        let image = b"\x00\x04data\x00\x05image\x89PNG\x00\x00";
        assert_eq!(
            classify(RICH_DATA_TYPE, 0, image),
            DataMsg::Image { bytes: 6 }
        );
        assert_eq!(classify(1, 0, &[]), DataMsg::Typing { stopped: false });
        assert_eq!(
            classify(9, 2, b"x"),
            DataMsg::Other {
                data_type: 9,
                sub_type: 2
            }
        );
    }

    #[test]
    fn html_becomes_plain_text() {
        assert_eq!(
            html_to_text("<span style=\"x\">Hi <b>Alice</b> &amp; co</span>"),
            "Hi Alice & co"
        );
        assert_eq!(html_to_text("a<br>b &lt;3"), "a\nb <3");
        assert_eq!(html_to_text("1 < 2"), "1 < 2");
        assert_eq!(html_to_text("&amp;lt;"), "&lt;");
    }
}
