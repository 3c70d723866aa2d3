//! `[[ingest.clients]]` and the token rule.
#![allow(clippy::unwrap_used)]

use super::*;

const LISTEN: &str = "[ingest]\nlisten = [\"127.0.0.1:5192\"]\n";

fn load(extra: &str, sets: &[&str]) -> Result<Config, ConfigError> {
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    Config::load("imtegrity.toml", &format!("{LISTEN}{extra}"), &sets)
}

#[test]
fn named_clients_stand_in_for_the_shared_token() {
    let config = load(
        "[[ingest.clients]]\nname = \"st-east\"\ntoken_file = \"/etc/east.token\"\n\
         [[ingest.clients]]\nname = \"st-west\"\ntoken_file = \"/etc/west.token\"\n",
        &[],
    )
    .unwrap();
    let names: Vec<&str> = config
        .ingest
        .clients
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["st-east", "st-west"]);
    assert_eq!(config.ingest.token_file, None);
    // Printed as [[ingest.clients]] and read back the same.
    let text = config.to_toml();
    assert_eq!(text.matches("[[ingest.clients]]").count(), 2, "{text}");
    assert_eq!(Config::load("x", &text, &[]).unwrap(), config);
}

#[test]
fn clients_need_what_auth_asks_for_and_distinct_names() {
    for (extra, key, says) in [
        (
            "[[ingest.clients]]\nname = \"a\"\n",
            "ingest.clients[0].token_file",
            "required",
        ),
        (
            "[[ingest.clients]]\nname = \"\"\ntoken_file = \"/t\"\n",
            "ingest.clients[0].name",
            "empty",
        ),
        (
            "token_file = \"/t0\"\n[[ingest.clients]]\nname = \"default\"\ntoken_file = \"/t\"\n",
            "ingest.clients[0].name",
            "used twice",
        ),
        (
            "[[ingest.clients]]\nname = \"a\"\ntoken_file = \"/t\"\n\
             [[ingest.clients]]\nname = \"b\"\ntoken_file = \"/t\"\n",
            "ingest.clients[1].token_file",
            "same token file",
        ),
        (
            "[[ingest.clients]]\nname = \"a\"\ntoken_file = \"/t\"\ncertificate = \"a\"\n",
            "ingest.clients[0].certificate",
            "checks no certificate",
        ),
        (
            "tls = true\nauth = \"client_cert\"\n[[ingest.clients]]\nname = \"a\"\n",
            "ingest.clients[0].certificate",
            "required",
        ),
        (
            "tls = true\nauth = \"client_cert\"\n[[ingest.clients]]\nname = \"a\"\n\
             certificate = \"a\"\ntoken_file = \"/t\"\n",
            "ingest.clients[0].token_file",
            "uses no token",
        ),
    ] {
        let err = load(extra, &[]).unwrap_err();
        assert_eq!(err.key(), Some(key), "{extra}: {err}");
        assert!(err.to_string().contains(says), "{extra}: {err}");
    }
    // A line number points at the client's key.
    let err = load(
        "[[ingest.clients]]\nname = \"\"\ntoken_file = \"/t\"\n",
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("imtegrity.toml:4:"), "{err}");
    // Mutual TLS with named certificates, and both.
    let ok = load(
        "tls = true\nauth = \"both\"\n[[ingest.clients]]\nname = \"a\"\ntoken_file = \"/t\"\n\
         certificate = \"st-a.example.com\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        ok.ingest.clients[0].certificate.as_deref(),
        Some("st-a.example.com")
    );
}

#[test]
fn a_token_has_at_least_128_bits() {
    for ok in [
        "0123456789abcdef0123456789ABCDEF",
        "q83vEjRWeJq83vEjRWeJq8",
        "q83vEjRWeJq83vEjRWeJq8==",
        "a-long-enough-shared-token-123",
    ] {
        assert_eq!(check_token(ok), Ok(()), "{ok}");
    }
    for (short, says) in [
        ("", "empty"),
        (
            "0123456789abcdef0123456789abcde",
            "31 characters count as 124 bits",
        ),
        ("q83vEjRWeJq83vEjRWeJq", "21 characters count as 126 bits"),
        (
            "q83vEjRWeJq83vEjRWeJq===",
            "21 characters count as 126 bits",
        ),
        ("has a space in it, and is long enough", "visible ASCII"),
    ] {
        let err = check_token(short).unwrap_err();
        assert!(err.contains(says), "{short:?}: {err}");
        assert!(short.is_empty() || !err.contains(short), "{err}");
    }
    assert_eq!(token_in("  abc  \nsecond line\n"), "abc");
    assert_eq!(token_in(""), "");
}

#[test]
fn errors_never_quote_a_secret_value() {
    const SECRET: &str = "Pr0xyS3cretXq7";
    for (text, sets) in [
        (
            "",
            vec![format!("upstream.proxy=gw:{SECRET}@proxy.corp:1080")],
        ),
        (
            "",
            vec![format!("upstream.proxy=socks5://gw:{SECRET}@proxy.corp:0")],
        ),
        (
            "",
            vec![format!("upstream.proxy.x=socks5://gw:{SECRET}@p:1")],
        ),
        (
            "upstream = 1\n",
            vec![format!("upstream.proxy=socks5://gw:{SECRET}@p:1")],
        ),
        ("", vec![format!("upstream.proxy socks5://gw:{SECRET}@p:1")]),
        // An alert webhook is checked by the policy engine: see `policy::load_config`'s
        // tests.
    ] {
        let err = Config::load("imtegrity.toml", text, &sets).unwrap_err();
        assert!(!err.to_string().contains(SECRET), "{sets:?}: {err}");
        assert!(!format!("{err:?}").contains(SECRET), "{sets:?}: {err:?}");
    }
}
