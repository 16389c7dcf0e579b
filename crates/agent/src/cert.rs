//! The agent's certificate: one it makes itself on first start, or the operator's own.
//!
//! A self-made certificate is trusted the way SSH trusts a host key: clients pin its SHA-256
//! fingerprint, handed to them in a pairing link, so no name or authority is involved. Its
//! key stays in a file only its owner can read, as sshd keeps its host keys: the agent is a
//! service and must start without anyone at a keychain prompt.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tidemark_core::Fingerprint;

use crate::auth::write_private;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read or write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate", .0.display())]
    NoCertificate(PathBuf),
    #[error("{} holds no PEM private key", .0.display())]
    NoKey(PathBuf),
    #[error("{} is not valid PEM: {reason}", path.display())]
    BadPem { path: PathBuf, reason: String },
    #[error("cannot make the agent's certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate and key cannot serve TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// Where a certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// Made by the agent at these paths the first time it is needed, then reused.
    Generated { cert: PathBuf, key: PathBuf },
    /// The operator's own (`--tls-cert`, `--tls-key`), never written to.
    Given { cert: PathBuf, key: PathBuf },
}

impl CertSource {
    /// The generated certificate's files, beside the token file.
    pub fn beside(tokens: &Path) -> CertSource {
        let dir = tokens.parent().unwrap_or(Path::new("."));
        CertSource::Generated {
            cert: dir.join(CERT_FILE),
            key: dir.join(KEY_FILE),
        }
    }
}

pub const CERT_FILE: &str = "agent-cert.pem";
pub const KEY_FILE: &str = "agent-key.pem";

/// A certificate chain with its key.
#[derive(Debug)]
pub struct AgentCert {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl AgentCert {
    /// Loads the certificate `source` names, making it first when it is the agent's own and
    /// does not exist yet.
    pub fn load(source: &CertSource) -> Result<AgentCert, CertError> {
        match source {
            CertSource::Given { cert, key } => read_pair(cert, key),
            CertSource::Generated { cert, key } => {
                if cert.exists() && key.exists() {
                    read_pair(cert, key)
                } else {
                    generate(cert, key)?;
                    read_pair(cert, key)
                }
            }
        }
    }

    /// The SHA-256 of the leaf certificate, as clients pin it.
    pub fn fingerprint(&self) -> Fingerprint {
        // `read_pair` never makes an empty chain.
        Fingerprint::of_der(self.chain.first().map_or(&[][..], |c| c.as_ref()))
    }

    /// A TLS server configuration on the one crypto provider every Tidemark process uses.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, CertError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

fn read_pair(cert: &Path, key: &Path) -> Result<AgentCert, CertError> {
    let cert_pem = read(cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::BadPem {
            path: cert.to_owned(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate(cert.to_owned()));
    }
    let key_pem = read(key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => CertError::NoKey(key.to_owned()),
        e => CertError::BadPem {
            path: key.to_owned(),
            reason: e.to_string(),
        },
    })?;
    Ok(AgentCert { chain, key })
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Makes a self-signed certificate for the loopback names and this machine's; clients pin
/// it, so the names only matter to tools that look at them.
fn generate(cert: &Path, key: &Path) -> Result<(), CertError> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = hostname() {
        names.push(host);
    }
    let signing = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Tidemark agent");
    let made = params.self_signed(&signing)?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CertError::Io { path, source }
    };
    // The key first: a certificate without its key would be taken for a whole pair.
    write_private(key, signing.serialize_pem().as_bytes()).map_err(io(key))?;
    write_private(cert, made.pem().as_bytes()).map_err(io(cert))?;
    tracing::info!(cert = %cert.display(), "made the agent's certificate");
    Ok(())
}

fn hostname() -> Option<String> {
    let name = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    valid.then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_certificate_is_kept_and_its_key_is_private() {
        let dir = tempfile::tempdir().expect("tmp");
        let source = CertSource::beside(&dir.path().join("agent-tokens.json"));
        let first = AgentCert::load(&source).expect("made");
        let again = AgentCert::load(&source).expect("loaded");
        assert_eq!(
            first.fingerprint(),
            again.fingerprint(),
            "made once, reused"
        );
        first.server_config().expect("serves TLS");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = dir.path().join(KEY_FILE);
            let mode = std::fs::metadata(key).expect("key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_given_certificate_that_is_not_pem_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, "not a certificate").expect("write");
        std::fs::write(&key, "nor a key").expect("write");
        let err = AgentCert::load(&CertSource::Given {
            cert: cert.clone(),
            key,
        })
        .expect_err("refused");
        assert!(matches!(err, CertError::NoCertificate(p) if p == cert));
        let missing = AgentCert::load(&CertSource::Given {
            cert: dir.path().join("none.pem"),
            key: dir.path().join("none.key"),
        })
        .expect_err("refused");
        assert!(missing.to_string().contains("none.pem"), "{missing}");
    }
}
