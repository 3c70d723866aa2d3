//! An HTTP proxy's answer to CONNECT, without I/O: the bytes read so far go in, and out
//! comes "read more", the tunnel is open, or the proxy refused. The header is parsed by
//! httparse; this module bounds it and says what the status means. The caller reads one
//! byte at a time, because whatever follows the header is already the upstream's OSCAR.

/// Longest answer header accepted from a proxy.
pub(crate) const MAX_HEAD: usize = 8 * 1024;
/// Most header lines accepted in a proxy's answer.
const MAX_HEADERS: usize = 32;

/// What the bytes so far say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectReply {
    /// The header is not complete yet.
    Partial,
    /// A 2xx answer: the tunnel is open, and the next byte is the upstream's.
    Open,
    /// Any other status: the proxy's code and reason phrase (proxy text, shown cut short).
    Refused(u16, String),
}

/// Why an answer to CONNECT is not one a proxy should send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadConnectReply {
    /// Longer than the 8 KiB accepted without ending.
    #[error("answer header longer than {MAX_HEAD} bytes")]
    TooLong,
    /// Not an HTTP/1.x response header.
    #[error("not an HTTP answer ({0})")]
    Malformed(#[source] httparse::Error),
}

/// Reads `head`, every byte the proxy sent so far (the caller stops at the header's end).
pub(crate) fn parse(head: &[u8]) -> Result<ConnectReply, BadConnectReply> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Partial) if head.len() >= MAX_HEAD => Err(BadConnectReply::TooLong),
        Ok(httparse::Status::Partial) => Ok(ConnectReply::Partial),
        Ok(httparse::Status::Complete(_)) => {
            let code = response.code.unwrap_or(0);
            if (200..300).contains(&code) {
                Ok(ConnectReply::Open)
            } else {
                let reason: String = response
                    .reason
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(80)
                    .collect();
                Ok(ConnectReply::Refused(code, reason))
            }
        }
        Err(e) => Err(BadConnectReply::Malformed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_2xx_opens_and_the_rest_refuses() {
        assert_eq!(
            parse(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Ok(ConnectReply::Open)
        );
        assert_eq!(
            parse(b"HTTP/1.0 200 OK\r\nProxy-agent: tinyproxy\r\n\r\n"),
            Ok(ConnectReply::Open)
        );
        assert_eq!(
            parse(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"
            ),
            Ok(ConnectReply::Refused(
                407,
                "Proxy Authentication Required".into()
            ))
        );
        assert_eq!(
            parse(b"HTTP/1.1 403 \x1b[31mno\r\n\r\n"),
            Err(BadConnectReply::Malformed(httparse::Error::Status)),
            "control characters in the reason are not HTTP"
        );
    }

    #[test]
    fn every_prefix_of_an_answer_is_partial() {
        let answer = b"HTTP/1.1 200 Connection established\r\nVia: 1.1 proxy\r\n\r\n";
        for end in 0..answer.len() {
            assert_eq!(parse(&answer[..end]), Ok(ConnectReply::Partial), "{end}");
        }
    }

    #[test]
    fn hostile_answers_are_refused_not_trusted() {
        for hostile in [
            &b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/9.9 200 OK\r\n\r\n",
            b"\x05\x00",
            b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        ] {
            assert!(
                matches!(parse(hostile), Err(BadConnectReply::Malformed(_))),
                "{hostile:?}"
            );
        }
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"X: y\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(
            parse(&many),
            Err(BadConnectReply::Malformed(httparse::Error::TooManyHeaders))
        ));
        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        endless.resize(MAX_HEAD, b'a');
        assert_eq!(parse(&endless), Err(BadConnectReply::TooLong));
    }
}
