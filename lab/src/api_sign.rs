//! The startOSCARSession request signature, computed as libpurple's `clientlogin.c` does
//! (oscar.md §2.5), for the lab API to check and the scripted client to make:
//!
//! - `sessionKey = base64(HMAC-SHA256(key = password, message = sessionSecret))`;
//! - `sig_sha256 = base64(HMAC-SHA256(key = sessionKey, message = "GET&" + enc(url) + "&" +
//!   enc(query)))`, where `url` is `https://HOST/aim/startOSCARSession`, `query` is the query
//!   string without `sig_sha256`, its parameters in the order sent (already URL-encoded, so
//!   encoded twice), and `enc` is libpurple's `purple_url_encode`.
//!
//! Both keys are used as text (libpurple's HMAC takes a C string key), and the signature is
//! appended to the URL as raw base64, unencoded: `+`, `/` and `=` arrive as they are.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

/// The query parameter carrying the signature.
pub const SIGNATURE_PARAM: &str = "sig_sha256";

/// libpurple's `purple_url_encode`: every byte but ASCII letters, digits and `-._~` as
/// `%XX` with upper-case hex (UTF-8 bytes one by one).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// HMAC-SHA256 of `message` under `key` (any length, as HMAC allows).
fn hmac_sha256(key: &[u8], message: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message)
}

/// `base64(HMAC-SHA256(key = password, message = session_secret))`: the key the client
/// signs with, which only it and the server can compute.
pub fn session_key(password: &str, session_secret: &str) -> String {
    STANDARD.encode(hmac_sha256(password.as_bytes(), session_secret.as_bytes()))
}

/// The text that is signed: `METHOD&enc(url)&enc(query)`.
fn base_string(method: &str, url: &str, query: &str) -> String {
    format!("{method}&{}&{}", url_encode(url), url_encode(query))
}

/// The `sig_sha256` value for a `method` request to `url` with `query` (without the
/// signature), signed with `session_key`.
pub fn signature(method: &str, url: &str, query: &str, session_key: &str) -> String {
    let base = base_string(method, url, query);
    STANDARD.encode(hmac_sha256(session_key.as_bytes(), base.as_bytes()))
}

/// A raw query string split into the signature (percent-decoded, `+` kept: libpurple sends
/// raw base64) and the rest, parameters in the order sent, byte for byte.
pub(crate) fn split_signature(raw_query: &str) -> (Option<String>, String) {
    let mut signature = None;
    let mut rest = Vec::new();
    for pair in raw_query.split('&') {
        match pair.split_once('=') {
            Some((SIGNATURE_PARAM, value)) => signature = Some(percent_decode(value)),
            _ => rest.push(pair),
        }
    }
    (signature, rest.join("&"))
}

/// Whether `signature` (base64) is the signature of `method url?query` under `session_key`;
/// compared in constant time.
pub(crate) fn verify(
    method: &str,
    url: &str,
    query: &str,
    session_key: &str,
    signature: &str,
) -> bool {
    let Ok(given) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, session_key.as_bytes());
    hmac::verify(&key, base_string(method, url, query).as_bytes(), &given).is_ok()
}

/// `%XX` sequences decoded, everything else (`+` included) kept; bad escapes kept as text.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encode_is_purples() {
        assert_eq!(url_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(url_encode("a=b&c d+/é"), "a%3Db%26c%20d%2B%2F%C3%A9");
        // The query is encoded after its own values were: `%` becomes `%25`.
        assert_eq!(url_encode("a=x%2By"), "a%3Dx%252By");
    }

    #[test]
    fn session_key_is_the_rfc_4231_hmac_in_base64() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = session_key("Jefe", "what do ya want for nothing?");
        assert_eq!(
            STANDARD.decode(&key).unwrap_or_default(),
            [
                0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
                0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
                0x64, 0xec, 0x38, 0x43
            ]
        );
    }

    #[test]
    fn a_signed_query_verifies_and_any_change_does_not() {
        let url = "https://api.oscar.aol.com/aim/startOSCARSession";
        let query = "a=tok%2Ben&distId=1717&f=xml&k=ma19CwYN9i9Mw5nY&ts=1700000000&useTLS=1";
        let key = session_key("pw", "secret");
        let sig = signature("GET", url, query, &key);
        // As libpurple appends it: raw base64.
        let (got, rest) = split_signature(&format!("{query}&{SIGNATURE_PARAM}={sig}"));
        assert_eq!(rest, query);
        let got = got.unwrap_or_default();
        assert!(verify("GET", url, &rest, &key, &got));
        // Percent-encoded by a careful client, the same signature.
        let (enc, _) = split_signature(&format!("{query}&sig_sha256={}", url_encode(&sig)));
        assert_eq!(enc.as_deref(), Some(sig.as_str()));
        // Another host, another order, another value, another key: refused.
        let other_host = "https://api.icq.net/aim/startOSCARSession";
        assert!(!verify("GET", other_host, &rest, &key, &got));
        let reordered = "distId=1717&a=tok%2Ben&f=xml&k=ma19CwYN9i9Mw5nY&ts=1700000000&useTLS=1";
        assert!(!verify("GET", url, reordered, &key, &got));
        assert!(!verify(
            "GET",
            url,
            &rest.replace("useTLS=1", "useTLS=0"),
            &key,
            &got
        ));
        assert!(!verify(
            "GET",
            url,
            &rest,
            &session_key("pw2", "secret"),
            &got
        ));
        assert!(!verify("GET", url, &rest, &key, "not base64!"));
    }

    #[test]
    fn percent_decode_keeps_plus_and_bad_escapes() {
        assert_eq!(percent_decode("a%2Bb+c%3d%zz%"), "a+b+c=%zz%");
    }
}
