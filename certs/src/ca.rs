//! The gateway CA: its certificate, its key, and the certificates above it when it is an
//! enterprise sub-CA. Files are `ca_files.rs`'s job.

use std::fmt;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, GeneralSubtree,
    IsCa, KeyPair, KeyUsagePurpose, NameConstraints,
};
use rustls::pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::{CaInfo, CertError, KeyKind, NameScope, random_serial};

/// How long a CA made by [`Ca::create`] is valid: ten years, as mitmproxy's.
pub const CA_VALIDITY: Duration = Duration::days(3650);

/// A CA that can sign leaves: the certificate, its private key, and (for an enterprise
/// sub-CA) the intermediate certificates between it and the root clients trust.
///
/// The key never leaves this type except into the key file ([`Ca::save`]); `Debug` shows
/// only the certificate's public facts.
pub struct Ca {
    pub(crate) cert: CertificateDer<'static>,
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) info: CaInfo,
    /// The rcgen issuer (distinguished name, key identifier, signing key), built from the
    /// certificate itself so leaves name their issuer exactly as the certificate does.
    pub(crate) issuer: rcgen::Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA with a fresh `kind` key, named `subject` (its common name),
    /// allowed to issue only for names in `permitted` (critical name constraints; every IP
    /// address excluded, so a stolen key cannot sign for an address either), and only end
    /// entities (path length 0). Valid from an hour ago for [`CA_VALIDITY`].
    pub fn create(
        kind: KeyKind,
        permitted: &NameScope,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<Self, CertError> {
        if permitted.permitted_subtrees().is_empty() {
            return Err(CertError::NoPermittedNames);
        }
        let key = kind.generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, subject);
        dn.push(DnType::OrganizationName, "IMtegrity");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted
                .permitted_subtrees()
                .iter()
                .map(|n| GeneralSubtree::DnsName(n.clone()))
                .collect(),
            excluded_subtrees: vec![
                GeneralSubtree::IpAddress(CidrSubnet::V4([0; 4], [0; 4])),
                GeneralSubtree::IpAddress(CidrSubnet::V6([0; 16], [0; 16])),
            ],
        });
        params.serial_number = Some(random_serial()?);
        let now = crate::issuer::whole_seconds(now);
        params.not_before = now - Duration::hours(1);
        params.not_after = now + CA_VALIDITY;
        let cert = params.self_signed(&key)?;
        let new = Path::new("(new CA)");
        Self::from_parts(cert.der().clone(), key, Vec::new(), new, new)
    }

    /// Puts a certificate and its key together, checking the certificate is a CA and the
    /// key is its key. `cert_path` and `key_path` name them in errors.
    pub(crate) fn from_parts(
        cert: CertificateDer<'static>,
        key: KeyPair,
        chain: Vec<CertificateDer<'static>>,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Self, CertError> {
        let info = CaInfo::parse(&cert).map_err(|why| CertError::NotCa {
            path: cert_path.to_owned(),
            why,
        })?;
        if crate::ca_info::public_key_bits(&cert).as_deref()
            != Some(rcgen::PublicKeyData::der_bytes(&key))
        {
            return Err(CertError::KeyMismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            });
        }
        let issuer = rcgen::Issuer::from_ca_cert_der(&cert, key).map_err(|e| {
            CertError::bad_file(cert_path, format!("rcgen cannot issue with it: {e}"))
        })?;
        Ok(Self {
            cert,
            chain,
            info,
            issuer,
        })
    }

    /// The CA certificate's public facts.
    pub fn info(&self) -> &CaInfo {
        &self.info
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate, PEM: what clients install as a trusted root (or, for an
    /// enterprise sub-CA, what they may be sent as an intermediate).
    pub fn cert_pem(&self) -> String {
        cert_pem(&self.cert)
    }

    /// The certificates above this CA up to (not including) the root, in order, sent to
    /// clients after the CA's own certificate. Empty for a self-signed CA.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The key type, as the configuration spells it, when it is one [`KeyKind`] names.
    pub fn key_kind(&self) -> Option<KeyKind> {
        let alg = self.issuer.key().algorithm();
        if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            Some(KeyKind::EcdsaP256)
        } else if alg == &rcgen::PKCS_RSA_SHA256 && self.info.key == "RSA 2048" {
            Some(KeyKind::Rsa2048)
        } else {
            None
        }
    }
}

