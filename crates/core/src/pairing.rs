//! Pairing with an agent: the certificate fingerprint a client pins and the link that carries
//! it, `tidemark://HOST:PORT/?fp=SHA256HEX&token=TOKEN`. Pure parsing and formatting: what
//! connects (and checks the pin) lives in tidemark-remote.
//!
//! The agent's certificate is self-signed, so trust is SSH's: the client accepts exactly the
//! certificate whose SHA-256 it was given, whatever its name, issuer or dates.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The scheme of a pairing link.
pub const SCHEME: &str = "tidemark";

/// Whether `s` is meant as a pairing link (its scheme is `tidemark`), valid or not: what
/// decides between reading it as a link and as a URL.
pub fn is_pairing_link(s: &str) -> bool {
    s.trim()
        .split_once("://")
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case(SCHEME))
}

/// SHA-256 over a certificate's DER: what a client pins.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{found:?} is not a certificate fingerprint: expected the 64 hexadecimal digits of a SHA-256 \
     (in pairs separated by ':' or not)"
)]
pub struct FingerprintError {
    pub found: String,
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// 64 hex digits in either case, or 32 pairs separated by `:` as openssl prints them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || FingerprintError {
            found: s.to_owned(),
        };
        let t = s.trim();
        let digits: Vec<u8> = if t.contains(':') {
            let pairs: Vec<&str> = t.split(':').collect();
            if pairs.len() != 32 || pairs.iter().any(|p| p.len() != 2) {
                return Err(bad());
            }
            pairs.concat().into_bytes()
        } else {
            t.as_bytes().to_vec()
        };
        if digits.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let hi = hex_value(pair[0]).ok_or_else(bad)?;
            let lo = hex_value(pair[1]).ok_or_else(bad)?;
            *byte = hi << 4 | lo;
        }
        Ok(Self(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a pairing link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingLinkError {
    #[error("a pairing link starts with tidemark://, not {found:?}")]
    WrongScheme { found: String },
    #[error("the pairing link names no host")]
    MissingHost,
    #[error("the pairing link's host {0:?} is not a host name or an IP address")]
    InvalidHost(String),
    #[error("the pairing link gives no port (tidemark://HOST:PORT/?…)")]
    MissingPort,
    #[error("the pairing link's port {0:?} is not a port number (1 to 65535)")]
    InvalidPort(String),
    #[error("the pairing link has a path ({0:?}); it should be tidemark://HOST:PORT/?fp=…&token=…")]
    UnexpectedPath(String),
    #[error("the pairing link has no certificate fingerprint (fp=…)")]
    MissingFingerprint,
    #[error("the pairing link's fp is invalid: {0}")]
    InvalidFingerprint(#[source] FingerprintError),
    #[error("the pairing link has no token (token=…)")]
    MissingToken,
    #[error("the pairing link's {0} has an invalid %-escape")]
    BadEscape(&'static str),
}

/// What a client needs to reach an agent and trust it: where, which certificate, which token.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingLink {
    /// A name, an IPv4 address or an IPv6 address, without brackets.
    pub host: String,
    pub port: u16,
    pub fingerprint: Fingerprint,
    pub token: String,
}

impl PairingLink {
    /// `https://HOST:PORT`, an IPv6 host in brackets.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.authority())
    }

    /// `HOST:PORT`, an IPv6 host in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for PairingLink {
    // The token is a secret: logs get everything else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingLink")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for PairingLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}://{}/?fp={}&token={}",
            self.authority(),
            self.fingerprint,
            percent_encode(&self.token)
        )
    }
}

impl FromStr for PairingLink {
    type Err = PairingLinkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| PairingLinkError::WrongScheme {
                found: s.chars().take_while(|c| *c != ':').collect(),
            })?;
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return Err(PairingLinkError::WrongScheme {
                found: scheme.to_owned(),
            });
        }
        // A fragment means nothing here; some chat programs append one.
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match before_query.find('/') {
            Some(i) => before_query.split_at(i),
            None => (before_query, ""),
        };
        if !(path.is_empty() || path == "/") {
            return Err(PairingLinkError::UnexpectedPath(path.to_owned()));
        }
        let (host, port) = split_authority(authority)?;

        let (mut fp, mut token) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "fp" if fp.is_none() => fp = Some(value),
                "token" if token.is_none() => token = Some(value),
                // Later versions may add parameters: ignoring them keeps old clients pairing.
                _ => {}
            }
        }
        let fp = fp
            .filter(|v| !v.is_empty())
            .ok_or(PairingLinkError::MissingFingerprint)?;
        let fingerprint = percent_decode(fp)
            .ok_or(PairingLinkError::BadEscape("fp"))?
            .parse()
            .map_err(PairingLinkError::InvalidFingerprint)?;
        let token = percent_decode(token.unwrap_or_default())
            .ok_or(PairingLinkError::BadEscape("token"))?;
        if token.trim().is_empty() {
            return Err(PairingLinkError::MissingToken);
        }
        Ok(Self {
            host,
            port,
            fingerprint,
            token,
        })
    }
}

