//! TLS serving (rustls on aws-lc-rs) with optional client certificates for mutual-TLS client authentication
//! and certificate-bound tokens (RFC 8705).
//!
//! The handshake asks for a client certificate but does not require one (browsers and public clients connect
//! without). Any presented certificate must prove possession of its key (the handshake signature is checked);
//! chain validation against the configured client CA happens per request, and only for clients registered for
//! `tls_client_auth` — `self_signed_tls_client_auth` certificates are matched by public key instead.
//!
//! Must not: decide which client a certificate authenticates (the token endpoint's client authentication does).

use std::path::Path;
use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};

/// The certificate the client presented on this connection (DER), attached to every request.
#[derive(Debug, Clone, Default)]
pub struct PeerCertificate(pub Option<Arc<Vec<u8>>>);

/// Asks for a client certificate, accepts any that proves possession of its key.
#[derive(Debug)]
struct OptionalClientCert {
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for OptionalClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Which certificate is acceptable depends on the client it claims to be: decided per request.
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// TLS material in effect.
pub struct Tls {
    /// The rustls server configuration.
    pub server: Arc<rustls::ServerConfig>,
    /// Chain validation for `tls_client_auth` certificates (none: such clients cannot authenticate).
    pub client_ca: Option<Arc<dyn ClientCertVerifier>>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl Tls {
    /// Loads the server certificate chain and key (PEM) and, optionally, the CA that issues `tls_client_auth`
    /// client certificates.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Tls, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| format!("{}: {e}", cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("{}: no certificate", cert.display()));
        }
        let key =
            PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
        let provider = provider();
        let verifier = Arc::new(OptionalClientCert {
            algs: provider.signature_verification_algorithms,
        });
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| format!("server certificate: {e}"))?;
        let client_ca = match client_ca {
            None => None,
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                {
                    roots
                        .add(c.map_err(|e| format!("{}: {e}", path.display()))?)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| format!("client CA: {e}"))?;
                Some(v)
            }
        };
        Ok(Tls {
            server: Arc::new(server),
            client_ca,
        })
    }

    /// Whether a certificate chains to the configured client CA (for `tls_client_auth`).
    pub fn chains_to_client_ca(&self, der: &[u8]) -> bool {
        match &self.client_ca {
            Some(v) => v
                .verify_client_cert(&CertificateDer::from(der.to_vec()), &[], UnixTime::now())
                .is_ok(),
            None => false,
        }
    }
}
