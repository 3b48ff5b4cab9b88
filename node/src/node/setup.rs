//! The parts a node is built from, each from its own section of the
//! configuration: the engine, TLS, identity and policy, telemetry.

use std::sync::Arc;

use super::{CheckedConfig, NodeError};
use crate::config::ServeConfig;
use crate::deploy::StateStore;
use crate::runtime::{CompileLimits, Runtime};
use crate::security::{Authenticator, PolicyChains, Tenants};
use crate::server::{ClientAuth, load_tls_config};
use crate::telemetry::{Metrics, PredictionLog, Tracing};

/// The engine: components compiled in a child process when a worker
/// program is known, and kept in the sealed AOT cache when enabled.
pub(super) fn runtime(cfg: &CheckedConfig, store: &StateStore) -> Result<Runtime, NodeError> {
    let mut rt = Runtime::new(&cfg.runtime)?;
    match &cfg.compile_worker {
        Some(exe) => rt.compile_in_child(exe.clone(), CompileLimits::for_runtime(&cfg.runtime)),
        None => tracing::info!("no compile-worker program; compiling in-process"),
    }
    if cfg.state.aot_cache {
        let dir = cfg.state.dir.join("aot");
        let secret = store.node_key()?;
        rt.enable_aot_cache(dir.clone(), &secret)
            .map_err(|reason| NodeError::AotCache { dir, reason })?;
    }
    Ok(rt)
}

/// A listener's TLS settings, when it has a certificate (the pairs were
/// checked with the configuration).
pub(super) fn tls(
    plane: &'static str,
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
    client_ca: Option<&std::path::Path>,
    client_cert_required: bool,
) -> Result<Option<Arc<rustls::ServerConfig>>, NodeError> {
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(None);
    };
    let client_auth = client_ca.map(|ca| ClientAuth {
        ca_bundle: ca.to_path_buf(),
        required: client_cert_required,
    });
    load_tls_config(cert, key, client_auth.as_ref())
        .map(Some)
        .map_err(|source| NodeError::Tls { plane, source })
}

/// Who may call (credentials), under which tenant rules, and the global
/// policy chain.
pub(super) fn security(
    cfg: &ServeConfig,
) -> Result<(Authenticator, Tenants, PolicyChains), NodeError> {
    let auth = Authenticator::new(&cfg.auth)?;
    let tenants = Tenants::new(
        &cfg.tenants,
        cfg.auth.default_tenant.as_deref(),
        cfg.auth.require_tenant,
        cfg.server.max_inflight_body.0,
        cfg.server.max_body.0,
    )
    .map_err(NodeError::Tenants)?;
    if !tenants.is_empty()
        && cfg.auth.require_tenant == Some(false)
        && cfg.auth.default_tenant.is_none()
    {
        tracing::warn!(
            "[auth] require_tenant = false: callers that map to no tenant skip the tenant rules (models and quotas)"
        );
    }
    let chains = PolicyChains::new(cfg.policies.clone(), cfg.server.max_body.as_usize());
    if !cfg.policies.is_empty() {
        tracing::info!(
            policies = %cfg.policies.iter().map(|b| b.policy.as_str()).collect::<Vec<_>>().join(" -> "),
            "global policy chain"
        );
    }
    Ok((auth, tenants, chains))
}

/// What a node records: the prediction log, metrics and traces.
pub(super) struct Telemetry {
    pub(super) predlog: Arc<PredictionLog>,
    pub(super) metrics: Option<Arc<Metrics>>,
    pub(super) tracer: Option<Arc<Tracing>>,
}

/// Starts the prediction log's writer and the metric and trace exporters.
pub(super) fn telemetry(
    cfg: &ServeConfig,
    registry: &Arc<crate::registry::Registry>,
) -> Result<Telemetry, NodeError> {
    let dir = cfg
        .prediction_log
        .dir
        .clone()
        .unwrap_or_else(|| cfg.state.dir.join("predictions"));
    let predlog = match PredictionLog::start(&cfg.prediction_log, dir.clone()) {
        Ok(log) => Arc::new(log),
        Err(source) => return Err(NodeError::PredictionLog { dir, source }),
    };
    let t = &cfg.telemetry;
    let metrics = if t.metrics {
        let m = Metrics::new(t, registry.clone(), Some(predlog.clone()))
            .map_err(NodeError::Telemetry)?;
        Some(Arc::new(m))
    } else {
        None
    };
    let tracer = Tracing::new(t).map_err(NodeError::Telemetry)?.map(Arc::new);
    if let Some(endpoint) = &t.otlp_endpoint {
        tracing::info!(%endpoint, interval = ?t.export_interval.0, trace_sample_ratio = t.trace_sample_ratio, "exporting metrics and traces over OTLP/HTTP");
    }
    Ok(Telemetry {
        predlog,
        metrics,
        tracer,
    })
}

impl Telemetry {
    /// Writes the prediction-log records accepted so far and exports what
    /// is pending (blocking flushes: off the async workers).
    pub(super) async fn flush(self) {
        let _ = tokio::task::spawn_blocking(move || {
            if !self.predlog.flush(std::time::Duration::from_secs(10)) {
                tracing::warn!("the prediction log did not finish writing within 10 s");
            }
            if let Some(m) = &self.metrics {
                m.shutdown();
            }
            if let Some(t) = &self.tracer {
                t.shutdown();
            }
        })
        .await;
    }
}

/// How the node fetches versions (`deploy --from`, the followers): its
/// blob cache in the state folder and its trust keys; and the followers'
/// board when it follows anything.
pub(super) fn fleet(
    cfg: &CheckedConfig,
) -> Result<
    (
        std::sync::Arc<crate::fleet::fetch::Fetcher>,
        Option<std::sync::Arc<crate::fleet::follow::FleetBoard>>,
    ),
    NodeError,
> {
    use crate::fleet::{artifact::Caps, remote::RemoteOptions, signature::TrustKey};
    let f = &cfg.fleet;
    let mut trust = Vec::new();
    for path in &f.trust_keys {
        let key = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|pem| TrustKey::from_pem(&pem).map_err(|e| e.to_string()))
            .map_err(|reason| NodeError::TrustKey {
                path: path.clone(),
                reason,
            })?;
        trust.push(key);
    }
    let options = RemoteOptions {
        plain_http: f.plain_http,
        caps: Caps {
            document: 4 * 1024 * 1024,
            total: f.max_version_size.0,
        },
        ..RemoteOptions::default()
    };
    let signed = !trust.is_empty();
    let fetcher = crate::fleet::fetch::Fetcher::new(cfg.state.dir.join("blobs"), trust, options);
    let board = (!f.follow.is_empty()).then(|| {
        std::sync::Arc::new(crate::fleet::follow::FleetBoard::open(
            f,
            &cfg.state.dir,
            signed,
        ))
    });
    Ok((std::sync::Arc::new(fetcher), board))
}
