//! The `clientLogin` exchange (oscar.md §2.5 step 1): who is logging in, and the token the
//! answer hands out, so the BOS session started with that token is attributed to them. The
//! password in the same form is never read into anything but the forwarded body.

use serde_json::Value;

use crate::api::body_format::{Format, xml_field};

/// The screen name (`s`) of a clientLogin request body: a URL-encoded form, as libpurple
/// sends, or a JSON object, as some revival servers also accept.
pub(crate) fn screen_name(body: &[u8]) -> Option<String> {
    if Format::of(body) == Some(Format::Json) {
        let doc: Value = serde_json::from_slice(body).ok()?;
        return doc.get("s")?.as_str().map(str::to_owned);
    }
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "s")
        .map(|(_, v)| v.into_owned())
        .filter(|s| !s.is_empty())
}

/// What a clientLogin answer says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LoginAnswer {
    /// `statusCode` (200 on success).
    pub(crate) status: Option<u16>,
    /// `statusDetailCode` on failure (3011: bad password).
    pub(crate) detail: Option<u16>,
    /// `data.token.a`: what startOSCARSession will carry.
    pub(crate) token: Option<String>,
    /// `data.screenName` (or `loginId`), when the server names the account.
    pub(crate) screen_name: Option<String>,
}

/// Reads a clientLogin answer in either format; `None` if it is neither.
pub(crate) fn answer(body: &[u8]) -> Option<LoginAnswer> {
    match Format::of(body)? {
        Format::Xml => {
            let field = |path: &[&str]| xml_field(body, path);
            Some(LoginAnswer {
                status: field(&["response", "statusCode"]).and_then(|s| s.parse().ok()),
                detail: field(&["response", "statusDetailCode"]).and_then(|s| s.parse().ok()),
                token: field(&["response", "data", "token", "a"]),
                screen_name: field(&["response", "data", "screenName"])
                    .or_else(|| field(&["response", "data", "loginId"])),
            })
        }
        Format::Json => {
            let doc: Value = serde_json::from_slice(body).ok()?;
            let r = doc.get("response")?;
            let number = |v: Option<&Value>| match v? {
                Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
            let data = r.get("data");
            Some(LoginAnswer {
                status: number(r.get("statusCode")),
                detail: number(r.get("statusDetailCode")),
                token: text(data.and_then(|d| d.get("token")).and_then(|t| t.get("a"))),
                screen_name: text(data.and_then(|d| d.get("screenName")))
                    .or_else(|| text(data.and_then(|d| d.get("loginId")))),
            })
        }
    }
}

/// The token (`a`) a startOSCARSession query carries.
pub(crate) fn token_of_query(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "a")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_screen_name_comes_from_the_form_and_the_password_stays_put() {
        let form = b"devId=ma19CwYN9i9Mw5nY&f=xml&pwd=s%26cret%3D&s=Alice+Smith";
        assert_eq!(screen_name(form).as_deref(), Some("Alice Smith"));
        assert_eq!(
            screen_name(br#"{"s":"bob","pwd":"x"}"#).as_deref(),
            Some("bob")
        );
        assert_eq!(screen_name(b"pwd=x"), None);
        assert_eq!(screen_name(b"s=&pwd=x"), None);
    }

    #[test]
    fn answers_in_both_formats() {
        let xml = b"<response><statusCode>200</statusCode><statusText>OK</statusText><data>\
            <token><a>TOK+/=</a><expiresIn>86400</expiresIn></token><sessionSecret>S</sessionSecret>\
            <screenName>alice</screenName></data></response>";
        assert_eq!(
            answer(xml),
            Some(LoginAnswer {
                status: Some(200),
                detail: None,
                token: Some("TOK+/=".into()),
                screen_name: Some("alice".into()),
            })
        );
        let json = br#"{"response":{"statusCode":330,"statusDetailCode":3011,"statusText":"bad"}}"#;
        assert_eq!(
            answer(json),
            Some(LoginAnswer {
                status: Some(330),
                detail: Some(3011),
                ..LoginAnswer::default()
            })
        );
        let ok = br#"{"response":{"statusCode":200,"data":{"token":{"a":"T"},"loginId":"bob"}}}"#;
        let a = answer(ok).unwrap();
        assert_eq!(
            (a.token.as_deref(), a.screen_name.as_deref()),
            (Some("T"), Some("bob"))
        );
        assert_eq!(answer(b"nope"), None);
    }

    #[test]
    fn the_token_of_a_session_start() {
        assert_eq!(
            token_of_query("a=T%2B1&distId=1717&f=xml&sig_sha256=x").as_deref(),
            Some("T+1")
        );
        assert_eq!(token_of_query("f=xml"), None);
    }
}