/// One DER certificate as a PEM block.
pub fn cert_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// A private key (PKCS #8 DER) as PEM, LF line endings. Secret: for a key file, never a log.
pub(crate) fn key_pem(pkcs8_der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("PRIVATE KEY", pkcs8_der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("info", &self.info)
            .field("chain", &self.chain.len())
            .field("key", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> NameScope {
        NameScope::permitted(["oscar.aol.com", "icq.com"]).unwrap()
    }

    #[test]
    fn a_new_ca_is_constrained_to_its_names_and_dated_as_asked() {
        let now = OffsetDateTime::now_utc();
        let ca = Ca::create(KeyKind::EcdsaP256, &scope(), "Test Gateway CA", now).unwrap();
        let info = ca.info();
        assert_eq!(info.subject, "CN=Test Gateway CA, O=IMtegrity");
        assert_eq!(info.issuer, info.subject);
        assert_eq!(info.key, "ECDSA P-256");
        assert!(info.name_constrained);
        assert_eq!(
            info.scope.permitted_subtrees(),
            ["oscar.aol.com", "icq.com"]
        );
        assert_eq!(info.path_len, Some(0));
        assert_eq!(
            info.not_before.unix_timestamp(),
            (now - Duration::hours(1)).unix_timestamp()
        );
        assert_eq!(
            info.not_after.unix_timestamp(),
            (now + CA_VALIDITY).unix_timestamp()
        );
        assert_eq!(ca.key_kind(), Some(KeyKind::EcdsaP256));
        assert_eq!(info.sha256.len(), 32 * 3 - 1);
    }

    #[test]
    fn an_rsa_ca_says_so() {
        let ca = Ca::create(
            KeyKind::Rsa2048,
            &scope(),
            "RSA CA",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(ca.info().key, "RSA 2048");
        assert_eq!(ca.key_kind(), Some(KeyKind::Rsa2048));
    }

    #[test]
    fn two_cas_get_different_serials_and_keys() {
        let now = OffsetDateTime::now_utc();
        let a = Ca::create(KeyKind::EcdsaP256, &scope(), "A", now).unwrap();
        let b = Ca::create(KeyKind::EcdsaP256, &scope(), "A", now).unwrap();
        assert_ne!(a.info().serial, b.info().serial);
        assert_ne!(a.info().sha256, b.info().sha256);
    }

    #[test]
    fn an_unconstrained_scope_is_refused() {
        let err = Ca::create(
            KeyKind::EcdsaP256,
            &NameScope::unconstrained(),
            "X",
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(matches!(err, CertError::NoPermittedNames), "{err}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let ca = Ca::create(KeyKind::EcdsaP256, &scope(), "X", OffsetDateTime::now_utc()).unwrap();
        let key_pem = ca.issuer.key().serialize_pem();
        let body: String = key_pem.lines().nth(1).unwrap().chars().take(20).collect();
        let debug = format!("{ca:?}");
        assert!(debug.contains("[redacted]"), "{debug}");
        assert!(!debug.contains(&body), "{debug}");
    }

    #[test]
    fn pem_is_what_openssl_and_rustls_read() {
        let ca = Ca::create(KeyKind::EcdsaP256, &scope(), "X", OffsetDateTime::now_utc()).unwrap();
        use rustls::pki_types::pem::PemObject as _;
        let back = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap();
        assert_eq!(back, *ca.cert_der());
    }
}
