//! The clientLogin API's response documents (oscar.md §2.5): `<response>…</response>` XML,
//! or with `f=json` the same tree as `{"response":{…}}`. The server writes them; the
//! scripted client reads them back into `path → text` fields (`data.token.a`,
//! `data.host`, …) whichever form arrived.

use serde_json::{Map, Value};

use crate::error::LabError;

/// Which document form the client asked for with `f=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiFormat {
    /// `f=xml`, libpurple's choice and the default.
    #[default]
    Xml,
    /// `f=json`.
    Json,
}

impl ApiFormat {
    /// The value of the `f` parameter.
    pub fn param(self) -> &'static str {
        match self {
            Self::Xml => "xml",
            Self::Json => "json",
        }
    }

    /// The form an `f` parameter asks for; anything but `json` is XML.
    pub(crate) fn from_param(f: Option<&str>) -> Self {
        match f {
            Some(f) if f.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Xml,
        }
    }

    /// The response's `Content-Type`.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Xml => "text/xml; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// A value in a response's `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    /// A string.
    Text(String),
    /// A number (a JSON number; XML has only text).
    Number(u64),
    /// Nested elements, in order.
    Group(Vec<(&'static str, Self)>),
}

/// One response document: the status triple and, on success, `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Document {
    pub(crate) status_code: u32,
    pub(crate) status_text: String,
    pub(crate) detail: Option<u32>,
    pub(crate) data: Vec<(&'static str, Field)>,
}

impl Document {
    /// statusCode 200 with `data`.
    pub(crate) fn ok(data: Vec<(&'static str, Field)>) -> Self {
        Self {
            status_code: 200,
            status_text: "OK".to_owned(),
            detail: None,
            data,
        }
    }

    /// A refusal: `status_code`, an optional `statusDetailCode`, and a text for people.
    pub(crate) fn error(status_code: u32, detail: Option<u32>, text: &str) -> Self {
        Self {
            status_code,
            status_text: text.to_owned(),
            detail,
            data: Vec::new(),
        }
    }

    /// The document in `format`.
    pub(crate) fn render(&self, format: ApiFormat) -> String {
        match format {
            ApiFormat::Xml => self.xml(),
            ApiFormat::Json => self.json().to_string(),
        }
    }

    fn xml(&self) -> String {
        let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><response>"#);
        out.push_str(&format!("<statusCode>{}</statusCode>", self.status_code));
        out.push_str(&format!(
            "<statusText>{}</statusText>",
            record::escape_markup(&self.status_text)
        ));
        if let Some(detail) = self.detail {
            out.push_str(&format!("<statusDetailCode>{detail}</statusDetailCode>"));
        }
        if !self.data.is_empty() {
            out.push_str("<data>");
            xml_fields(&self.data, &mut out);
            out.push_str("</data>");
        }
        out.push_str("</response>");
        out
    }

    fn json(&self) -> Value {
        let mut response = Map::new();
        response.insert("statusCode".into(), self.status_code.into());
        response.insert("statusText".into(), self.status_text.clone().into());
        if let Some(detail) = self.detail {
            response.insert("statusDetailCode".into(), detail.into());
        }
        if !self.data.is_empty() {
            response.insert("data".into(), json_fields(&self.data));
        }
        let mut root = Map::new();
        root.insert("response".into(), Value::Object(response));
        Value::Object(root)
    }
}

fn xml_fields(fields: &[(&'static str, Field)], out: &mut String) {
    for (name, field) in fields {
        out.push_str(&format!("<{name}>"));
        match field {
            Field::Text(text) => record::escape_markup_into(out, text),
            Field::Number(n) => out.push_str(&n.to_string()),
            Field::Group(inner) => xml_fields(inner, out),
        }
        out.push_str(&format!("</{name}>"));
    }
}

fn json_fields(fields: &[(&'static str, Field)]) -> Value {
    let map = fields
        .iter()
        .map(|(name, field)| {
            let value = match field {
                Field::Text(text) => Value::from(text.as_str()),
                Field::Number(n) => Value::from(*n),
                Field::Group(inner) => json_fields(inner),
            };
            ((*name).to_owned(), value)
        })
        .collect();
    Value::Object(map)
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// An API response as the scripted client read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiReply {
    /// `statusCode`: 200 success, 330 bad password, 401 refused signature or token, ...
    pub status_code: u32,
    /// `statusDetailCode`, when present.
    pub status_detail: Option<u32>,
    /// `statusText`.
    pub status_text: String,
    /// The document as received.
    pub body: String,
    /// Every leaf below `response`, by dotted path (`data.token.a`).
    fields: Vec<(String, String)>,
}

impl ApiReply {
    /// Reads a response document, XML or JSON (told apart by its first character).
    pub fn parse(body: &str) -> Result<Self, LabError> {
        let fields = if body.trim_start().starts_with('{') {
            json_leaves(body)?
        } else {
            xml_leaves(body)?
        };
        let find = |path: &str| {
            fields
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, v)| v.clone())
        };
        let status_code = find("statusCode")
            .and_then(|c| c.trim().parse().ok())
            .ok_or_else(|| LabError::ApiResponse(format!("no statusCode in {body:?}")))?;
        Ok(Self {
            status_code,
            status_detail: find("statusDetailCode").and_then(|c| c.trim().parse().ok()),
            status_text: find("statusText").unwrap_or_default(),
            body: body.to_owned(),
            fields,
        })
    }

    /// The text of the leaf at `path` below `response` (`data.host`, `data.token.a`).
    pub fn field(&self, path: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.as_str())
    }

    /// `field(path)`, or an error naming what is missing.
    pub(crate) fn require(&self, path: &str) -> Result<&str, LabError> {
        self.field(path)
            .ok_or_else(|| LabError::ApiResponse(format!("no {path} in {:?}", self.body)))
    }

    /// This reply if its statusCode is 200, else the refusal as an error.
    pub fn success(self) -> Result<Self, LabError> {
        if self.status_code == 200 {
            Ok(self)
        } else {
            Err(LabError::ApiRefused {
                status_code: self.status_code,
                detail: self.status_detail,
                text: self.status_text,
            })
        }
    }
}

/// The leaves of a small XML document (no mixed content, attributes ignored), by path below
/// the root element.
fn xml_leaves(doc: &str) -> Result<Vec<(String, String)>, LabError> {
    let bad = |why: &str| LabError::ApiResponse(format!("{why} in {doc:?}"));
    // Open elements, each with whether it has had a child element yet.
    let mut open: Vec<(&str, bool)> = Vec::new();
    let mut leaves = Vec::new();
    let mut rest = doc;
    while let Some((text, after)) = rest.split_once('<') {
        let (tag, after) = after.split_once('>').ok_or_else(|| bad("unclosed tag"))?;
        rest = after;
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        let path = |open: &[(&str, bool)], name: &str| {
            let mut parts: Vec<&str> = open.iter().skip(1).map(|(n, _)| *n).collect();
            parts.push(name);
            parts.join(".")
        };
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            let (opened, had_child) = open.pop().ok_or_else(|| bad("stray closing tag"))?;
            if opened != name {
                return Err(bad("mismatched closing tag"));
            }
            if !had_child && !open.is_empty() {
                leaves.push((path(&open, name), unescape(text)));
            }
        } else {
            let self_closing = tag.ends_with('/');
            let name = tag
                .trim_end_matches('/')
                .split_whitespace()
                .next()
                .ok_or_else(|| bad("empty tag"))?;
            if let Some(parent) = open.last_mut() {
                parent.1 = true;
            }
            if self_closing {
                if !open.is_empty() {
                    leaves.push((path(&open, name), String::new()));
                }
            } else {
                open.push((name, false));
            }
        }
    }
    if !open.is_empty() {
        return Err(bad("unclosed element"));
    }
    Ok(leaves)
}

/// The leaves of a `{"response":{…}}` document, by path below `response`.
fn json_leaves(doc: &str) -> Result<Vec<(String, String)>, LabError> {
    let value: Value =
        serde_json::from_str(doc).map_err(|e| LabError::ApiResponse(format!("{e}: {doc:?}")))?;
    let response = value
        .get("response")
        .ok_or_else(|| LabError::ApiResponse(format!("no \"response\" in {doc:?}")))?;
    let mut leaves = Vec::new();
    flatten("", response, &mut leaves);
    Ok(leaves)
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                flatten(&join(name), inner, out);
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Null => out.push((prefix.to_owned(), String::new())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn login_document() -> Document {
        Document::ok(vec![
            (
                "token",
                Field::Group(vec![
                    ("a", Field::Text("t<&>".into())),
                    ("expiresIn", Field::Number(86_400)),
                ]),
            ),
            ("sessionSecret", Field::Text("s".into())),
            ("hostTime", Field::Number(1_700_000_000)),
        ])
    }

    #[test]
    fn both_forms_read_back_to_the_same_fields() {
        let doc = login_document();
        for format in [ApiFormat::Xml, ApiFormat::Json] {
            let reply = ApiReply::parse(&doc.render(format)).unwrap();
            assert_eq!(reply.status_code, 200, "{format:?}");
            assert_eq!(reply.status_text, "OK");
            assert_eq!(reply.status_detail, None);
            assert_eq!(reply.field("data.token.a"), Some("t<&>"));
            assert_eq!(reply.field("data.token.expiresIn"), Some("86400"));
            assert_eq!(reply.field("data.hostTime"), Some("1700000000"));
        }
    }

    #[test]
    fn the_xml_form_is_what_libpurple_walks() {
        let xml = login_document().render(ApiFormat::Xml);
        assert!(xml.contains(
            "<response><statusCode>200</statusCode><statusText>OK</statusText><data><token>\
             <a>t&lt;&amp;&gt;</a><expiresIn>86400</expiresIn></token>"
        ));
        let json: Value = serde_json::from_str(&login_document().render(ApiFormat::Json)).unwrap();
        assert_eq!(json["response"]["statusCode"], 200);
        assert_eq!(json["response"]["data"]["token"]["expiresIn"], 86_400);
    }

    #[test]
    fn errors_carry_the_detail_code() {
        let doc = Document::error(330, Some(3011), "Incorrect password");
        for format in [ApiFormat::Xml, ApiFormat::Json] {
            let reply = ApiReply::parse(&doc.render(format)).unwrap();
            assert_eq!(reply.status_code, 330);
            assert_eq!(reply.status_detail, Some(3011));
            assert!(matches!(
                reply.success(),
                Err(LabError::ApiRefused {
                    status_code: 330,
                    detail: Some(3011),
                    ..
                })
            ));
        }
    }

    #[test]
    fn broken_documents_are_errors_not_panics() {
        for doc in [
            "",
            "<response>",
            "<a></b>",
            "</a>",
            "<response><x",
            "{",
            "{}",
            "<r/>",
        ] {
            assert!(ApiReply::parse(doc).is_err(), "{doc:?}");
        }
    }
}
