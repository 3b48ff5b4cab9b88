//! The HTTP client the OTLP exporters send with: reqwest (blocking, as
//! the exporters run on their own threads) over rustls with the ring
//! provider, trusting `[telemetry] otlp_ca` or the public web roots, so an
//! `https://` collector works without OpenSSL.

use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::{TelemetryConfig, TelemetryError};

/// Builds the exporters' HTTP client for `cfg`.
pub(crate) fn otlp_http_client(
    cfg: &TelemetryConfig,
) -> Result<reqwest13::blocking::Client, TelemetryError> {
    let fail =
        |what: &str, e: &dyn std::fmt::Display| TelemetryError(format!("OTLP client: {what}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.otlp_ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| fail(&path.display().to_string(), &e))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| fail(&path.display().to_string(), &e))?;
                roots
                    .add(cert)
                    .map_err(|e| fail(&path.display().to_string(), &e))?;
            }
            if roots.is_empty() {
                return Err(TelemetryError(format!(
                    "[telemetry] otlp_ca: {} holds no PEM certificate",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("TLS versions", &e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // reqwest's blocking client runs its own runtime; it must be built
    // (and later dropped) outside the server's async workers.
    std::thread::spawn(move || {
        reqwest13::blocking::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
    })
    .join()
    .map_err(|_| TelemetryError("OTLP client: the builder thread panicked".into()))?
    .map_err(|e| fail("build", &e))
}
