//! Minting leaf certificates for host names under the gateway CA.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::crypto::KeyProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use crate::ca::cert_pem;
use crate::{Ca, CertError, Clock, NameScope, random_serial};

/// How far back a leaf's validity starts, for clients whose clocks run a little slow.
pub const BACKDATE: Duration = Duration::hours(1);

/// The longest leaf validity clients accept (CA/Browser Forum, Apple, Chrome): 397 days.
pub const MAX_LEAF_VALIDITY: Duration = Duration::days(397);

/// Mints leaves: a fresh ECDSA P-256 key per leaf (never the CA's key), a random serial,
/// valid from [`BACKDATE`] ago for the configured time (never past the CA's own end),
/// the name as its only SAN (and common name), serverAuth, and an authority key identifier.
/// The chain handed to rustls is the leaf, the CA, and the CA's own chain.
///
/// Names outside the configured scope, or outside the CA's own name constraints, are
/// refused: a client would reject the leaf anyway.
pub struct Issuer {
    ca: Arc<Ca>,
    scope: NameScope,
    validity: Duration,
    clock: Arc<dyn Clock>,
    keys: &'static dyn KeyProvider,
    issued: AtomicU64,
}

/// What a source of leaves provides; [`Issuer`] is the real one, and the cache takes any.
pub trait LeafSource: Send + Sync {
    /// A new leaf for `name`, which the caller has normalised.
    fn issue(&self, name: &str) -> Result<Leaf, CertError>;
}

impl Issuer {
    /// An issuer under `ca` for names in `scope`, each leaf valid for `validity` (at most
    /// [`MAX_LEAF_VALIDITY`]), dated by `clock`. Fails if the CA is not valid now.
    pub fn new(
        ca: Arc<Ca>,
        scope: NameScope,
        validity: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CertError> {
        let now = clock.now();
        if !ca.info.valid_at(now) {
            return Err(CertError::CaNotValid {
                not_before: ca.info.not_before,
                not_after: ca.info.not_after,
                now,
            });
        }
        Ok(Self {
            ca,
            scope,
            validity: validity.clamp(Duration::minutes(1), MAX_LEAF_VALIDITY),
            clock,
            keys: rustls::crypto::ring::default_provider().key_provider,
            issued: AtomicU64::new(0),
        })
    }

    /// The CA the leaves are signed by.
    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    /// How many leaves this issuer has minted.
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// The clock leaves are dated by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Whether [`Issuer::issue`] would mint a leaf for `name`: it is a valid DNS name inside
    /// both the configured scope and the CA's own name constraints.
    pub fn permits(&self, name: &str) -> bool {
        crate::normalize(name)
            .is_ok_and(|name| self.scope.permits(&name) && self.ca.info.scope.permits(&name))
    }

    /// A new leaf for `name` (any case, a trailing dot allowed).
    pub fn issue(&self, name: &str) -> Result<Leaf, CertError> {
        let name = crate::normalize(name)?;
        self.scope.check(&name)?;
        self.ca.info.scope.check(&name)?;
        // Certificates carry whole seconds; so does the leaf's record of its validity.
        let now = whole_seconds(self.clock.now());
        let ca = &self.ca.info;
        if !ca.valid_at(now) {
            return Err(CertError::CaNotValid {
                not_before: ca.not_before,
                not_after: ca.not_after,
                now,
            });
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![name.clone()])?;
        let mut dn = DistinguishedName::new();
        // X.520 caps a common name at 64 characters; a longer name lives in the SAN alone
        // (which rcgen then marks critical, as RFC 5280 asks for an empty subject).
        if name.len() <= 64 {
            dn.push(DnType::CommonName, name.as_str());
        }
        params.distinguished_name = dn;
        let serial = random_serial()?;
        params.serial_number = Some(serial.clone());
        params.not_before = now - BACKDATE;
        params.not_after = (now + self.validity).min(ca.not_after);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.ca.issuer)?;

        let key_der = PrivatePkcs8KeyDer::from(key.serialize_der());
        let signing_key = self
            .keys
            .load_private_key(PrivateKeyDer::Pkcs8(key_der.clone_key()))?;
        let mut chain = Vec::with_capacity(2 + self.ca.chain.len());
        chain.push(cert.der().clone());
        chain.push(self.ca.cert.clone());
        chain.extend(self.ca.chain.iter().cloned());
        self.issued.fetch_add(1, Ordering::Relaxed);
        let leaf = Leaf {
            certified: Arc::new(CertifiedKey::new(chain, signing_key)),
            serial: serial.to_string(),
            not_before: params.not_before,
            not_after: params.not_after,
            key: key_der,
            name,
        };
        tracing::debug!(name = %leaf.name, serial = %leaf.serial, not_after = %leaf.not_after, "leaf issued");
        Ok(leaf)
    }
}

