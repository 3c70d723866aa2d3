//! The `startOSCARSession` answer (oscar.md §3.1 carrier F): where the client's BOS
//! connection goes. The gateway rewrites `data.host` and `data.port` to itself, keeps the
//! cookie (its routing key), and keeps `tlsCertName` unless the gateway cannot present a
//! certificate for it.

use base64::Engine as _;
use bytes::Bytes;
use oscar::ServerAddress;
use serde_json::Value;

use crate::api::body_format::{Format, rewrite_xml, set_xml_leaf, xml_field};

/// What an answer said, before the rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionStart {
    /// The real BOS host.
    pub(crate) host: String,
    /// The real BOS port, if the answer gave one.
    pub(crate) port: Option<u16>,
    /// The BOS cookie, decoded from base64 (what the client sends in its sign-on).
    pub(crate) cookie: Bytes,
    /// The name the client validates the BOS certificate against; present iff BOS is TLS.
    pub(crate) tls_cert_name: Option<String>,
}

/// Rewrites a successful answer in either format: `host`/`port` become `advertised`;
/// `tlsCertName` becomes `cert_name(original)` (the name the gateway will present). Returns
/// the new body and what the upstream said, or `None` for an answer without a session (an
/// error status): those are relayed untouched.
pub(crate) fn rewrite(
    body: &[u8],
    advertised: &ServerAddress,
    cert_name: impl Fn(&str) -> String,
) -> Result<Option<(Vec<u8>, SessionStart)>, &'static str> {
    match Format::of(body) {
        Some(Format::Xml) => rewrite_xml_answer(body, advertised, cert_name),
        Some(Format::Json) => rewrite_json_answer(body, advertised, cert_name),
        None => Err("neither XML nor JSON"),
    }
}

fn decode_cookie(text: &str) -> Result<Bytes, &'static str> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map(Bytes::from)
        .map_err(|_| "the cookie is not base64")
}

fn parse_port(text: &str) -> Result<Option<u16>, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .map(Some)
        .ok_or("the port is not a port number")
}

fn rewrite_xml_answer(
    body: &[u8],
    advertised: &ServerAddress,
    cert_name: impl Fn(&str) -> String,
) -> Result<Option<(Vec<u8>, SessionStart)>, &'static str> {
    let field = |name: &str| xml_field(body, &["response", "data", name]);
    let (Some(host), Some(cookie)) = (field("host"), field("cookie")) else {
        return Ok(None);
    };
    let start = SessionStart {
        host,
        port: parse_port(&field("port").unwrap_or_default())?,
        cookie: decode_cookie(&cookie)?,
        tls_cert_name: field("tlsCertName").filter(|n| !n.is_empty()),
    };
    let port = advertised.port.unwrap_or(443).to_string();
    let out = rewrite_xml(body, |path, text| match path {
        [r, d, leaf] if r == "response" && d == "data" => match leaf.as_str() {
            "host" => Some(advertised.host.clone()),
            "tlsCertName" if !text.is_empty() => Some(cert_name(text)),
            _ => None,
        },
        _ => None,
    })?;
    // Always an explicit port: without one the client would pick its default port, which
    // need not be the one the gateway listens on.
    let out = set_xml_leaf(&out, &["response", "data"], "port", &port)?;
    Ok(Some((out, start)))
}

