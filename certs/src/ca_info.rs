//! What a CA certificate says about itself, read from its DER (for `ca show`, and to check
//! an imported certificate can act as a CA).

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, GeneralSubtree};
use x509_parser::public_key::PublicKey;

use crate::NameScope;

/// The public facts of a CA certificate. Holds nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaInfo {
    /// The subject distinguished name, as OpenSSL prints it one-line.
    pub subject: String,
    /// The issuer distinguished name (the subject again when self-signed).
    pub issuer: String,
    /// The public key: `ECDSA P-256`, `RSA 2048`, ...
    pub key: String,
    /// The serial number, colon-separated hex.
    pub serial: String,
    /// SHA-256 of the DER certificate, colon-separated upper-case hex (as `openssl x509
    /// -fingerprint -sha256` prints it).
    pub sha256: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The DNS names it may issue for (its name constraints).
    pub scope: NameScope,
    /// Whether the certificate has name constraints at all.
    pub name_constrained: bool,
    /// Its name constraints other than DNS names, as text (`excluded IP 0.0.0.0/0`).
    pub other_constraints: Vec<String>,
    /// How many intermediate CAs may follow it (`None`: no limit).
    pub path_len: Option<u32>,
}

impl CaInfo {
    /// Reads a DER certificate, checking that it is a CA certificate that may sign others.
    /// The error says what is missing.
    pub fn parse(der: &[u8]) -> Result<Self, &'static str> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|_| "not a DER X.509 certificate")?;
        let constraints = cert
            .basic_constraints()
            .map_err(|_| "its basic constraints extension is malformed")?
            .ok_or("no basic constraints extension (an end-entity certificate)")?;
        if !constraints.value.ca {
            return Err("basic constraints say it is not a CA (cA = false)");
        }
        if let Some(usage) = cert
            .key_usage()
            .map_err(|_| "its key usage extension is malformed")?
            && !usage.value.key_cert_sign()
        {
            return Err("its key usage does not include keyCertSign");
        }
        let (scope, name_constrained, other_constraints) = scope_of(&cert)?;
        let time = |t: &x509_parser::time::ASN1Time| {
            OffsetDateTime::from_unix_timestamp(t.timestamp()).map_err(|_| "a date out of range")
        };
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            key: describe_key(&cert),
            serial: cert.raw_serial_as_string(),
            sha256: fingerprint(der),
            not_before: time(&cert.validity().not_before)?,
            not_after: time(&cert.validity().not_after)?,
            scope,
            name_constrained,
            other_constraints,
            path_len: constraints.value.path_len_constraint,
        })
    }

    /// Whether the certificate is valid at `now`.
    pub fn valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// The raw public key bits of a DER certificate (the BIT STRING inside its
/// SubjectPublicKeyInfo), to compare with a private key's public half.
pub(crate) fn public_key_bits(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.public_key().subject_public_key.data.to_vec())
}

/// SHA-256 of `der` as `AB:CD:...`.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

fn describe_key(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(point)) => match point.key_size() {
            256 => "ECDSA P-256".to_owned(),
            384 => "ECDSA P-384".to_owned(),
            bits => format!("EC {bits}-bit"),
        },
        _ => format!("algorithm {}", spki.algorithm.algorithm.to_id_string()),
    }
}

/// The DNS part of the name constraints, whether there are any, and the rest as text.
/// Constraints on IP addresses, e-mail or directory names do not limit the DNS names a TLS
/// leaf carries, so they are not part of the scope.
fn scope_of(cert: &X509Certificate<'_>) -> Result<(NameScope, bool, Vec<String>), &'static str> {
    let Some(nc) = cert
        .name_constraints()
        .map_err(|_| "its name constraints extension is malformed")?
    else {
        return Ok((NameScope::unconstrained(), false, Vec::new()));
    };
    let mut other = Vec::new();
    let mut dns = |subtrees: &Option<Vec<GeneralSubtree<'_>>>, kind: &str| {
        let mut names = Vec::new();
        for subtree in subtrees.iter().flatten() {
            match &subtree.base {
                GeneralName::DNSName(name) => names.push((*name).to_owned()),
                GeneralName::IPAddress(bytes) => other.push(format!("{kind} IP {}", cidr(bytes))),
                name => other.push(format!("{kind} {name}")),
            }
        }
        names
    };
    let permitted = dns(&nc.value.permitted_subtrees, "permitted");
    let excluded = dns(&nc.value.excluded_subtrees, "excluded");
    Ok((
        NameScope::from_constraints(permitted, excluded),
        true,
        other,
    ))
}

/// An IP subtree (address then mask, RFC 5280) as `address/prefix`.
fn cidr(bytes: &[u8]) -> String {
    let (addr, mask) = bytes.split_at(bytes.len() / 2);
    let prefix: u32 = mask.iter().map(|b| b.leading_ones()).sum();
    let addr = match addr.len() {
        4 => <[u8; 4]>::try_from(addr).map(|a| std::net::IpAddr::from(a).to_string()),
        16 => <[u8; 16]>::try_from(addr).map(|a| std::net::IpAddr::from(a).to_string()),
        _ => return format!("{bytes:02x?}"),
    };
    match addr {
        Ok(a) => format!("{a}/{prefix}"),
        Err(_) => format!("{bytes:02x?}"),
    }
}
