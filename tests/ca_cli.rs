//! `imtegrity ca`: the real binary creates, imports, exports, shows and issues; OpenSSL, curl
//! and rustls check what it made. The TLS servers here are tokio-rustls on 127.0.0.1 with
//! the certs crate's `CertResolver` over the CA the binary wrote.
//!
//! Needs openssl and curl (tests/peers/install.sh); the tests that use them are skipped
//! locally without them, a failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use certs::{Ca, CertResolver, Issuer, LeafCache, NameScope, SystemClock};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const OPENSSL: &str = "/usr/bin/openssl";
const CURL: &str = "/usr/bin/curl";

/// `imtegrity ARGS --set tls.ca_dir=CA_DIR`.
fn ca(ca_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imtegrity"))
        .args(args)
        .arg("--set")
        .arg(format!("tls.ca_dir={}", ca_dir.display()))
        .output()
        .expect("run imtegrity")
}

/// Like [`ca`], expecting success and one JSON line.
fn ca_json(ca_dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ca(ca_dir, &all);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out)))
}

fn text(out: &Output) -> String {
    imtegrity_harness::output_text(out)
}

/// `openssl ARGS` in `dir`: success and output.
fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(OPENSSL)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (out.status.success(), text(&out))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The base64 lines of the PEM key at `path`, to look for in output.
fn key_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .collect()
}

fn assert_no_key_in(out: &Output, key: &Path) {
    let all = text(out);
    assert!(!all.contains("PRIVATE KEY"), "{all}");
    for line in key_lines(key) {
        assert!(!all.contains(&line), "key material in output: {all}");
    }
}

