//! Server configuration: plain data read from a TOML file, with command-line
//! flags (and their environment variables) laid over it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::units::{ByteSize, HumanDuration};

mod validate;

pub use crate::limits::{Isolation, ModelDefaults, RuntimeConfig};

pub use validate::InvalidSetting;

/// Everything `edgeserve serve` needs.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// The data-plane listener.
    pub server: ServerConfig,
    /// Where models come from.
    pub repository: RepositoryConfig,
    /// The WebAssembly engine.
    pub runtime: RuntimeConfig,
    /// Limits for models whose manifest does not set them.
    pub model_defaults: ModelDefaults,
    /// The admin API listener.
    pub admin: AdminConfig,
    /// Persisted deployment state.
    pub state: StateConfig,
    /// The prediction log.
    pub prediction_log: crate::telemetry::PredictionLogConfig,
    /// Identity: API keys, JWTs, client certificates.
    pub auth: crate::security::AuthConfig,
    /// Tenants, the models each may call, and their quotas.
    pub tenants: Vec<crate::security::TenantConfig>,
    /// The global policy chain, run for every model before its own.
    pub policies: Vec<crate::repository::PolicyBinding>,
    /// Metrics, traces and their export.
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// Versions followed in OCI registries: ring, trust keys, tags.
    pub fleet: crate::fleet::config::FleetConfig,
}

/// The admin API listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve the admin API at all.
    pub enabled: bool,
    /// Address of the admin listener; never the data port.
    pub listen: SocketAddr,
    /// Bearer token; required for any non-loopback address. Prefer the
    /// `EDGESERVE_ADMIN_TOKEN` environment variable to a file.
    pub token: Option<String>,
    /// Largest deploy upload.
    pub max_upload: ByteSize,
    /// Time to send a whole upload (its pieces must also keep the server's
    /// `body_idle_timeout` and `body_min_rate`).
    pub upload_timeout: HumanDuration,
    /// Read-only bearer token accepted at `/metrics` only, for scrapers
    /// (the admin token works there too).
    pub metrics_token: Option<String>,
    /// PEM certificate chain: serve the admin API over HTTPS (needs
    /// `tls_key`). Required for a non-loopback address unless
    /// `plaintext_off_loopback` is set.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM bundle of CAs that sign admin client certificates (mTLS).
    pub tls_client_ca: Option<PathBuf>,
    /// Refuse admin TLS handshakes without a client certificate.
    pub tls_client_cert_required: bool,
    /// Serve a non-loopback admin address over plain HTTP anyway (only
    /// behind a network that already encrypts, such as a service mesh).
    pub plaintext_off_loopback: bool,
    /// `Host` header values accepted besides IP addresses and `localhost`
    /// (a DNS-rebinding page cannot name the node by a name of its own).
    pub allowed_hosts: Vec<String>,
    /// Admin connections served at once.
    pub max_connections: u32,
    /// Admin connections one client address may hold.
    pub max_connections_per_peer: u32,
    /// An admin connection with no request in flight is closed after this.
    pub idle_timeout: HumanDuration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8082)),
            token: None,
            max_upload: ByteSize(256 << 20),
            upload_timeout: HumanDuration(Duration::from_secs(600)),
            metrics_token: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_client_cert_required: false,
            plaintext_off_loopback: false,
            allowed_hosts: Vec::new(),
            max_connections: 64,
            max_connections_per_peer: 8,
            idle_timeout: HumanDuration(Duration::from_secs(30)),
        }
    }
}

/// Persisted deployment state.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Folder for the state file, deployed versions and the AOT cache.
    pub dir: PathBuf,
    /// Keep compiled components on disk and reuse them at start.
    pub aot_cache: bool,
    /// How often the rollout guard checks canaries and new primaries.
    pub guard_interval: HumanDuration,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from("edgeserve-state"),
            aot_cache: true,
            guard_interval: HumanDuration(Duration::from_secs(1)),
        }
    }
}