/// `HOST:PORT` or `[IPV6]:PORT` → (host without brackets, port).
fn split_authority(authority: &str) -> Result<(String, u16), PairingLinkError> {
    if authority.is_empty() {
        return Err(PairingLinkError::MissingHost);
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (inside, after) = bracketed
            .split_once(']')
            .ok_or_else(|| PairingLinkError::InvalidHost(authority.to_owned()))?;
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err(PairingLinkError::InvalidHost(inside.to_owned()));
        }
        let port = match after.strip_prefix(':') {
            Some(p) => p,
            None if after.is_empty() => return Err(PairingLinkError::MissingPort),
            None => return Err(PairingLinkError::InvalidHost(authority.to_owned())),
        };
        (inside, port)
    } else {
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or(PairingLinkError::MissingPort)?;
        let valid = host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'));
        if host.is_empty() {
            return Err(PairingLinkError::MissingHost);
        }
        if !valid {
            return Err(PairingLinkError::InvalidHost(host.to_owned()));
        }
        (host, port)
    };
    if port.is_empty() {
        return Err(PairingLinkError::MissingPort);
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| PairingLinkError::InvalidPort(port.to_owned()))?;
    Ok((host.to_owned(), port))
}

/// Escapes everything but RFC 3986's unreserved characters, so any token survives the link
/// (a URL-safe one, the agent's kind, comes out unchanged).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(byte: u8) -> Fingerprint {
        Fingerprint([byte; 32])
    }

    fn link(host: &str) -> PairingLink {
        PairingLink {
            host: host.to_owned(),
            port: 7040,
            fingerprint: Fingerprint::of_der(b"a certificate"),
            token: "tok-EN_123.x~".to_owned(),
        }
    }

    #[test]
    fn a_fingerprint_is_the_sha256_of_the_der_in_lowercase_hex() {
        // SHA-256 of "abc", FIPS 180-2's example.
        let f = Fingerprint::of_der(b"abc");
        assert_eq!(
            f.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(f.to_string().parse::<Fingerprint>(), Ok(f));
    }

    #[test]
    fn a_fingerprint_parses_in_either_case_and_with_openssl_colons() {
        let f = Fingerprint::of_der(b"abc");
        let upper = f.to_string().to_uppercase();
        assert_eq!(upper.parse::<Fingerprint>(), Ok(f));
        let colons: Vec<String> = f.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(colons.join(":").parse::<Fingerprint>(), Ok(f));
    }

    #[test]
    fn a_fingerprint_of_the_wrong_length_or_digits_is_refused() {
        let good = fp(0xab).to_string();
        for bad in [
            "",
            &good[..62],
            &format!("{good}00"),
            &good.replacen('a', "g", 1),
            // Colons, but not between every pair.
            &format!("{}:{}", &good[..32], &good[32..]),
            "ab:cd",
        ] {
            let err = bad.parse::<Fingerprint>().expect_err(bad);
            assert_eq!(err.found, bad);
        }
    }

    #[test]
    fn a_fingerprint_is_serialised_as_its_hex() {
        let f = fp(0x0f);
        let json = serde_json::to_value(f).expect("json");
        assert_eq!(json, serde_json::json!("0f".repeat(32)));
        assert_eq!(serde_json::from_value::<Fingerprint>(json).ok(), Some(f));
        assert!(serde_json::from_value::<Fingerprint>(serde_json::json!("0f")).is_err());
    }

    #[test]
    fn a_link_is_written_in_exactly_the_documented_form_and_read_back() {
        let l = link("agent.example");
        let text = l.to_string();
        assert_eq!(
            text,
            format!(
                "tidemark://agent.example:7040/?fp={}&token=tok-EN_123.x~",
                l.fingerprint
            )
        );
        assert_eq!(text.parse::<PairingLink>(), Ok(l.clone()));
        assert_eq!(l.base_url(), "https://agent.example:7040");
        let v4 = link("192.168.1.20");
        assert_eq!(v4.to_string().parse::<PairingLink>(), Ok(v4));
    }

    #[test]
    fn an_ipv6_host_is_bracketed_in_the_link_and_the_url_but_not_in_the_host() {
        let text = format!("tidemark://[fe80::1]:7040/?fp={}&token=t", fp(1));
        let l: PairingLink = text.parse().expect("link");
        assert_eq!(l.host, "fe80::1");
        assert_eq!(l.port, 7040);
        assert_eq!(l.base_url(), "https://[fe80::1]:7040");
        assert_eq!(l.to_string(), text);
    }

    #[test]
    fn the_token_is_percent_decoded_and_any_token_round_trips() {
        let text = format!("tidemark://h:1/?fp={}&token=a%2Fb%20c%3D", fp(2));
        let l: PairingLink = text.parse().expect("link");
        assert_eq!(l.token, "a/b c=");
        assert_eq!(l.to_string(), text);
        assert_eq!(l.to_string().parse::<PairingLink>(), Ok(l));
    }

    #[test]
    fn a_link_without_the_slash_with_extra_parameters_or_a_fragment_still_parses() {
        let f = fp(3);
        for text in [
            format!("tidemark://h:9?fp={f}&token=t"),
            format!("TIDEMARK://h:9/?token=t&v=2&fp={f}"),
            format!("tidemark://h:9/?fp={f}&token=t#x"),
        ] {
            let l: PairingLink = text.parse().expect(&text);
            assert_eq!((l.host.as_str(), l.port, l.fingerprint), ("h", 9, f));
            assert_eq!(l.token, "t");
        }
    }

    #[test]
    fn each_kind_of_bad_link_has_its_own_error() {
        use PairingLinkError as E;
        let f = fp(4);
        let cases: Vec<(String, E)> = vec![
            (
                format!("https://h:1/?fp={f}&token=t"),
                E::WrongScheme {
                    found: "https".into(),
                },
            ),
            ("h:1".into(), E::WrongScheme { found: "h".into() }),
            (format!("tidemark://h/?fp={f}&token=t"), E::MissingPort),
            (format!("tidemark://h:/?fp={f}&token=t"), E::MissingPort),
            (format!("tidemark://[::1]/?fp={f}&token=t"), E::MissingPort),
            (
                format!("tidemark://h:99999/?fp={f}&token=t"),
                E::InvalidPort("99999".into()),
            ),
            (format!("tidemark://:1/?fp={f}&token=t"), E::MissingHost),
            (
                format!("tidemark://u@h:1/?fp={f}&token=t"),
                E::InvalidHost("u@h".into()),
            ),
            (
                format!("tidemark://[nope]:1/?fp={f}&token=t"),
                E::InvalidHost("nope".into()),
            ),
            (
                format!("tidemark://h:1/x?fp={f}&token=t"),
                E::UnexpectedPath("/x".into()),
            ),
            ("tidemark://h:1/?token=t".into(), E::MissingFingerprint),
            ("tidemark://h:1/?fp=&token=t".into(), E::MissingFingerprint),
            (
                "tidemark://h:1/?fp=abc&token=t".into(),
                E::InvalidFingerprint(FingerprintError {
                    found: "abc".into(),
                }),
            ),
            (format!("tidemark://h:1/?fp={f}"), E::MissingToken),
            (format!("tidemark://h:1/?fp={f}&token="), E::MissingToken),
            (
                format!("tidemark://h:1/?fp={f}&token=%zz"),
                E::BadEscape("token"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<PairingLink>(), Err(want), "{text}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = "tidemark://h:1/?fp=xyz&token=t"
            .parse::<PairingLink>()
            .expect_err("bad fp");
        assert!(err.to_string().contains("fp"), "{err}");
        assert!(std::error::Error::source(&err).is_some());
        let err = "http://h:1".parse::<PairingLink>().expect_err("scheme");
        assert!(err.to_string().contains("tidemark://"), "{err}");
    }

    #[test]
    fn a_link_is_told_apart_from_a_url_by_its_scheme() {
        assert!(is_pairing_link("tidemark://h:1/?fp=x"));
        assert!(is_pairing_link(" Tidemark://anything"));
        assert!(!is_pairing_link("https://h:1"));
        assert!(!is_pairing_link("h:1"));
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let l = link("h");
        assert!(!format!("{l:?}").contains(&l.token));
    }
}
