//! Entry points for the cargo-fuzz targets in `fuzz/` that read configured values: a secret
//! URL, proxy URL or ingest token.

/// A configured secret URL, proxy URL or token on arbitrary text: nothing panics; what
/// [`SecretUrl`](crate::SecretUrl) shows of a URL with user information never holds its password,
/// and neither does a [`ProxyUrl`](crate::ProxyUrl) or its parse error.
pub fn secret_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let shown = crate::redact(text);
    let _ = crate::check_token(crate::token_in(text));
    // A password whose every 8-byte run is written nowhere else in the value: then output
    // that holds it can only have taken it from the user information. (A host or user name
    // that spells the password, as the fuzzer soon finds, is not a leak.) Text before `://`
    // that is no scheme is never shown at all.
    let password = text
        .split_once("://")
        .and_then(|(_, rest)| {
            let authority = rest.split(['/', '?', '#']).next()?;
            let (userinfo, _) = authority.rsplit_once('@')?;
            userinfo.split_once(':').map(|(_, password)| password)
        })
        .filter(|p| {
            p.len() >= 12
                && !p.contains(['@', '.', ':'])
                && p.as_bytes()
                    .windows(8)
                    .all(|run| text.as_bytes().windows(8).filter(|w| w == &run).count() == 1)
        });
    if let Some(password) = password {
        assert!(!shown.contains(password), "{shown:?} shows the password");
        match crate::ProxyUrl::parse(text) {
            Ok(proxy) => {
                assert!(!proxy.to_string().contains(password));
                assert!(!format!("{proxy:?}").contains(password));
            }
            Err(e) => assert!(!e.contains(password), "{e:?} shows the password"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `secret_text` seeds, its two findings among them, replayed on every test run.
    #[test]
    fn secret_text_seeds_pass() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/secret_text");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            secret_text(&std::fs::read(entry.unwrap().path()).unwrap());
            seen += 1;
        }
        assert!(seen >= 5, "{seen} seeds");
    }
}