/// The data-plane listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Another address for the same front-ends, for callers that keep
    /// gRPC on its own port (the data port serves gRPC too).
    pub grpc_listen: Option<SocketAddr>,
    /// Largest request body accepted (413 beyond).
    pub max_body: ByteSize,
    /// Memory shared by all requests in flight: body bytes as they arrive,
    /// then the decoded tensors (503 when a request cannot get room within
    /// `budget_wait`).
    pub max_inflight_body: ByteSize,
    /// Of that memory, what the requests of one client address may hold
    /// (default: half of it, and at least one `max_body`).
    pub max_inflight_body_per_peer: Option<ByteSize>,
    /// Of that memory, what the requests of one connection may hold
    /// (default: the per-address share).
    pub max_inflight_body_per_connection: Option<ByteSize>,
    /// How long a request waits for room in those budgets before it is
    /// refused.
    pub budget_wait: HumanDuration,
    /// Largest decoded request: its tensors as the model will see them
    /// (413 beyond).
    pub max_decoded: ByteSize,
    /// Time a client has to send the request headers.
    pub header_read_timeout: HumanDuration,
    /// Time a client has to send a whole request body once its headers are
    /// in (408 beyond).
    pub body_read_timeout: HumanDuration,
    /// Longest gap between two pieces of a request body (408 beyond).
    pub body_idle_timeout: HumanDuration,
    /// Slowest average rate a request body may arrive at, counted after
    /// its first `body_idle_timeout` (408 below).
    pub body_min_rate: ByteSize,
    /// A connection (HTTP/1.1 or HTTP/2) with no request in flight is
    /// closed after this.
    pub idle_timeout: HumanDuration,
    /// Connections served at once; further clients wait in the kernel's
    /// accept queue.
    pub max_connections: u32,
    /// Connections one client address (an IPv6 /64) may hold; more are
    /// closed at once.
    pub max_connections_per_peer: u32,
    /// Which versions `/v2/models/{m}/versions/{v}/...` serves: `all`
    /// loaded versions, only those `serving` traffic (primary, canary,
    /// shadow), or `none`.
    pub version_pinning: VersionPinning,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout: HumanDuration,
    /// PEM certificate chain; TLS is on when this and `tls_key` are set.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// PEM bundle of CAs that sign client certificates; enables mTLS.
    pub tls_client_ca: Option<PathBuf>,
    /// Whether every TLS client must present a certificate (otherwise one
    /// is optional and other credentials still work).
    pub tls_client_cert_required: bool,
}

impl ServerConfig {
    /// What one client address's requests may hold: the setting, or half
    /// of `max_inflight_body` but at least one `max_body`.
    pub fn peer_memory(&self) -> ByteSize {
        self.max_inflight_body_per_peer.unwrap_or_else(|| {
            ByteSize(
                (self.max_inflight_body.0 / 2)
                    .max(self.max_body.0)
                    .min(self.max_inflight_body.0),
            )
        })
    }

    /// What one connection's requests may hold: the setting, or the
    /// per-address share.
    pub fn connection_memory(&self) -> ByteSize {
        self.max_inflight_body_per_connection
            .unwrap_or_else(|| self.peer_memory())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            grpc_listen: None,
            max_body: ByteSize(32 << 20),
            max_inflight_body: ByteSize(256 << 20),
            max_inflight_body_per_peer: None,
            max_inflight_body_per_connection: None,
            budget_wait: HumanDuration(Duration::from_secs(1)),
            max_decoded: ByteSize(128 << 20),
            header_read_timeout: HumanDuration(Duration::from_secs(10)),
            body_read_timeout: HumanDuration(Duration::from_secs(30)),
            body_idle_timeout: HumanDuration(Duration::from_secs(5)),
            body_min_rate: ByteSize(8 << 10),
            idle_timeout: HumanDuration(Duration::from_secs(60)),
            max_connections: 10_000,
            max_connections_per_peer: 256,
            version_pinning: VersionPinning::All,
            shutdown_timeout: HumanDuration(Duration::from_secs(30)),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_client_cert_required: false,
        }
    }
}

/// Which versions a URL may pin.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VersionPinning {
    /// Every loaded version.
    All,
    /// Only versions that carry traffic: the primary, the canary, the
    /// shadow.
    Serving,
    /// None: only unversioned routes serve.
    None,
}

/// Where models come from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepositoryConfig {
    /// The model repository folder (one folder per model, one per version).
    pub path: Option<PathBuf>,
    /// How often the repository is polled for new version folders
    /// (0 = only at start).
    pub poll_interval: HumanDuration,
}

impl Default for RepositoryConfig {
    fn default() -> Self {
        RepositoryConfig {
            path: None,
            poll_interval: HumanDuration(Duration::from_secs(2)),
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl ServeConfig {
    /// Reads a TOML config file; unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_file_and_rejects_unknown_keys() {
        let cfg: ServeConfig = toml::from_str(
            r#"
            [server]
            listen = "0.0.0.0:9000"
            max_body = "1MiB"
            [repository]
            path = "/models"
            [runtime]
            instance_slots = 50
            [model_defaults]
            isolation = "fresh"
            deadline = "250ms"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.server.listen.port(), 9000);
        assert_eq!(cfg.server.max_body.0, 1 << 20);
        assert_eq!(cfg.runtime.instance_slots, 50);
        assert_eq!(cfg.model_defaults.isolation, Isolation::Fresh);
        assert_eq!(cfg.model_defaults.deadline.0, Duration::from_millis(250));
        assert!(toml::from_str::<ServeConfig>("[server]\nlisten_on = \"x\"").is_err());
    }
}