/// `t` without its fraction of a second.
pub(crate) fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

impl LeafSource for Issuer {
    fn issue(&self, name: &str) -> Result<Leaf, CertError> {
        Self::issue(self, name)
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("ca", &self.ca)
            .field("scope", &self.scope)
            .field("validity", &self.validity)
            .field("issued", &self.issued())
            .finish_non_exhaustive()
    }
}

/// One minted leaf: what rustls serves, and the same as PEM for files.
pub struct Leaf {
    /// The normalised host name it is for.
    pub name: String,
    /// The chain (leaf, CA, the CA's chain) and the signing key, for rustls.
    pub certified: Arc<CertifiedKey>,
    /// Its serial, colon-separated hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Leaf {
    /// The leaf certificate alone, PEM.
    pub fn cert_pem(&self) -> String {
        self.certified
            .cert
            .first()
            .map(|c| cert_pem(c))
            .unwrap_or_default()
    }

    /// The leaf followed by the CA and its chain, PEM: what a server presents.
    pub fn chain_pem(&self) -> String {
        self.certified.cert.iter().map(|c| cert_pem(c)).collect()
    }

    /// The certificates rustls serves, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.certified.cert
    }

    /// The leaf's private key, PKCS #8 PEM. Secret: for a key file, never for a log.
    pub fn key_pem(&self) -> String {
        crate::ca::key_pem(self.key.secret_pkcs8_der())
    }
}

