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
    fn fail<E: std::error::Error + Send + Sync + 'static>(
        what: impl Into<String>,
    ) -> impl FnOnce(E) -> TelemetryError {
        move |e| TelemetryError::Client {
            what: what.into(),
            source: Box::new(e),
        }
    }
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.otlp_ca {
        Some(path) => {
            let name = path.display().to_string();
            let pem = std::fs::read(path).map_err(fail(name.clone()))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(fail(name.clone()))?;
                roots.add(cert).map_err(fail(name.clone()))?;
            }
            if roots.is_empty() {
                return Err(TelemetryError::Setting(format!(
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
        .map_err(fail("TLS versions"))?
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
    .map_err(|_| TelemetryError::Setting("OTLP client: the builder thread panicked".into()))?
    .map_err(fail("build"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_ca_is_an_error_that_keeps_its_cause() {
        let cfg = TelemetryConfig {
            otlp_ca: Some("/nonexistent/otlp-ca.pem".into()),
            ..TelemetryConfig::default()
        };
        let Err(e) = otlp_http_client(&cfg) else {
            panic!("a missing CA file must be refused");
        };
        assert_eq!(
            e.to_string(),
            "telemetry: OTLP client: /nonexistent/otlp-ca.pem"
        );
        let io = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            io.map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
    }
}