fn rewrite_json_answer(
    body: &[u8],
    advertised: &ServerAddress,
    cert_name: impl Fn(&str) -> String,
) -> Result<Option<(Vec<u8>, SessionStart)>, &'static str> {
    let mut doc: Value = serde_json::from_slice(body).map_err(|_| "malformed JSON")?;
    let Some(data) = doc
        .get_mut("response")
        .and_then(|r| r.get_mut("data"))
        .and_then(Value::as_object_mut)
    else {
        return Ok(None);
    };
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let (Some(host), Some(cookie)) = (text(data.get("host")), text(data.get("cookie"))) else {
        return Ok(None);
    };
    let start = SessionStart {
        host,
        port: parse_port(&text(data.get("port")).unwrap_or_default())?,
        cookie: decode_cookie(&cookie)?,
        tls_cert_name: text(data.get("tlsCertName")).filter(|n| !n.is_empty()),
    };
    let port = advertised.port.unwrap_or(443);
    data.insert("host".into(), Value::String(advertised.host.clone()));
    // Keep the port's JSON type: a client may parse either strictly.
    let new_port = match data.get("port") {
        Some(Value::String(_)) => Value::String(port.to_string()),
        _ => Value::from(port),
    };
    data.insert("port".into(), new_port);
    if let Some(name) = &start.tls_cert_name {
        data.insert("tlsCertName".into(), Value::String(cert_name(name)));
    }
    let out = serde_json::to_vec(&doc).map_err(|_| "cannot write JSON")?;
    Ok(Some((out, start)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOKIE: &str = "AQIDBA==";

    fn gw() -> ServerAddress {
        ServerAddress::new("10.9.9.9", 443)
    }

    fn ours(name: &str) -> String {
        if name.ends_with(".aol.com") {
            name.to_owned()
        } else {
            "slogin.oscar.aol.com".into()
        }
    }

    #[test]
    fn the_xml_answer_points_at_the_gateway() {
        let body = format!(
            "<?xml version=\"1.0\"?>\n<response><statusCode>200</statusCode><statusText>OK</statusText>\
             <data><host>64.12.25.10</host><port>443</port><cookie>{COOKIE}</cookie>\
             <tlsCertName>bos.revival.example</tlsCertName></data></response>"
        );
        let (out, start) = rewrite(body.as_bytes(), &gw(), ours).unwrap().unwrap();
        assert_eq!(
            start,
            SessionStart {
                host: "64.12.25.10".into(),
                port: Some(443),
                cookie: Bytes::from_static(&[1, 2, 3, 4]),
                tls_cert_name: Some("bos.revival.example".into()),
            }
        );
        let field = |n| xml_field(&out, &["response", "data", n]);
        assert_eq!(field("host").as_deref(), Some("10.9.9.9"));
        assert_eq!(field("port").as_deref(), Some("443"));
        assert_eq!(field("cookie").as_deref(), Some(COOKIE));
        assert_eq!(
            field("tlsCertName").as_deref(),
            Some("slogin.oscar.aol.com")
        );
        assert_eq!(
            xml_field(&out, &["response", "statusCode"]).as_deref(),
            Some("200")
        );
    }

    #[test]
    fn the_json_answer_points_at_the_gateway_and_keeps_types() {
        let body = format!(
            r#"{{"response":{{"statusCode":200,"data":{{"host":"64.12.25.10","port":5190,"cookie":"{COOKIE}"}}}}}}"#
        );
        let (out, start) = rewrite(body.as_bytes(), &gw(), ours).unwrap().unwrap();
        assert_eq!(start.port, Some(5190));
        assert_eq!(start.tls_cert_name, None);
        let doc: Value = serde_json::from_slice(&out).unwrap();
        let data = &doc["response"]["data"];
        assert_eq!(data["host"], "10.9.9.9");
        assert_eq!(data["port"], 443);
        assert_eq!(data["cookie"], COOKIE);
        assert!(data.get("tlsCertName").is_none(), "no TLS stays no TLS");
        // An answer without a port gets the gateway's.
        let bare =
            format!("<response><data><host>h</host><cookie>{COOKIE}</cookie></data></response>");
        let (out, start) = rewrite(bare.as_bytes(), &gw(), ours).unwrap().unwrap();
        assert_eq!(start.port, None);
        assert_eq!(
            xml_field(&out, &["response", "data", "port"]).as_deref(),
            Some("443")
        );
        let quoted = format!(
            r#"{{"response":{{"data":{{"host":"h","port":"443","cookie":"{COOKIE}","tlsCertName":"bos.oscar.aol.com"}}}}}}"#
        );
        let (out, _) = rewrite(quoted.as_bytes(), &gw(), ours).unwrap().unwrap();
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["response"]["data"]["port"], "443");
        assert_eq!(doc["response"]["data"]["tlsCertName"], "bos.oscar.aol.com");
    }

    #[test]
    fn error_answers_pass_and_garbage_is_refused() {
        let err = b"<response><statusCode>401</statusCode><statusDetailCode>1014</statusDetailCode></response>";
        assert_eq!(rewrite(err, &gw(), ours).unwrap(), None);
        assert_eq!(
            rewrite(br#"{"response":{"statusCode":607}}"#, &gw(), ours).unwrap(),
            None
        );
        for bad in [
            &b"garbage"[..],
            b"{\"response\":",
            b"<response><data><host>h</host><cookie>%%%</cookie></data></response>",
            b"<response><data><host>h</host><port>99999</port><cookie>AA==</cookie></data></response>",
        ] {
            assert!(rewrite(bad, &gw(), ours).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
