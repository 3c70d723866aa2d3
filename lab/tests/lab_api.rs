//! The lab's HTTPS clientLogin API over real loopback sockets: clientLogin and
//! startOSCARSession in both document forms, then BOS with the cookie; a wrong password, a
//! tampered or re-hosted signature and an unknown token refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use lab::{Accounts, ApiFormat, ClientLogin, ClientTls, LabClient, LabConfig, LabError, LabServer};

const WAIT: Duration = Duration::from_secs(5);

async fn tls_lab() -> LabServer {
    LabServer::start(LabConfig {
        accounts: Accounts::from_pairs([("alice", "wonder land&="), ("bob", "builder")]),
        ..LabConfig::ephemeral_tls()
    })
    .await
    .unwrap()
}

fn api(lab: &LabServer, format: ApiFormat) -> ClientLogin {
    let tls = ClientTls::trusting_pem(lab.ca_pem().unwrap()).unwrap();
    ClientLogin {
        format,
        ..ClientLogin::new(lab.tls.unwrap().api, tls)
    }
}

#[tokio::test]
async fn client_login_then_tls_bos_in_both_forms() {
    let lab = tls_lab().await;
    for format in [ApiFormat::Xml, ApiFormat::Json] {
        let api = api(&lab, format);
        let mut alice = LabClient::client_login(&api, "alice", "wonder land&=")
            .await
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(alice.bos_tls_name(), Some("bos.oscar.aol.com"));
        alice.send_im("labbot", "via clientLogin").await.unwrap();
        assert_eq!(
            alice.expect_im("labbot", WAIT).await.unwrap(),
            "via clientLogin"
        );
        alice.logout().await.unwrap();
    }
}

#[tokio::test]
async fn the_documents_carry_what_libpurple_reads() {
    let lab = tls_lab().await;
    let tls = lab.tls.unwrap();
    for format in [ApiFormat::Xml, ApiFormat::Json] {
        let api = api(&lab, format);
        let login = api.login_request("Alice", "wonder land&=").await.unwrap();
        assert_eq!(login.status_code, 200, "{format:?}: {}", login.body);
        let body_is_json = login.body.starts_with('{');
        assert_eq!(body_is_json, format == ApiFormat::Json);
        assert_eq!(login.field("data.token.expiresIn"), Some("86400"));
        assert_eq!(login.field("data.screenName"), Some("Alice"));
        let token = login.field("data.token.a").unwrap();
        let secret = login.field("data.sessionSecret").unwrap();
        let host_time = login.field("data.hostTime").unwrap();
        assert!(!token.is_empty() && !secret.is_empty());
        assert!(host_time.parse::<u64>().unwrap() > 1_700_000_000);

        // useTLS=1: the TLS BOS and its certificate name.
        let target = api.start_session_target(token, host_time, "wonder land&=", secret);
        let session = api.start_session_request(&target).await.unwrap();
        assert_eq!(session.status_code, 200, "{}", session.body);
        assert_eq!(session.field("data.host"), Some("127.0.0.1"));
        assert_eq!(
            session.field("data.port"),
            Some(tls.bos.port().to_string().as_str())
        );
        assert_eq!(session.field("data.tlsCertName"), Some("bos.oscar.aol.com"));
        assert!(!session.field("data.cookie").unwrap().is_empty());

        // useTLS=0: the plain BOS and no tlsCertName.
        let plain_api = ClientLogin {
            use_tls: false,
            ..api.clone()
        };
        let target = plain_api.start_session_target(token, host_time, "wonder land&=", secret);
        let session = plain_api.start_session_request(&target).await.unwrap();
        assert_eq!(session.status_code, 200, "{}", session.body);
        assert_eq!(
            session.field("data.port"),
            Some(lab.bos_addr.port().to_string().as_str())
        );
        assert_eq!(session.field("data.tlsCertName"), None);
    }
}

#[tokio::test]
async fn use_tls_0_signs_on_in_plain_text() {
    let lab = tls_lab().await;
    let api = ClientLogin {
        use_tls: false,
        ..api(&lab, ApiFormat::Xml)
    };
    let mut bob = LabClient::client_login(&api, "bob", "builder")
        .await
        .unwrap();
    assert_eq!(bob.bos_tls_name(), None);
    bob.send_im("labbot", "plain BOS").await.unwrap();
    assert_eq!(bob.expect_im("labbot", WAIT).await.unwrap(), "plain BOS");
}

