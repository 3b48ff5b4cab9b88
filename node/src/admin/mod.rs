//! The admin API: JSON over HTTP on its own listener, behind a bearer
//! token. Every change returns only once it is in effect, and says what
//! changed.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/metrics` | every metric, Prometheus text format |
//! | GET | `/admin/v1/models` | every model, version, traffic, recent events |
//! | GET | `/admin/v1/models/{m}` | one model |
//! | PUT | `/admin/v1/models/{m}/versions/{v}` | deploy (upload or node path) |
//! | DELETE | `/admin/v1/models/{m}/versions/{v}` | remove a version without traffic |
//! | PUT | `/admin/v1/models/{m}/primary` | `{"version"}`: promote |
//! | PUT / DELETE | `/admin/v1/models/{m}/canary` | `{"version","weight"}` / clear |
//! | PUT / DELETE | `/admin/v1/models/{m}/shadow` | `{"version"}` / clear |
//! | POST | `/admin/v1/models/{m}/rollback` | back to the previous primary |

mod auth;
mod guard;
mod routes;
mod upload;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Body;

pub use auth::{Auth, AuthError, Scope};
pub(crate) use guard::host_name;

use crate::deploy::Deployer;
use crate::pipeline::ApiError;
use crate::server::reply;

/// What the admin handlers share.
#[derive(Debug)]
pub struct AdminState {
    /// The control plane.
    pub deployer: Arc<Deployer>,
    /// Who may call.
    pub auth: Auth,
    /// The prediction log, for its counters in status.
    pub predlog: Option<Arc<crate::telemetry::PredictionLog>>,
    /// Metrics rendered at `/metrics`, when enabled.
    pub metrics: Option<Arc<crate::telemetry::Metrics>>,
    /// `Host` names accepted besides IP addresses and `localhost`.
    pub allowed_hosts: Vec<String>,
    /// How upload bodies are received (size, time, gaps, rate);
    /// `max_body` is also the cap on files a `{"path"}` deploy reads.
    pub uploads: crate::server::BodyRules,
    /// Memory all uploads in flight may hold, in bytes.
    pub upload_memory: crate::budget::Budget,
    /// The configuration's global policy chain, to say after each change
    /// which bindings name no deployed policy.
    pub global_policies: Vec<crate::repository::PolicyBinding>,
    /// How this node fetches versions from registries (`deploy --from`),
    /// and what it follows, when set.
    pub fleet: Option<(
        Arc<crate::fleet::fetch::Fetcher>,
        Option<Arc<crate::fleet::follow::FleetBoard>>,
    )>,
}

impl AdminState {
    /// The admin API of a node configured by `cfg`.
    pub fn for_config(
        cfg: &crate::config::ServeConfig,
        deployer: Arc<Deployer>,
        predlog: Option<Arc<crate::telemetry::PredictionLog>>,
        metrics: Option<Arc<crate::telemetry::Metrics>>,
    ) -> AdminState {
        let a = &cfg.admin;
        AdminState {
            deployer,
            auth: Auth::new(a.token.clone(), a.metrics_token.clone()),
            predlog,
            metrics,
            allowed_hosts: a.allowed_hosts.clone(),
            uploads: crate::server::BodyRules {
                max_body: a.max_upload.as_usize(),
                read_timeout: a.upload_timeout.0,
                idle_timeout: cfg.server.body_idle_timeout.0,
                min_rate: cfg.server.body_min_rate.0,
                keys: ("[admin] max_upload", "[admin] upload_timeout"),
            },
            // Two uploads at once, each with what is built from it.
            upload_memory: crate::budget::Budget::new(a.max_upload.0.saturating_mul(4)),
            global_policies: cfg.policies.clone(),
            fleet: None,
        }
    }

    /// Lets `deploy --from` pull with `fetcher`, and status show `board`.
    pub fn with_fleet(
        mut self,
        fetcher: Arc<crate::fleet::fetch::Fetcher>,
        board: Option<Arc<crate::fleet::follow::FleetBoard>>,
    ) -> AdminState {
        self.fleet = Some((fetcher, board));
        self
    }

    /// Pulls a version for `deploy --from` (signature checked against the
    /// node's trust keys).
    pub(crate) async fn fetch(
        &self,
        reference: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, crate::deploy::DeployError> {
        let Some((fetcher, _)) = &self.fleet else {
            return Err(crate::deploy::DeployError::BadRequest(
                "this node does not pull from registries".into(),
            ));
        };
        match fetcher.fetch(reference).await {
            Ok(f) => {
                tracing::info!(target: "edgeserve::audit", event = "fleet_pulled", reference, digest = f.digest.as_str(), verified = f.verified, "deploy --from pulled a version");
                Ok(f.unpacked.files)
            }
            Err(e) => {
                tracing::warn!(target: "edgeserve::audit", event = "fleet_refused", reference, reason = %e, "deploy --from refused");
                Err(crate::deploy::DeployError::Fetch {
                    transient: e.is_transient(),
                    reason: format!("{reference}: {e}"),
                })
            }
        }
    }
}

/// Handles one admin request that arrived from `peer` (`None` when a test
/// drives the handler in-process). Every refusal and every change is
/// audited with the connection's own peer address (never a header a client
/// can write). Generic over the body for in-process tests.
pub async fn handle<B>(
    state: Arc<AdminState>,
    req: Request<B>,
    conn: Option<Arc<crate::server::ConnInfo>>,
) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let client = conn
        .as_ref()
        .map_or_else(|| "-".to_string(), |c| c.peer.to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if let Err(r) = guard::check(&method, req.uri(), req.headers(), &state.allowed_hosts) {
        tracing::warn!(target: "edgeserve::audit", event = "admin_refused", method = method.as_str(), path = path.as_str(), reason = r.message.as_str(), client = client.as_str(), "admin request refused");
        return error(r.status, r.message);
    }
    let scope = if method == Method::GET && path == "/metrics" {
        Scope::Metrics
    } else {
        Scope::Admin
    };
    if let Err(e) = state.auth.check(req.headers(), scope) {
        tracing::warn!(target: "edgeserve::audit", event = "admin_auth_failure", method = method.as_str(), path = path.as_str(), reason = %e, client = client.as_str(), "admin authentication failed");
        return reply::error_in(
            ApiError::unauthorized(e.to_string()),
            "Bearer realm=\"edgeserve-admin\"",
        );
    }
    let resp = routes::route(&state, req, &method, &path, conn.as_deref()).await;
    if method != Method::GET {
        tracing::info!(target: "edgeserve::audit", event = "admin_change", method = method.as_str(), path = path.as_str(), status = resp.status().as_u16(), client = client.as_str(), "admin change");
    }
    resp
}

/// An error reply of the admin API.
fn error(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    reply::error(ApiError::new(status, message))
}