#[test]
fn init_export_and_issue_give_certificates_openssl_verifies() {
    if !imtegrity_harness::tools_present("init_export_and_issue", &[OPENSSL]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");

    // Before init: no CA, and the commands say how to get one.
    let scratch = tmp.path().to_str().unwrap();
    for args in [
        &["ca", "show"][..],
        &["ca", "export"],
        &["ca", "issue", "login.oscar.aol.com", "--out-dir", scratch],
    ] {
        let none = ca(&dir, args);
        assert_eq!(none.status.code(), Some(1), "{args:?}: {}", text(&none));
        assert!(
            text(&none).contains("imtegrity ca init"),
            "{args:?}: {}",
            text(&none)
        );
    }

    let out = ca(
        &dir,
        &["--json", "ca", "init", "--subject", "Test Gateway CA"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["event"], "created");
    assert_eq!(created["subject"], "CN=Test Gateway CA, O=IMtegrity");
    assert_eq!(created["key_type"], "ECDSA P-256");
    assert_eq!(created["permitted"][0], "oscar.aol.com");
    assert_eq!(created["name_constrained"], true);
    let key = dir.join("ca.key");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&dir.join("ca.pem")), 0o600);
    assert_no_key_in(&out, &key);

    // The fingerprint printed is the one OpenSSL computes.
    let (ok, fp) = openssl(
        &dir,
        &["x509", "-in", "ca.pem", "-noout", "-fingerprint", "-sha256"],
    );
    assert!(ok, "{fp}");
    assert_eq!(
        fp.trim().split('=').nth(1).unwrap(),
        created["sha256"].as_str().unwrap()
    );

    // A second init does not replace it; --force does.
    let again = ca(&dir, &["ca", "init"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("use --force"), "{}", text(&again));
    let shown = ca_json(&dir, &["ca", "show"]);
    assert_eq!(shown["sha256"], created["sha256"]);
    assert_eq!(shown["key_file_mode"], "600");

    // Export: PEM to stdout is ca.pem; DER to a file is the same certificate.
    let pem = ca(&dir, &["ca", "export"]);
    assert!(pem.status.success(), "{}", text(&pem));
    assert_eq!(
        String::from_utf8(pem.stdout.clone()).unwrap(),
        std::fs::read_to_string(dir.join("ca.pem")).unwrap()
    );
    assert_no_key_in(&pem, &key);
    let exported = tmp.path().join("exported.pem");
    std::fs::write(&exported, &pem.stdout).unwrap();
    let der = tmp.path().join("ca.der");
    let out = ca_json(
        &dir,
        &[
            "ca",
            "export",
            "--format",
            "der",
            "--out",
            der.to_str().unwrap(),
        ],
    );
    assert_eq!(out["sha256"], created["sha256"]);
    let (ok, fp_der) = openssl(
        tmp.path(),
        &[
            "x509",
            "-inform",
            "der",
            "-in",
            "ca.der",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    assert!(ok, "{fp_der}");
    assert_eq!(fp_der, fp);
    let bad = ca(&dir, &["ca", "export", "--format", "p12"]);
    assert_eq!(bad.status.code(), Some(64), "{}", text(&bad));

    // Issue a leaf; OpenSSL verifies it against the exported CA, for its name.
    let leaves = tmp.path().join("leaves");
    let issued = ca_json(
        &dir,
        &[
            "ca",
            "issue",
            "login.oscar.aol.com",
            "--out-dir",
            leaves.to_str().unwrap(),
        ],
    );
    assert_eq!(issued["name"], "login.oscar.aol.com");
    assert_eq!(mode(&leaves.join("login.oscar.aol.com.key")), 0o600);
    let (ok, verified) = openssl(
        &leaves,
        &[
            "verify",
            "-CAfile",
            exported.to_str().unwrap(),
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "login.oscar.aol.com",
            "login.oscar.aol.com.pem",
        ],
    );
    assert!(ok && verified.contains(": OK"), "{verified}");
    // ...and not for another name.
    let (ok, wrong) = openssl(
        &leaves,
        &[
            "verify",
            "-CAfile",
            exported.to_str().unwrap(),
            "-verify_hostname",
            "slogin.oscar.aol.com",
            "login.oscar.aol.com.pem",
        ],
    );
    assert!(!ok, "{wrong}");

    // A name outside the CA's names is refused as a usage error, and writes nothing.
    let refused = ca(
        &dir,
        &[
            "ca",
            "issue",
            "www.example.org",
            "--out-dir",
            leaves.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.status.code(), Some(64), "{}", text(&refused));
    assert!(text(&refused).contains("outside the names this CA may issue for"));
    assert!(!leaves.join("www.example.org.pem").exists());

    // --force replaces the CA with a new one.
    let replaced = ca_json(&dir, &["ca", "init", "--force"]);
    assert_ne!(replaced["sha256"], created["sha256"]);
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn an_rsa_ca_issues_p256_leaves_openssl_verifies() {
    if !imtegrity_harness::tools_present("an_rsa_ca_issues", &[OPENSSL]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let created = ca_json(&dir, &["ca", "init", "--key", "rsa-2048"]);
    assert_eq!(created["key_type"], "RSA 2048");
    // tls.ca_key does the same as --key.
    let dir2 = tmp.path().join("ca2");
    let created2 = ca_json(&dir2, &["ca", "init", "--set", "tls.ca_key=rsa-2048"]);
    assert_eq!(created2["key_type"], "RSA 2048");
    let bad = ca(
        &tmp.path().join("ca3"),
        &["ca", "init", "--key", "rsa-1024"],
    );
    assert_eq!(bad.status.code(), Some(64), "{}", text(&bad));

    ca_json(
        &dir,
        &[
            "ca",
            "issue",
            "slogin.icq.com",
            "--out-dir",
            tmp.path().to_str().unwrap(),
        ],
    );
    let (ok, out) = openssl(
        tmp.path(),
        &[
            "verify",
            "-CAfile",
            "ca/ca.pem",
            "-verify_hostname",
            "slogin.icq.com",
            "slogin.icq.com.pem",
        ],
    );
    assert!(ok, "{out}");
    let (_, leaf) = openssl(
        tmp.path(),
        &["x509", "-in", "slogin.icq.com.pem", "-noout", "-text"],
    );
    assert!(
        leaf.contains("Signature Algorithm: sha256WithRSAEncryption"),
        "{leaf}"
    );
    assert!(leaf.contains("NIST CURVE: P-256"), "{leaf}");
}

/// An enterprise PKI made with OpenSSL: a root, and a sub-CA under it constrained to
/// `oscar.aol.com`, its key in PKCS #8 as `openssl genpkey` writes it.
fn enterprise_pki(dir: &Path) {
    let run = |args: &[&str]| {
        let (ok, out) = openssl(dir, args);
        assert!(ok, "openssl {args:?}: {out}");
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "[sub]\nbasicConstraints = critical, CA:true, pathlen:0\n\
         keyUsage = critical, keyCertSign, cRLSign\n\
         nameConstraints = critical, permitted;DNS:oscar.aol.com\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
    )
    .unwrap();
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "root.key",
    ]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "root.key",
        "-out",
        "root.pem",
        "-days",
        "30",
        "-subj",
        "/CN=Example Corp Root CA",
    ]);
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "sub.key",
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        "sub.key",
        "-out",
        "sub.csr",
        "-subj",
        "/CN=Example Corp IM Gateway CA",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "sub.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-out",
        "sub.pem",
        "-days",
        "20",
        "-extfile",
        "ext.cnf",
        "-extensions",
        "sub",
    ]);
}

#[test]
fn an_enterprise_sub_ca_is_imported_and_issues_under_its_root() {
    if !imtegrity_harness::tools_present("an_enterprise_sub_ca_is_imported", &[OPENSSL]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path();
    enterprise_pki(pki);
    let dir = pki.join("ca");
    let file = |name: &str| pki.join(name).to_str().unwrap().to_owned();

    // Wrong key, not a CA, old key format: each refused with the reason.
    let wrong = ca(
        &dir,
        &[
            "ca",
            "import",
            "--cert",
            &file("sub.pem"),
            "--key",
            &file("root.key"),
        ],
    );
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("does not belong to the certificate"),
        "{}",
        text(&wrong)
    );
    let (ok, out) = openssl(pki, &["ec", "-in", "sub.key", "-out", "sub-sec1.key"]);
    assert!(ok, "{out}");
    let sec1 = ca(
        &dir,
        &[
            "ca",
            "import",
            "--cert",
            &file("sub.pem"),
            "--key",
            &file("sub-sec1.key"),
        ],
    );
    assert!(
        text(&sec1).contains("openssl pkcs8 -topk8"),
        "{}",
        text(&sec1)
    );
    assert!(!dir.join("ca.pem").exists());

    let imported = ca_json(
        &dir,
        &[
            "ca",
            "import",
            "--cert",
            &file("sub.pem"),
            "--key",
            &file("sub.key"),
        ],
    );
    assert_eq!(imported["event"], "imported");
    assert_eq!(imported["issuer"], "CN=Example Corp Root CA");
    assert_eq!(imported["permitted"], serde_json::json!(["oscar.aol.com"]));
    assert_eq!(mode(&dir.join("ca.key")), 0o600);

    // A leaf under it verifies against the enterprise root, with the sub-CA from the
    // chain file `issue` writes.
    let leaves = pki.join("leaves");
    ca_json(
        &dir,
        &[
            "ca",
            "issue",
            "bos.oscar.aol.com",
            "--out-dir",
            leaves.to_str().unwrap(),
        ],
    );
    let (ok, out) = openssl(
        &leaves,
        &[
            "verify",
            "-CAfile",
            &file("root.pem"),
            "-untrusted",
            "bos.oscar.aol.com.chain.pem",
            "-verify_hostname",
            "bos.oscar.aol.com",
            "bos.oscar.aol.com.pem",
        ],
    );
    assert!(ok, "{out}");
    // tls.permitted allows icq.com, but this sub-CA's own constraints do not: refused.
    let refused = ca(
        &dir,
        &[
            "ca",
            "issue",
            "slogin.icq.com",
            "--out-dir",
            leaves.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.status.code(), Some(64), "{}", text(&refused));
}

/// A TLS server on 127.0.0.1 serving leaves from the CA in `dir`: for each connection,
/// either one byte after the handshake, or (`http`) one small HTTP response.
async fn serve(dir: &Path, http: bool) -> SocketAddr {
    let ca = Ca::load(dir).unwrap();
    let scope = NameScope::permitted(["oscar.aol.com", "icq.com"]).unwrap();
    let issuer = Issuer::new(
        Arc::new(ca),
        scope,
        time::Duration::hours(24),
        Arc::new(SystemClock),
    )
    .unwrap();
    let cache = LeafCache::for_issuer(issuer, 16, time::Duration::hours(1));
    let resolver = CertResolver::new(Arc::new(cache), "slogin.oscar.aol.com");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(resolver));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if http {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
                        .await;
                } else {
                    let _ = tls.write_all(b"k").await;
                }
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

/// `ca init` in a new directory, then `ca export` to `ca.pem` beside it; returns both paths.
fn init_and_export(tmp: &Path) -> (PathBuf, PathBuf) {
    let dir = tmp.join("ca");
    ca_json(&dir, &["ca", "init"]);
    let exported = tmp.join("exported.pem");
    ca_json(&dir, &["ca", "export", "--out", exported.to_str().unwrap()]);
    (dir, exported)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rustls_clients_trusting_the_exported_ca_connect_for_intercepted_names_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, exported) = init_and_export(tmp.path());
    let addr = serve(&dir, false).await;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&exported).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let connect = |name: &str| {
        let connector = connector.clone();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let mut tls = connector.connect(name, tcp).await?;
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await?;
            Ok::<_, std::io::Error>(byte)
        }
    };
    assert_eq!(connect("login.oscar.aol.com").await.unwrap(), *b"k");
    assert_eq!(connect("SLOGIN.icq.com").await.unwrap(), *b"k");
    let err = connect("www.example.org").await.unwrap_err();
    // The server found no certificate for it and ended the handshake.
    assert!(err.to_string().contains("alert"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_and_openssl_trust_the_exported_ca_and_a_client_without_sni_gets_the_default_name() {
    if !imtegrity_harness::tools_present("curl_and_openssl_trust_the_exported_ca", &[OPENSSL, CURL])
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (dir, exported) = init_and_export(tmp.path());
    let addr = serve(&dir, true).await;
    let port = addr.port();
    let curl = |name: &str| {
        tokio::process::Command::new(CURL)
            .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
            .arg(&exported)
            .arg("--resolve")
            .arg(format!("{name}:{port}:127.0.0.1"))
            .arg(format!("https://{name}:{port}/"))
            .output()
    };
    let out = curl("login.oscar.aol.com").await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(out.stdout, b"ok\n");
    let out = curl("www.example.org").await.unwrap();
    assert!(!out.status.success(), "{}", text(&out));

    // No SNI at all: the leaf is for tls.default_name.
    let out = tokio::process::Command::new(OPENSSL)
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-noservername",
            "-CAfile",
        ])
        .arg(&exported)
        .args([
            "-verify_hostname",
            "slogin.oscar.aol.com",
            "-verify_return_error",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let all = text(&out);
    assert!(all.contains("Verification: OK"), "{all}");
    assert!(all.contains("CN = slogin.oscar.aol.com"), "{all}");
}
