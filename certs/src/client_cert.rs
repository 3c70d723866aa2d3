//! Client certificates under the gateway CA, for senders that authenticate with mutual TLS
//! (the Sametime module shipping its spool to the ingest endpoint).
//!
//! A client certificate names its holder in the subject's common name only, with no
//! subject alternative name: the CA's name constraints restrict DNS names in SANs (to the
//! intercepted domains), and a Sametime server's host name is rarely among them. Its only
//! extended key usage is clientAuth, so it cannot serve as a server certificate.

use std::fmt;
use std::fs;
use std::path::Path;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::ca::cert_pem;
use crate::ca_files::{CERT_MODE, KEY_MODE, write_file};
use crate::issuer::whole_seconds;
use crate::{BACKDATE, Ca, CertError, random_serial};

/// The longest a client certificate is made valid for; rotate them at least this often.
pub const MAX_CLIENT_VALIDITY: Duration = Duration::days(825);

/// The longest common name X.520 allows.
const MAX_COMMON_NAME: usize = 64;

/// One issued client certificate and its key.
pub struct ClientCert {
    /// The (normalised) name it was issued to: its subject's common name.
    pub name: String,
    /// Its serial, colon-separated hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Ca {
    /// A client certificate for `name` (a host name, e.g. the Sametime server's), valid
    /// from [`BACKDATE`] before `now` for `validity` (at most [`MAX_CLIENT_VALIDITY`],
    /// never past the CA's own end), with a fresh P-256 key.
    pub fn issue_client(
        &self,
        name: &str,
        validity: Duration,
        now: OffsetDateTime,
    ) -> Result<ClientCert, CertError> {
        let name = crate::normalize(name)?;
        if name.len() > MAX_COMMON_NAME {
            return Err(CertError::BadName {
                name,
                reason: "longer than 64 characters, the most a common name holds",
            });
        }
        let now = whole_seconds(now);
        if !self.info.valid_at(now) {
            return Err(CertError::CaNotValid {
                not_before: self.info.not_before,
                not_after: self.info.not_after,
                now,
            });
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        // No SAN (see the module documentation): the name lives in the subject alone.
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name.as_str());
        params.distinguished_name = dn;
        let serial = random_serial()?;
        params.serial_number = Some(serial.clone());
        params.not_before = now - BACKDATE;
        params.not_after = (now + validity.clamp(Duration::hours(1), MAX_CLIENT_VALIDITY))
            .min(self.info.not_after);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer)?;
        tracing::debug!(%name, %serial, not_after = %params.not_after, "client certificate issued");
        Ok(ClientCert {
            serial: serial.to_string(),
            not_before: params.not_before,
            not_after: params.not_after,
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            name,
        })
    }
}

impl ClientCert {
    /// The certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> String {
        cert_pem(&self.cert)
    }

    /// Its private key, PKCS #8 PEM. Secret: for a key file, never for a log.
    pub fn key_pem(&self) -> String {
        crate::ca::key_pem(self.key.secret_pkcs8_der())
    }

    /// Writes the certificate to `cert` (0644) and the key to `key` (0600); refuses to
    /// replace either unless `force`.
    pub fn save(&self, cert: &Path, key: &Path, force: bool) -> Result<(), CertError> {
        if !force {
            for path in [cert, key] {
                if fs::symlink_metadata(path).is_ok() {
                    return Err(CertError::Exists {
                        path: path.to_path_buf(),
                    });
                }
            }
        }
        write_file(key, self.key_pem().as_bytes(), KEY_MODE)?;
        write_file(cert, self.cert_pem().as_bytes(), CERT_MODE)
    }
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCert")
            .field("name", &self.name)
            .field("serial", &self.serial)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// Who a (verified) certificate names: its subject's common name, or the whole subject
/// when it has none; `None` if `der` does not parse.
pub fn subject_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let common_name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    Some(common_name.unwrap_or_else(|| subject.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::RootCertStore;
    use rustls::pki_types::UnixTime;
    use rustls::server::WebPkiClientVerifier;

    use super::*;
    use crate::{KeyKind, NameScope};

    fn ca() -> Ca {
        let scope = NameScope::permitted(["oscar.aol.com"]).unwrap();
        Ca::create(KeyKind::EcdsaP256, &scope, "CA", OffsetDateTime::now_utc()).unwrap()
    }

    #[test]
    fn a_client_certificate_outside_the_name_constraints_verifies_as_a_client() {
        // The CA may issue servers only for oscar.aol.com; a client named otherwise still
        // passes webpki's client verification, because its name is not a DNS SAN.
        let ca = ca();
        let now = OffsetDateTime::now_utc();
        let client = ca
            .issue_client("ST1.Example.COM", Duration::days(365), now)
            .unwrap();
        assert_eq!(client.name, "st1.example.com");
        assert_eq!(
            subject_name(client.cert_der()).as_deref(),
            Some("st1.example.com")
        );
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        verifier
            .verify_client_cert(client.cert_der(), &[], UnixTime::now())
            .unwrap();
        // Another CA's client is refused.
        let other = self::ca();
        let stranger = other
            .issue_client("st1.example.com", Duration::days(1), now)
            .unwrap();
        assert!(
            verifier
                .verify_client_cert(stranger.cert_der(), &[], UnixTime::now())
                .is_err()
        );
    }

    #[test]
    fn validity_is_bounded_and_names_are_checked() {
        let ca = ca();
        let now = OffsetDateTime::now_utc();
        let long = ca
            .issue_client("a.example", Duration::days(5000), now)
            .unwrap();
        assert_eq!(
            long.not_after - long.not_before,
            MAX_CLIENT_VALIDITY + BACKDATE
        );
        for bad in ["", "a b", "10.0.0.1", &"a".repeat(70)] {
            assert!(
                ca.issue_client(bad, Duration::days(1), now).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn save_keeps_the_key_private_and_refuses_to_overwrite() {
        use std::os::unix::fs::PermissionsExt as _;
        let client = ca()
            .issue_client("st1.example", Duration::days(1), OffsetDateTime::now_utc())
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (cert, key) = (tmp.path().join("c.pem"), tmp.path().join("c.key"));
        client.save(&cert, &key, false).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&cert), mode(&key)), (0o644, 0o600));
        assert!(matches!(
            client.save(&cert, &key, false),
            Err(CertError::Exists { .. })
        ));
        client.save(&cert, &key, true).unwrap();
        assert!(!format!("{client:?}").contains(client.key_pem().lines().nth(1).unwrap()));
    }
}
