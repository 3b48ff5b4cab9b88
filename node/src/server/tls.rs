//! TLS for the data plane with rustls: a PEM certificate chain and key.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The PEM holds nothing usable.
    #[error("{0}")]
    Invalid(String),
}

/// Client certificate checking (mTLS).
#[derive(Clone, Debug)]
pub struct ClientAuth {
    /// PEM bundle of the CAs that sign client certificates.
    pub ca_bundle: std::path::PathBuf,
    /// Refuse the handshake without a client certificate.
    pub required: bool,
}

/// Builds a rustls server config (ALPN h2 and http/1.1) from PEM files,
/// verifying client certificates against `client_auth`'s CAs when set.
pub fn load_tls_config(
    cert: &Path,
    key: &Path,
    client_auth: Option<&ClientAuth>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(TlsError::Invalid(format!(
            "{} holds no PEM certificate",
            cert.display()
        )));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            TlsError::Invalid(format!("{} holds no PEM private key", key.display()))
        }
        e => TlsError::Invalid(format!("{}: {e}", key.display())),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?;
    let builder = match client_auth {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let pem = read(&ca.ca_bundle)?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c =
                    c.map_err(|e| TlsError::Invalid(format!("{}: {e}", ca.ca_bundle.display())))?;
                roots
                    .add(c)
                    .map_err(|e| TlsError::Invalid(format!("{}: {e}", ca.ca_bundle.display())))?;
            }
            if roots.is_empty() {
                return Err(TlsError::Invalid(format!(
                    "{} holds no PEM certificate",
                    ca.ca_bundle.display()
                )));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if ca.required {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Invalid(format!("client CA bundle: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key_der)
        .map_err(|e| TlsError::Invalid(format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
