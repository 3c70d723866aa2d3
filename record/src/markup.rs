//! Captured text placed in HTML or XML. Everything a record holds came off the network (an
//! IM's text is HTML its sender wrote), so wherever it is shown as markup, each character
//! that could open a tag, an entity or end an attribute is escaped: the gateway's own
//! notices to AIM clients, the HTML part of an exported message, the lab server's XML.

/// Appends `text` to `out` with `& < > " '` escaped, so it reads as text in an element or a
/// quoted attribute of HTML or XML.
pub fn escape_markup_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// [`escape_markup_into`] a new string.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_markup_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::escape_markup;

    #[test]
    fn nothing_can_open_a_tag_an_entity_or_end_an_attribute() {
        assert_eq!(
            escape_markup(r#"<a href='x' title="y">&amp;</a> é"#),
            "&lt;a href=&#39;x&#39; title=&quot;y&quot;&gt;&amp;amp;&lt;/a&gt; é"
        );
    }
}