#[tokio::test]
async fn a_wrong_password_is_330_3011() {
    let lab = tls_lab().await;
    for format in [ApiFormat::Xml, ApiFormat::Json] {
        let api = api(&lab, format);
        let reply = api.login_request("alice", "wonderland").await.unwrap();
        assert_eq!(
            (reply.status_code, reply.status_detail),
            (330, Some(lab::DETAIL_BAD_PASSWORD)),
            "{format:?}: {}",
            reply.body
        );
        assert_eq!(reply.field("data.token.a"), None);
        let err = LabClient::client_login(&api, "mallory", "x")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                LabError::ApiRefused {
                    status_code: 330,
                    detail: Some(3011),
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_tampered_or_rehosted_signature_is_refused() {
    let lab = tls_lab().await;
    for format in [ApiFormat::Xml, ApiFormat::Json] {
        let api = api(&lab, format);
        let login = api.login_request("bob", "builder").await.unwrap();
        let (token, secret, ts) = (
            login.field("data.token.a").unwrap(),
            login.field("data.sessionSecret").unwrap(),
            login.field("data.hostTime").unwrap(),
        );
        let target = api.start_session_target(token, ts, "builder", secret);
        let refused = |reply: lab::ApiReply| {
            assert_eq!(
                (reply.status_code, reply.status_detail),
                (401, Some(lab::DETAIL_BAD_SIGNATURE)),
                "{}",
                reply.body
            );
            assert_eq!(reply.field("data.cookie"), None);
        };
        // A parameter changed after signing.
        let changed = target.replace("useTLS=1", "useTLS=0");
        refused(api.start_session_request(&changed).await.unwrap());
        // Parameters reordered.
        let (path, query) = target.split_once('?').unwrap();
        let mut params: Vec<&str> = query.split('&').collect();
        params.swap(1, 2);
        let reordered = format!("{path}?{}", params.join("&"));
        refused(api.start_session_request(&reordered).await.unwrap());
        // The signature dropped.
        let unsigned = target.split("&sig_sha256=").next().unwrap().to_owned();
        refused(api.start_session_request(&unsigned).await.unwrap());
        // Signed with the wrong password.
        let wrong = api.start_session_target(token, ts, "builderX", secret);
        refused(api.start_session_request(&wrong).await.unwrap());
        // The same request sent with another Host than the one signed.
        let rehosted = ClientLogin {
            session_host: "api.icq.net".into(),
            ..api.clone()
        };
        refused(rehosted.start_session_request(&target).await.unwrap());
        // And the untouched request still works (the token is not used up).
        let ok = api.start_session_request(&target).await.unwrap();
        assert_eq!(ok.status_code, 200, "{}", ok.body);
    }
}

#[tokio::test]
async fn an_unknown_token_is_401_and_other_paths_404() {
    let lab = tls_lab().await;
    let api = api(&lab, ApiFormat::Json);
    let target = api.start_session_target("no-such-token", "1700000000", "pw", "secret");
    let reply = api.start_session_request(&target).await.unwrap();
    assert_eq!(
        (reply.status_code, reply.status_detail),
        (401, Some(lab::DETAIL_BAD_TOKEN)),
        "{}",
        reply.body
    );
    let err = api.start_session_request("/aim/nothing").await.unwrap_err();
    assert!(
        matches!(&err, LabError::ApiResponse(why) if why.starts_with("HTTP 404")),
        "{err}"
    );
}

/// One request written byte for byte over TLS (SNI `host`), the whole answer read to EOF.
async fn raw_exchange(lab: &LabServer, host: &str, request: String) -> String {
    use rustls::pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(lab.ca_pem().unwrap().as_bytes())
    {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(lab.tls.unwrap().api)
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A server may end TLS without close_notify after an HTTP/1.0 answer; what was read counts.
    let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut answer)).await;
    String::from_utf8(answer).unwrap()
}

fn body_of(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

#[tokio::test]
async fn libpurples_own_http_10_requests_are_understood() {
    let lab = tls_lab().await;
    // send_client_login: HTTP/1.0, no Host header, the form in libpurple's order.
    let form = "devId=ma19CwYN9i9Mw5nY&f=xml&pwd=builder&s=bob";
    let post = format!(
        "POST /auth/clientLogin HTTP/1.0\r\nConnection: close\r\nAccept: */*\r\n\
         Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let answer = raw_exchange(&lab, "api.screenname.aol.com", post).await;
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    let login = lab::ApiReply::parse(body_of(&answer)).unwrap();
    assert_eq!(login.status_code, 200, "{answer}");
    let (token, secret, ts) = (
        login.field("data.token.a").unwrap(),
        login.field("data.sessionSecret").unwrap(),
        login.field("data.hostTime").unwrap(),
    );
    // send_start_oscar_session: the absolute URL on the request line, Host beside it.
    let api = api(&lab, ApiFormat::Xml);
    let target = api.start_session_target(token, ts, "builder", secret);
    let get = format!(
        "GET https://api.oscar.aol.com{target} HTTP/1.0\r\nConnection: close\r\nAccept: */*\r\n\
         Host: api.oscar.aol.com\r\n\r\n"
    );
    let answer = raw_exchange(&lab, "api.oscar.aol.com", get).await;
    let session = lab::ApiReply::parse(body_of(&answer)).unwrap();
    assert_eq!(session.status_code, 200, "{answer}");
    assert_eq!(session.field("data.tlsCertName"), Some("bos.oscar.aol.com"));
}
