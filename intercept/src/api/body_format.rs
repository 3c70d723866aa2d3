//! The two answer formats of AOL's web API (`f=xml` and `f=json`, oscar.md §2.5), told apart
//! by the body itself, and a walk over an XML answer's text fields that can replace them.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesEnd, BytesRef, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

/// How an answer body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `<response>…</response>`.
    Xml,
    /// `{"response":{…}}`.
    Json,
}

impl Format {
    /// The format of `body`, from its first non-blank byte.
    pub(crate) fn of(body: &[u8]) -> Option<Self> {
        match body.iter().find(|b| !b.is_ascii_whitespace())? {
            b'<' => Some(Self::Xml),
            b'{' => Some(Self::Json),
            _ => None,
        }
    }
}

/// Rewrites an XML document: `edit` sees the text of each leaf element (one without child
/// elements; entity references and CDATA resolved, comments and processing instructions
/// skipped) with the path of element names leading to it (`["response", "data", "host"]`),
/// and may return a replacement, which becomes the element's whole content. Everything else
/// is written back as it came.
pub(crate) fn rewrite_xml(
    body: &[u8],
    mut edit: impl FnMut(&[String], &str) -> Option<String>,
) -> Result<Vec<u8>, &'static str> {
    let text = std::str::from_utf8(body).map_err(|_| "XML is not UTF-8")?;
    let mut reader = Reader::from_str(text);
    let mut writer = Writer::new(Vec::with_capacity(body.len() + 64));
    let mut path: Vec<String> = Vec::new();
    // The innermost open element's content, held until we know whether it is a leaf.
    let mut held: Vec<Event<'_>> = Vec::new();
    let mut held_text = String::new();
    // Whether the innermost open element has had a child element.
    let mut has_child: Vec<bool> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|_| "malformed XML")?;
        match event {
            // A document cut short might have said anything after the cut.
            Event::Eof if !path.is_empty() => return Err("truncated XML"),
            Event::Eof => break,
            Event::Text(_)
            | Event::GeneralRef(_)
            | Event::CData(_)
            | Event::Comment(_)
            | Event::PI(_)
                if !path.is_empty() =>
            {
                match &event {
                    Event::Text(t) => held_text.push_str(&t.xml10_content()),
                    Event::GeneralRef(r) => held_text.push_str(&resolve_ref(r)?),
                    Event::CData(c) => held_text.push_str(&c.xml10_content()),
                    _ => {}
                }
                held.push(event);
            }
            Event::Start(start) => {
                // The parent is not a leaf: its content so far goes out as it came.
                for e in held.drain(..) {
                    write(&mut writer, e)?;
                }
                held_text.clear();
                if let Some(parent) = has_child.last_mut() {
                    *parent = true;
                }
                path.push(start.local_name().as_ref().to_owned());
                has_child.push(false);
                write(&mut writer, Event::Start(start))?;
            }
            Event::End(end) => {
                let leaf = has_child.pop() == Some(false);
                let new = if leaf {
                    edit(&path, held_text.trim())
                } else {
                    None
                };
                match new {
                    Some(new) => {
                        held.clear();
                        write(&mut writer, Event::Text(BytesText::new(&new)))?;
                    }
                    None => {
                        for e in held.drain(..) {
                            write(&mut writer, e)?;
                        }
                    }
                }
                held_text.clear();
                path.pop();
                write(&mut writer, Event::End(end))?;
            }
            other => {
                for e in held.drain(..) {
                    write(&mut writer, e)?;
                }
                held_text.clear();
                if matches!(other, Event::Empty(_))
                    && let Some(parent) = has_child.last_mut()
                {
                    *parent = true;
                }
                write(&mut writer, other)?;
            }
        }
    }
    Ok(writer.into_inner())
}