impl fmt::Debug for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leaf")
            .field("name", &self.name)
            .field("serial", &self.serial)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use x509_parser::extensions::GeneralName;

    use super::*;
    use crate::{KeyKind, SystemClock};

    /// A clock tests set by hand.
    #[derive(Debug)]
    struct FixedClock(Mutex<OffsetDateTime>);

    impl Clock for FixedClock {
        fn now(&self) -> OffsetDateTime {
            *self.0.lock().unwrap()
        }
    }

    fn ca(kind: KeyKind) -> Arc<Ca> {
        let scope = NameScope::permitted(["oscar.aol.com", "icq.com"]).unwrap();
        Arc::new(Ca::create(kind, &scope, "Test CA", OffsetDateTime::now_utc()).unwrap())
    }

    fn issuer(ca: Arc<Ca>, scope: &[&str], hours: i64) -> Issuer {
        Issuer::new(
            ca,
            NameScope::permitted(scope.iter().copied()).unwrap(),
            Duration::hours(hours),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    fn parse(der: &[u8]) -> x509_parser::certificate::X509Certificate<'_> {
        x509_parser::parse_x509_certificate(der).unwrap().1
    }

    #[test]
    fn a_leaf_is_for_its_name_signed_by_the_ca_with_a_key_of_its_own() {
        let ca = ca(KeyKind::EcdsaP256);
        let issuer = issuer(ca.clone(), &["oscar.aol.com", "icq.com"], 168);
        let leaf = issuer.issue("Login.OSCAR.aol.com.").unwrap();
        assert_eq!(leaf.name, "login.oscar.aol.com");
        assert_eq!(leaf.chain().len(), 2);
        assert_eq!(&leaf.chain()[1], ca.cert_der());
        let cert = parse(&leaf.chain()[0]);
        assert_eq!(cert.subject().to_string(), "CN=login.oscar.aol.com");
        assert_eq!(cert.issuer().to_string(), "CN=Test CA, O=IMtegrity");
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            san.value.general_names,
            [GeneralName::DNSName("login.oscar.aol.com")]
        );
        let eku = cert.extended_key_usage().unwrap().unwrap();
        assert!(eku.value.server_auth);
        assert!(!cert.is_ca());
        // The authority key identifier is the CA's subject key identifier.
        let ca_cert = parse(ca.cert_der());
        let ski = ca_cert
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
                _ => None,
            })
            .unwrap();
        let aki = cert
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(k) => {
                    k.key_identifier.as_ref().map(|k| k.0)
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(aki, ski);
        // The leaf's key is not the CA's, nor another leaf's.
        let other = issuer.issue("login.oscar.aol.com").unwrap();
        let leaf_key = cert.public_key().raw;
        assert_ne!(leaf_key, ca_cert.public_key().raw);
        assert_ne!(leaf_key, parse(&other.chain()[0]).public_key().raw);
        // And the signature verifies under the CA key.
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        assert_eq!(issuer.issued(), 2);
    }

    #[test]
    fn names_outside_either_scope_are_refused() {
        // The configuration allows more than the CA's constraints: the CA wins...
        let wide = issuer(ca(KeyKind::EcdsaP256), &["aol.com", "icq.com"], 24);
        let err = wide.issue("www.aol.com").unwrap_err();
        assert!(matches!(err, CertError::NotPermitted { .. }), "{err}");
        assert!(wide.issue("login.oscar.aol.com").is_ok());
        // ...and a configuration narrower than the CA wins too.
        let narrow = issuer(ca(KeyKind::EcdsaP256), &["oscar.aol.com"], 24);
        let err = narrow.issue("slogin.icq.com").unwrap_err();
        assert_eq!(
            err.to_string(),
            "slogin.icq.com is outside the names this CA may issue for (oscar.aol.com); \
             clients would reject a certificate for it"
        );
        for bad in ["127.0.0.1", "*.oscar.aol.com", "www.example.org"] {
            assert!(narrow.issue(bad).is_err(), "{bad}");
            assert!(!narrow.permits(bad), "{bad}");
        }
        // permits() answers as issue() would, without minting.
        assert!(!wide.permits("www.aol.com"));
        assert!(wide.permits("BOS.oscar.aol.com."));
        assert!(!narrow.permits("slogin.icq.com"));
        assert_eq!(narrow.issued() + wide.issued(), 1);
    }

    #[test]
    fn validity_starts_an_hour_back_and_ends_as_configured_or_with_the_ca() {
        let now = OffsetDateTime::now_utc();
        let clock = Arc::new(FixedClock(Mutex::new(now)));
        let ca = ca(KeyKind::EcdsaP256);
        let scope = NameScope::permitted(["oscar.aol.com"]).unwrap();
        let issuer = Issuer::new(
            ca.clone(),
            scope.clone(),
            Duration::hours(168),
            clock.clone(),
        )
        .unwrap();
        let leaf = issuer.issue("bos.oscar.aol.com").unwrap();
        let cert = parse(&leaf.chain()[0]);
        let v = cert.validity();
        assert_eq!(v.not_before.timestamp(), (now - BACKDATE).unix_timestamp());
        assert_eq!(
            v.not_after.timestamp(),
            (now + Duration::hours(168)).unix_timestamp()
        );
        assert_eq!(leaf.not_after.unix_timestamp(), v.not_after.timestamp());
        // Near the CA's end, the leaf ends with it.
        *clock.0.lock().unwrap() = ca.info().not_after - Duration::hours(2);
        let leaf = issuer.issue("bos.oscar.aol.com").unwrap();
        assert_eq!(leaf.not_after, ca.info().not_after);
        // Past it, nothing is issued.
        *clock.0.lock().unwrap() = ca.info().not_after + Duration::seconds(1);
        let err = issuer.issue("bos.oscar.aol.com").unwrap_err();
        assert!(matches!(err, CertError::CaNotValid { .. }), "{err}");
        assert!(Issuer::new(ca, scope, Duration::hours(1), clock).is_err());
        // A validity beyond what clients accept is cut to 397 days.
        let long = issuer_with_validity(Duration::days(800));
        let leaf = long.issue("a.oscar.aol.com").unwrap();
        assert_eq!(
            leaf.not_after - leaf.not_before,
            MAX_LEAF_VALIDITY + BACKDATE
        );
    }

    fn issuer_with_validity(validity: Duration) -> Issuer {
        Issuer::new(
            ca(KeyKind::EcdsaP256),
            NameScope::permitted(["oscar.aol.com"]).unwrap(),
            validity,
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    #[test]
    fn leaves_under_an_rsa_ca_are_p256_signed_with_rsa() {
        let ca = ca(KeyKind::Rsa2048);
        let issuer = issuer(ca.clone(), &["oscar.aol.com"], 24);
        let leaf = issuer.issue("login.oscar.aol.com").unwrap();
        let cert = parse(&leaf.chain()[0]);
        assert_eq!(
            cert.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.113549.1.1.11",
            "sha256WithRSAEncryption"
        );
        assert!(matches!(
            cert.public_key().parsed().unwrap(),
            x509_parser::public_key::PublicKey::EC(_)
        ));
        cert.verify_signature(Some(parse(ca.cert_der()).public_key()))
            .unwrap();
    }

    #[test]
    fn pem_forms_and_debug() {
        let issuer = issuer(ca(KeyKind::EcdsaP256), &["oscar.aol.com"], 24);
        let leaf = issuer.issue("login.oscar.aol.com").unwrap();
        assert_eq!(leaf.cert_pem().matches("BEGIN CERTIFICATE").count(), 1);
        assert_eq!(leaf.chain_pem().matches("BEGIN CERTIFICATE").count(), 2);
        let key = leaf.key_pem();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");
        let body = key.lines().nth(1).unwrap();
        let debug = format!("{leaf:?} {issuer:?}");
        assert!(!debug.contains(body), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }
}
