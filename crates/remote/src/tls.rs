//! TLS to an agent, with rustls and its ring provider only (never a process-wide default that
//! another crate might have set, never aws-lc-rs).
//!
//! A paired agent's certificate is self-signed: the client pins its SHA-256 and accepts that
//! certificate alone, whatever its name, issuer or dates, as SSH trusts a host key. Without a
//! pin, an `https://` agent must have a certificate from a public CA (the system's roots).

use std::error::Error as StdError;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tidemark_core::Fingerprint;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process's default rustls provider, for code that builds its configs
/// without naming one. Binaries call it once at start; later calls change nothing.
pub fn install_default_provider() {
    // Err means a provider is already installed: whichever it is, it stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client's TLS settings: with a pin, that certificate alone; without, the system's roots.
/// The [`PinCheck`] tells which certificate the agent showed, so a refused handshake can be
/// reported as the fingerprint mismatch it was.
pub fn client_config(
    pin: Option<Fingerprint>,
) -> Result<(Arc<ClientConfig>, PinCheck), rustls::Error> {
    let provider = provider();
    let check = PinCheck(Arc::new(PinState {
        pin,
        seen: Mutex::new(None),
        refused: Mutex::new(None),
    }));
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match pin {
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pin,
                algorithms: provider.signature_verification_algorithms,
                check: check.clone(),
            }))
            .with_no_client_auth(),
        None => {
            let roots = WebPkiServerVerifier::builder_with_provider(system_roots(), provider)
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(RootsVerifier {
                    roots,
                    check: check.clone(),
                }))
                .with_no_client_auth()
        }
    };
    Ok((Arc::new(config), check))
}

/// The system's trusted roots, loaded once per process (a client is built per request); the
/// Mozilla set where the system gives none.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!("system certificates: {e}");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::info!(
                    ignored,
                    "no usable system root certificates; using the built-in Mozilla roots"
                );
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(roots)
        })
        .clone()
}

/// What one client's handshakes showed: shared between its verifier and whoever reports
/// its errors.
#[derive(Debug, Clone)]
pub struct PinCheck(Arc<PinState>);

#[derive(Debug)]
struct PinState {
    pin: Option<Fingerprint>,
    /// The fingerprint of the last certificate the agent presented.
    seen: Mutex<Option<Fingerprint>>,
    /// Why the system's roots refused the last certificate, if they did.
    refused: Mutex<Option<String>>,
}

impl PinCheck {
    pub fn pin(&self) -> Option<Fingerprint> {
        self.0.pin
    }

    /// The fingerprint of the last certificate presented to a pinned client.
    pub fn presented(&self) -> Option<Fingerprint> {
        *self.0.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `(expected, actual)` when the last certificate presented was not the pinned one.
    pub fn mismatch(&self) -> Option<(Fingerprint, Fingerprint)> {
        let pin = self.0.pin?;
        self.presented()
            .filter(|seen| *seen != pin)
            .map(|seen| (pin, seen))
    }

    /// Why the system's roots refused the last certificate presented, if they did: the SSE
    /// client's errors keep no chain of causes to find it in.
    pub fn refused(&self) -> Option<String> {
        self.0
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn saw(&self, fp: Fingerprint) {
        *self.0.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(fp);
    }

    fn judged(&self, refused: Option<String>) {
        *self.0.refused.lock().unwrap_or_else(|e| e.into_inner()) = refused;
    }
}

/// Why the certificate was refused, if a refused certificate is somewhere in `err`'s chain of
/// causes (a TLS error of another kind, such as plain HTTP on the port, is not one).
pub fn certificate_refused(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(rustls::Error::InvalidCertificate(why)) = e.downcast_ref::<rustls::Error>() {
            return Some(why.to_string());
        }
        if let Some(found) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| certificate_refused(inner))
        {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// Whether a TLS error is somewhere in `err`'s chain of causes, including errors wrapped in
/// an `io::Error` (whose `source` skips the error it wraps).
pub fn is_tls_error(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && is_tls_error(inner)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// The system's roots' verdict, remembered in the [`PinCheck`].
#[derive(Debug)]
struct RootsVerifier {
    roots: Arc<WebPkiServerVerifier>,
    check: PinCheck,
}

impl ServerCertVerifier for RootsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.roots.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        self.check.judged(match &verdict {
            Err(rustls::Error::InvalidCertificate(why)) => Some(why.to_string()),
            _ => None,
        });
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.roots.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.roots.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.roots.supported_verify_schemes()
    }
}

/// Accepts exactly the pinned certificate; the handshake's signatures are still checked, so
/// the peer must hold that certificate's private key.
#[derive(Debug)]
struct PinnedVerifier {
    pin: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
    check: PinCheck,
}

/// The rustls error a pin mismatch becomes (what logs of the handshake show).
#[derive(Debug, thiserror::Error)]
#[error("certificate fingerprint {actual} is not the pinned {expected}")]
struct NotPinned {
    expected: Fingerprint,
    actual: Fingerprint,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = Fingerprint::of_der(end_entity);
        self.check.saw(actual);
        if actual == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(NotPinned {
                    expected: self.pin,
                    actual,
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
