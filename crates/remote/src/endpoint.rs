//! Where an agent is and how a client trusts it: its base URL, the token, the pinned
//! certificate fingerprint of a paired agent.

use std::fmt;

use tidemark_core::Fingerprint;
use tidemark_core::pairing::{self, PairingLink, PairingLinkError};

/// An agent as a client reaches it.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://HOST:PORT` or `http://HOST:PORT`, without a trailing slash.
    pub base: String,
    pub token: String,
    /// The certificate a paired agent must present; `None`: the system's roots decide
    /// (`https://`), or there is no TLS (`http://`).
    pub pin: Option<Fingerprint>,
}

/// Why an agent's address could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Link(#[from] PairingLinkError),
    #[error(
        "{0:?} is not an agent's address: give its pairing link (tidemark://…) or a URL \
         starting with https:// or http://"
    )]
    NotAnAddress(String),
    #[error("no token given for {0} (a pairing link carries its own)")]
    NoToken(String),
}

impl Endpoint {
    /// An agent at `url` (`http://` or `https://`), trusted through the system's roots.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            base: url.trim().trim_end_matches('/').to_owned(),
            token: token.into(),
            pin: None,
        }
    }

    /// A paired agent: its `https://` URL, its token, its certificate's fingerprint.
    pub fn from_link(link: &PairingLink) -> Self {
        Self {
            base: link.base_url(),
            token: link.token.clone(),
            pin: Some(link.fingerprint),
        }
    }

    /// What a user gives: a pairing link (which carries the token: `token` is not used) or
    /// an `http(s)://` URL, which needs `token`.
    pub fn parse(agent: &str, token: Option<&str>) -> Result<Self, EndpointError> {
        let agent = agent.trim();
        if pairing::is_pairing_link(agent) {
            return Ok(Self::from_link(&agent.parse()?));
        }
        let scheme = agent.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        let host = agent.split_once("://").map_or("", |(_, rest)| rest);
        if !matches!(scheme.as_deref(), Some("http" | "https")) || host.trim_matches('/').is_empty()
        {
            return Err(EndpointError::NotAnAddress(agent.to_owned()));
        }
        match token.map(str::trim) {
            Some(t) if !t.is_empty() => Ok(Self::new(agent, t)),
            _ => Err(EndpointError::NoToken(agent.to_owned())),
        }
    }

    pub fn is_https(&self) -> bool {
        self.base
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    }

    /// `HOST:PORT` (as written in the URL), for messages.
    pub fn authority(&self) -> &str {
        let rest = self.base.split_once("://").map_or(&*self.base, |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }
}

impl fmt::Debug for Endpoint {
    // The token is a secret: logs get everything else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp() -> Fingerprint {
        Fingerprint::of_der(b"cert")
    }

    #[test]
    fn a_link_gives_an_https_endpoint_with_its_pin_and_token() {
        let link = format!("tidemark://[::1]:7040/?fp={}&token=abc", fp());
        let e = Endpoint::parse(&link, Some("ignored")).expect("link");
        assert_eq!(e.base, "https://[::1]:7040");
        assert_eq!(e.token, "abc");
        assert_eq!(e.pin, Some(fp()));
        assert!(e.is_https());
        assert_eq!(e.authority(), "[::1]:7040");
        assert_eq!(Endpoint::parse(&link, None), Ok(e));
    }

    #[test]
    fn a_url_needs_a_token_and_has_no_pin() {
        let e = Endpoint::parse("http://127.0.0.1:7040/", Some(" t ")).expect("url");
        assert_eq!(e.base, "http://127.0.0.1:7040");
        assert_eq!(e.token, "t");
        assert_eq!(e.pin, None);
        assert!(!e.is_https());
        assert_eq!(e.authority(), "127.0.0.1:7040");
        assert!(Endpoint::parse("HTTPS://agent:1", Some("t")).is_ok_and(|e| e.is_https()));
        for token in [None, Some(""), Some("  ")] {
            assert!(matches!(
                Endpoint::parse("https://agent:1", token),
                Err(EndpointError::NoToken(_))
            ));
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for bad in ["agent:7040", "ftp://agent", "https://", ""] {
            assert!(
                matches!(
                    Endpoint::parse(bad, Some("t")),
                    Err(EndpointError::NotAnAddress(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Endpoint::parse("tidemark://h:1/?token=t", None),
            Err(EndpointError::Link(PairingLinkError::MissingFingerprint))
        ));
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let e = Endpoint::new("http://h:1", "s3cret");
        assert!(!format!("{e:?}").contains("s3cret"));
    }
}
