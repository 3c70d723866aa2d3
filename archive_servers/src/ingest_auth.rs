//! Who a request to the ingest endpoint comes from: each sender is a named client, known by
//! its bearer token, its client certificate's subject, or both. Decided here without I/O;
//! `ingest.rs` asks and answers.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The name of the one client a single shared token stands for (`ingest.token_file`,
/// [`crate::ingest::serve_ingest`]).
pub const DEFAULT_CLIENT: &str = "default";

/// A client's token as the endpoint keeps it: its SHA-256 digest only, so the token itself
/// is not in memory to leak, and comparing digests takes the same time whatever the
/// presented token's content or length.
#[derive(Clone)]
pub struct IngestToken([u8; 32]);

impl IngestToken {
    /// Keeps `token`'s digest.
    pub fn new(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    fn matches(&self, presented: &[u8; 32]) -> subtle::Choice {
        self.0.ct_eq(presented)
    }
}

impl fmt::Debug for IngestToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IngestToken(<redacted>)")
    }
}

/// One sender the endpoint knows.
#[derive(Debug, Clone)]
pub struct IngestClient {
    /// Its name: what its sources are bound to, logs and alerts say.
    pub name: String,
    /// The token it presents as `Authorization: Bearer`, if it has one.
    pub token: Option<IngestToken>,
    /// The subject of the client certificate it presents, if it is known by one.
    pub certificate: Option<String>,
}

/// What a sender must present, and the clients that may. With neither a token nor a client
/// certificate asked for, every request is refused: the endpoint is never open to anyone by
/// accident.
#[derive(Debug, Clone, Default)]
pub struct IngestAuth {
    /// The named clients.
    pub clients: Vec<IngestClient>,
    /// Whether every request must carry the token of one of `clients`.
    pub token: bool,
    /// Whether the connection must come with a client certificate the caller verified. When
    /// no client names a certificate, each certificate's subject is a client of its own.
    pub client_cert: bool,
}

impl IngestAuth {
    /// One client, [`DEFAULT_CLIENT`], known by `token`.
    pub fn shared_token(token: &str) -> Self {
        Self {
            clients: vec![IngestClient {
                name: DEFAULT_CLIENT.to_owned(),
                token: Some(IngestToken::new(token)),
                certificate: None,
            }],
            token: true,
            client_cert: false,
        }
    }

    /// Any client certificate the caller verified, each subject a client of its own.
    pub fn any_client_cert() -> Self {
        Self {
            clients: Vec::new(),
            token: false,
            client_cert: true,
        }
    }

    /// The client presenting `bearer` (the `Authorization: Bearer` value, if any) on a
    /// connection with the verified client certificate `certificate` (its subject), or why
    /// it is refused. Every client's token is compared, so the time taken does not say
    /// which one nearly matched.
    pub fn identify(
        &self,
        bearer: Option<&str>,
        certificate: Option<&str>,
    ) -> Result<String, Refused> {
        if !self.token && !self.client_cert {
            return Err(Refused::NotConfigured);
        }
        let by_token = if self.token {
            let presented: [u8; 32] = Sha256::digest(bearer.unwrap_or("").as_bytes()).into();
            let mut found = None;
            for client in &self.clients {
                if let Some(token) = &client.token
                    && bool::from(token.matches(&presented))
                    && found.is_none()
                {
                    found = Some(client);
                }
            }
            Some(found.ok_or(Refused::BadToken)?)
        } else {
            None
        };
        if !self.client_cert {
            return by_token.map(|c| c.name.clone()).ok_or(Refused::BadToken);
        }
        let subject = certificate.ok_or(Refused::NoCertificate)?;
        match by_token {
            // Known by its token: a certificate named for it must be the one presented.
            Some(client) => match &client.certificate {
                Some(expected) if expected != subject => Err(Refused::WrongCertificate),
                _ => Ok(client.name.clone()),
            },
            None if self.clients.iter().all(|c| c.certificate.is_none()) => Ok(subject.to_owned()),
            None => self
                .clients
                .iter()
                .find(|c| c.certificate.as_deref() == Some(subject))
                .map(|c| c.name.clone())
                .ok_or(Refused::WrongCertificate),
        }
    }
}

/// Why a request was not let in (all answered 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Neither a token nor a certificate is asked for: nobody may ship.
    NotConfigured,
    /// No token, or one no client has.
    BadToken,
    /// A client certificate is required and the connection had none.
    NoCertificate,
    /// The certificate is not the one of the client (or of any client) it must be.
    WrongCertificate,
}

impl Refused {
    /// The answer's error text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotConfigured => "no authentication configured",
            Self::BadToken => "bad token",
            Self::NoCertificate => "client certificate required",
            Self::WrongCertificate => "client certificate not among ingest.clients",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    fn client(name: &str, token: Option<&str>, certificate: Option<&str>) -> IngestClient {
        IngestClient {
            name: name.into(),
            token: token.map(IngestToken::new),
            certificate: certificate.map(Into::into),
        }
    }

    #[test]
    fn a_token_names_its_client() {
        let auth = IngestAuth {
            clients: vec![client("st-a", Some(A), None), client("st-b", Some(B), None)],
            token: true,
            client_cert: false,
        };
        assert_eq!(auth.identify(Some(A), None), Ok("st-a".into()));
        assert_eq!(auth.identify(Some(B), Some("x")), Ok("st-b".into()));
        for wrong in [
            None,
            Some(""),
            Some(&A[..31]),
            Some("0123456789abcdef0123456789abcdeF"),
        ] {
            assert_eq!(
                auth.identify(wrong, None),
                Err(Refused::BadToken),
                "{wrong:?}"
            );
        }
        assert_eq!(
            IngestAuth::shared_token(A).identify(Some(A), None),
            Ok(DEFAULT_CLIENT.into())
        );
    }

    #[test]
    fn a_certificate_names_its_client() {
        let auth = IngestAuth {
            clients: vec![client("st-a", None, Some("st-a.example.com"))],
            token: false,
            client_cert: true,
        };
        assert_eq!(
            auth.identify(None, Some("st-a.example.com")),
            Ok("st-a".into())
        );
        assert_eq!(
            auth.identify(None, Some("other")),
            Err(Refused::WrongCertificate)
        );
        assert_eq!(auth.identify(Some(A), None), Err(Refused::NoCertificate));
        // No client names a certificate: each subject is its own client.
        let any = IngestAuth::any_client_cert();
        assert_eq!(any.identify(None, Some("st-z")), Ok("st-z".into()));
        assert_eq!(
            IngestAuth::default().identify(Some(A), Some("st-z")),
            Err(Refused::NotConfigured)
        );
    }

    #[test]
    fn both_must_belong_to_one_client() {
        let auth = IngestAuth {
            clients: vec![
                client("st-a", Some(A), Some("st-a.example.com")),
                client("st-b", Some(B), None),
            ],
            token: true,
            client_cert: true,
        };
        assert_eq!(
            auth.identify(Some(A), Some("st-a.example.com")),
            Ok("st-a".into())
        );
        assert_eq!(
            auth.identify(Some(A), Some("st-b.example.com")),
            Err(Refused::WrongCertificate)
        );
        assert_eq!(auth.identify(Some(B), Some("anything")), Ok("st-b".into()));
        assert_eq!(auth.identify(Some(B), None), Err(Refused::NoCertificate));
    }

    #[test]
    fn debug_shows_no_token() {
        let shown = format!("{:?}", IngestAuth::shared_token(A));
        assert!(
            !shown.contains(A) && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
