//! Entry points for the cargo-fuzz targets in `fuzz/`: the login API's answers and forms,
//! and an HTTP proxy's answer to CONNECT, parsed the way the relay parses what an
//! upstream, a client or a proxy sends.

use oscar::ServerAddress;

use crate::api::{client_login, session_start};

/// A startOSCARSession answer and a clientLogin answer/form on arbitrary bytes: nothing
/// panics, and a rewritten answer reads back as pointing at the gateway with the same
/// cookie and certificate name, and rewrites again to the same bytes.
pub fn api_bodies(data: &[u8]) {
    let gateway = ServerAddress::new("192.0.2.1", 443);
    let same = |name: &str| name.to_owned();
    if let Ok(Some((body, start))) = session_start::rewrite(data, &gateway, same) {
        match session_start::rewrite(&body, &gateway, same) {
            Ok(Some((again, reread))) => {
                assert_eq!(reread.host, gateway.host);
                assert_eq!(reread.port, gateway.port);
                assert_eq!(reread.cookie, start.cookie);
                assert_eq!(reread.tls_cert_name, start.tls_cert_name);
                assert_eq!(again, body, "a rewrite is idempotent");
            }
            other => panic!("a rewritten answer does not read back: {other:?}"),
        }
    }
    let _ = client_login::answer(data);
    let _ = client_login::screen_name(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = client_login::token_of_query(text);
    }
}

/// An HTTP proxy's CONNECT answer on arbitrary bytes, fed as the relay feeds it (up to each
/// line end): nothing panics, no header longer than the cap is waited on, and once a
/// verdict is reached every longer prefix keeps it.
pub fn http_connect_reply(data: &[u8]) {
    use crate::connect_reply::{ConnectReply, MAX_HEAD, parse};
    let mut first = None;
    for end in 1..=data.len().min(MAX_HEAD) {
        if data[end - 1] != b'\n' && end < MAX_HEAD {
            continue;
        }
        match parse(&data[..end]) {
            Ok(ConnectReply::Partial) => assert!(end < MAX_HEAD, "the cap was not enforced"),
            verdict => {
                first = Some((end, verdict));
                break;
            }
        }
    }
    if let Some((end, verdict)) = first {
        assert!(end <= MAX_HEAD);
        // A complete header means the same whatever follows it (the upstream's bytes).
        if let Ok(ConnectReply::Open | ConnectReply::Refused(..)) = verdict {
            assert_eq!(parse(data), verdict);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_do_not_trip_the_checks() {
        for seed in [
            &br#"<response><data><host>10.0.0.1</host><port>5190</port><cookie>AAEC</cookie><tlsCertName>bos.oscar.aol.com</tlsCertName></data></response>"#[..],
            br#"{"response":{"data":{"host":"h","port":"443","cookie":"AAEC"}}}"#,
            b"<response><data><host>a &amp; b</host><cookie>AAEC</cookie></data></response>",
            b"\xff\xfe",
            // From the fuzzer: a processing instruction splits the host's text in two.
            b"<response><data><host>\x02<?x?>64.12.25.10</host><port>443</port><cookie>AQIDBA==</cookie></data></response>",
        ] {
            api_bodies(seed);
        }
    }

    #[test]
    fn the_fuzz_seeds_and_regressions_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/api_bodies");
        let mut ran = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            api_bodies(&std::fs::read(entry.unwrap().path()).unwrap());
            ran += 1;
        }
        assert!(ran >= 4, "seeds in {}", dir.display());
    }

    #[test]
    fn the_connect_reply_seeds_and_hostile_answers_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/seeds/http_connect_reply");
        let mut ran = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            http_connect_reply(&std::fs::read(entry.unwrap().path()).unwrap());
            ran += 1;
        }
        assert!(ran >= 2, "seeds in {}", dir.display());
        let mut endless = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        endless.resize(3 * crate::connect_reply::MAX_HEAD, b'a');
        for hostile in [&b""[..], b"\n", b"\r\n\r\n", b"HTTP/1.1 200\n\n", &endless] {
            http_connect_reply(hostile);
        }
    }
}
