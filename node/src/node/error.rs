//! Why a node cannot start or serve: one error type that keeps its cause.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A node that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A setting cannot be used.
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::config::InvalidSetting),
    /// A TLS certificate or key cannot be used.
    #[error("{plane} TLS setup")]
    Tls {
        /// `data plane` or `admin API`.
        plane: &'static str,
        /// What was wrong.
        #[source]
        source: crate::server::TlsError,
    },
    /// `[auth]` cannot be used.
    #[error(transparent)]
    Auth(#[from] crate::security::AuthSetupError),
    /// `[[tenants]]` cannot be used.
    #[error("[[tenants]]: {0}")]
    Tenants(String),
    /// The WebAssembly engine cannot be built.
    #[error(transparent)]
    Engine(#[from] crate::runtime::EngineError),
    /// The state folder cannot be used.
    #[error(transparent)]
    State(#[from] crate::deploy::StateError),
    /// The AOT cache folder cannot be used.
    #[error("cannot use AOT cache folder {}: {reason}", dir.display())]
    AotCache {
        /// The folder.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// A `[fleet] trust_keys` file cannot be used.
    #[error("[fleet] trust_keys: {}: {reason}", path.display())]
    TrustKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The deployments cannot be restored.
    #[error("cannot restore the deployments")]
    Deploy(#[source] crate::deploy::DeployError),
    /// The prediction-log folder cannot be used.
    #[error("cannot use prediction log folder {}", dir.display())]
    PredictionLog {
        /// The folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Metrics or traces cannot be set up.
    #[error("telemetry setup")]
    Telemetry(#[source] crate::telemetry::TelemetryError),
    /// A listener cannot be bound.
    #[error(
        "cannot listen on {addr} for the {plane} (is another edgeserve or program using it? \
         choose another with --listen / --admin-listen or [server] listen / [admin] listen)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// `data plane` or `admin API`.
        plane: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