/// The text an entity or character reference stands for.
fn resolve_ref(r: &BytesRef<'_>) -> Result<String, &'static str> {
    if let Some(c) = r
        .resolve_char_ref()
        .map_err(|_| "bad character reference")?
    {
        return Ok(c.to_string());
    }
    let name = r.xml10_content();
    resolve_predefined_entity(&name)
        .map(str::to_owned)
        .ok_or("unknown entity reference")
}

/// The text of the first leaf element at `want` (a path of element names), read as
/// [`rewrite_xml`] reads it.
pub(crate) fn xml_field(body: &[u8], want: &[&str]) -> Option<String> {
    let mut found = None;
    rewrite_xml(body, |path, text| {
        if found.is_none() && path.iter().map(String::as_str).eq(want.iter().copied()) {
            found = Some(text.to_owned());
        }
        None
    })
    .ok()?;
    found
}

/// Makes `value` the text of exactly one `name` element directly under the element at
/// `parent`: existing ones (with text, empty, or self-closing) are dropped and the new one
/// goes first inside the parent. For fields an answer may leave out or leave empty.
pub(crate) fn set_xml_leaf(
    body: &[u8],
    parent: &[&str],
    name: &str,
    value: &str,
) -> Result<Vec<u8>, &'static str> {
    let text = std::str::from_utf8(body).map_err(|_| "XML is not UTF-8")?;
    let mut reader = Reader::from_str(text);
    let mut writer = Writer::new(Vec::with_capacity(body.len() + 64));
    let mut path: Vec<String> = Vec::new();
    // Depth of an element being dropped, while inside one.
    let mut dropping: Option<usize> = None;
    loop {
        let event = reader.read_event().map_err(|_| "malformed XML")?;
        let at_parent = path.iter().map(String::as_str).eq(parent.iter().copied());
        match &event {
            Event::Eof if !path.is_empty() => return Err("truncated XML"),
            Event::Eof => break,
            Event::Start(start) => {
                path.push(start.local_name().as_ref().to_owned());
                if dropping.is_none() && at_parent && start.local_name().as_ref() == name {
                    dropping = Some(path.len());
                }
            }
            Event::End(_) => {
                let depth = path.len();
                path.pop();
                if dropping == Some(depth) {
                    dropping = None;
                    continue;
                }
            }
            Event::Empty(empty) if at_parent && empty.local_name().as_ref() == name => continue,
            _ => {}
        }
        if dropping.is_some() {
            continue;
        }
        let opens_parent = matches!(&event, Event::Start(_))
            && path.iter().map(String::as_str).eq(parent.iter().copied());
        write(&mut writer, event)?;
        if opens_parent {
            write(&mut writer, Event::Start(BytesStart::new(name)))?;
            write(&mut writer, Event::Text(BytesText::new(value)))?;
            write(&mut writer, Event::End(BytesEnd::new(name)))?;
        }
    }
    Ok(writer.into_inner())
}

fn write(writer: &mut Writer<Vec<u8>>, event: Event<'_>) -> Result<(), &'static str> {
    writer.write_event(event).map_err(|_| "cannot write XML")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(Format::of(b"  <response/>"), Some(Format::Xml));
        assert_eq!(Format::of(b"\n{\"response\":{}}"), Some(Format::Json));
        assert_eq!(Format::of(b"OK"), None);
        assert_eq!(Format::of(b""), None);
    }

    #[test]
    fn xml_text_is_replaced_by_path_and_the_rest_kept() {
        let body = br#"<?xml version="1.0"?><response xmlns="x"><data><host>10.1.2.3</host><note a="1">a &amp; b&#33;</note></data></response>"#;
        let out = rewrite_xml(body, |path, text| {
            (path == ["response", "data", "host"]).then(|| format!("gw<{text}>"))
        })
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("<host>gw&lt;10.1.2.3&gt;</host>"), "{out}");
        assert!(
            out.contains(r#"<note a="1">a &amp; b&#33;</note>"#),
            "{out}"
        );
        assert_eq!(
            xml_field(out.as_bytes(), &["response", "data", "note"]).as_deref(),
            Some("a & b!")
        );
        let seen = std::cell::RefCell::new(Vec::new());
        rewrite_xml(body, |path, text| {
            seen.borrow_mut().push((path.join("/"), text.to_owned()));
            None
        })
        .unwrap();
        assert!(
            seen.borrow()
                .contains(&("response/data/note".into(), "a & b!".into()))
        );
        assert_eq!(
            xml_field(out.as_bytes(), &["response", "data", "host"]).as_deref(),
            Some("gw<10.1.2.3>")
        );
        assert_eq!(xml_field(body, &["response", "nope"]), None);
        assert!(rewrite_xml(b"<a><b></a>", |_, _| None).is_err());
        assert_eq!(
            rewrite_xml(b"<a><b>cut", |_, _| None),
            Err("truncated XML"),
            "the fuzzer's case: content after the cut was dropped, not refused"
        );
    }

    #[test]
    fn a_leaf_is_set_once_whatever_was_there() {
        let want = Some("443");
        for body in [
            &b"<r><d><h>x</h></d></r>"[..],
            b"<r><d><h>x</h><p>5190</p></d></r>",
            b"<r><d><p/><h>x</h><p></p><p>1<i>2</i></p></d></r>",
        ] {
            let out = set_xml_leaf(body, &["r", "d"], "p", "443").unwrap();
            let text = String::from_utf8(out.clone()).unwrap();
            assert_eq!(text.matches("<p").count(), 1, "{text}");
            assert_eq!(xml_field(&out, &["r", "d", "p"]).as_deref(), want, "{text}");
            assert_eq!(xml_field(&out, &["r", "d", "h"]).as_deref(), Some("x"));
        }
        // A <p> elsewhere is not ours to drop.
        let out = set_xml_leaf(b"<r><p>1</p><d/></r>", &["r", "d"], "p", "2").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "<r><p>1</p><d/></r>");
    }
}
