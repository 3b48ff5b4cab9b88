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

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Body;
use serde::Deserialize;
use serde_json::{Value, json};

pub use auth::{Auth, AuthError, Scope};
pub(crate) use guard::host_name;

use crate::deploy::{DeployError, Deployer};
use crate::repository::{MANIFEST_FILE, Manifest};

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
        }
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `/metrics`: every metric in the Prometheus text format.
fn metrics(state: &AdminState) -> Response<Full<Bytes>> {
    let Some(m) = &state.metrics else {
        return error(
            StatusCode::NOT_FOUND,
            "metrics are off ([telemetry] metrics = false)",
        );
    };
    match m.collect() {
        Ok(rm) => {
            let text = crate::telemetry::prometheus::render(&rm);
            let mut resp = Response::new(Full::new(Bytes::from(text)));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::telemetry::prometheus::CONTENT_TYPE),
            );
            resp
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    reply(status, json!({ "error": message.into() }))
}

fn deploy_error(e: DeployError) -> Response<Full<Bytes>> {
    let status = match &e {
        DeployError::NotFound(_) => StatusCode::NOT_FOUND,
        DeployError::Conflict(_) => StatusCode::CONFLICT,
        DeployError::BadRequest(_) => StatusCode::BAD_REQUEST,
        DeployError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        DeployError::State(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    tracing::warn!(status = status.as_u16(), error = %e, "admin change refused");
    error(status, e.to_string())
}

/// A deploy request: an upload, or a folder on this node.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployBody {
    /// Manifest TOML text (upload).
    #[serde(default)]
    manifest: Option<String>,
    /// Component bytes, base64 (upload).
    #[serde(default)]
    component: Option<String>,
    /// Extra files (e.g. a smoke-test request), name → base64.
    #[serde(default)]
    files: std::collections::BTreeMap<String, String>,
    /// A version folder on this node.
    #[serde(default)]
    path: Option<String>,
    /// Make it the primary at once.
    #[serde(default)]
    promote: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionBody {
    version: String,
    #[serde(default)]
    weight: Option<u8>,
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
        let mut resp = error(StatusCode::UNAUTHORIZED, e.to_string());
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"edgeserve-admin\""),
        );
        return resp;
    }
    let resp = route(&state, req, &method, &path, conn.as_deref()).await;
    if method != Method::GET {
        tracing::info!(target: "edgeserve::audit", event = "admin_change", method = method.as_str(), path = path.as_str(), status = resp.status().as_u16(), client = client.as_str(), "admin change");
    }
    resp
}

/// Routes an admitted admin request.
async fn route<B>(
    state: &AdminState,
    req: Request<B>,
    method: &Method,
    path: &str,
    conn: Option<&crate::server::ConnInfo>,
) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let method = method.clone();
    // Held until the change is done: an upload and what is built from it.
    let mut memory = crate::pipeline::RequestMemory::new(
        &state.upload_memory,
        conn.map(|c| &c.budget),
        conn.and_then(|c| c.peer_budget.as_deref()),
        None,
        std::time::Duration::ZERO,
    );
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let d = &state.deployer;
    let changed = |name: &str, r: Result<String, DeployError>| match r {
        Ok(message) => reply(
            StatusCode::OK,
            json!({ "ok": true, "message": message, "model": d.model_status(name) }),
        ),
        Err(e) => deploy_error(e),
    };
    match (&method, segs.as_slice()) {
        (&Method::GET, ["metrics"]) => metrics(state),
        (&Method::GET, ["admin", "v1", "health"]) => reply(StatusCode::OK, json!({"ok": true})),
        (&Method::GET, ["admin", "v1", "models"]) => {
            let mut status = d.status();
            if let Some(log) = &state.predlog {
                status["prediction_log"] = json!({
                    "dir": log.dir().display().to_string(),
                    "written": log.written.load(std::sync::atomic::Ordering::Relaxed),
                    "dropped": log.dropped.load(std::sync::atomic::Ordering::Relaxed),
                    "truncated": log.truncated.load(std::sync::atomic::Ordering::Relaxed),
                    "queued_bytes": log.queued_bytes(),
                });
            }
            reply(StatusCode::OK, status)
        }
        (&Method::GET, ["admin", "v1", "models", name]) => match d.model_status(name) {
            Some(s) => reply(StatusCode::OK, s),
            None => error(StatusCode::NOT_FOUND, format!("unknown model '{name}'")),
        },
        (&Method::PUT, ["admin", "v1", "models", name, "versions", v]) => {
            let body: DeployBody = match read_json(state, req, &mut memory).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            let r = match deploy_files(body) {
                Ok(DeploySource::Path(p, promote)) => {
                    let cap = state.uploads.max_body as u64;
                    d.deploy_path(name, v, std::path::Path::new(&p), cap, promote)
                        .await
                }
                Ok(DeploySource::Files(files, promote)) => d.deploy(name, v, files, promote).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(message) => reply(
                    StatusCode::CREATED,
                    json!({ "ok": true, "message": message, "model": d.model_status(name) }),
                ),
                Err(e) => deploy_error(e),
            }
        }
        (&Method::DELETE, ["admin", "v1", "models", name, "versions", v]) => {
            changed(name, d.remove(name, v).await)
        }
        (
            &Method::PUT,
            [
                "admin",
                "v1",
                "models",
                name,
                what @ ("primary" | "canary" | "shadow"),
            ],
        ) => {
            let body: VersionBody = match read_json(state, req, &mut memory).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            let r = match *what {
                "primary" => d.set_primary(name, &body.version).await,
                "canary" => match body.weight {
                    Some(w) => d.set_canary(name, &body.version, w).await,
                    None => Err(DeployError::BadRequest(
                        "a canary needs a weight (0-100)".into(),
                    )),
                },
                _ => d.set_shadow(name, &body.version).await,
            };
            changed(name, r)
        }
        (&Method::DELETE, ["admin", "v1", "models", name, "canary"]) => {
            changed(name, d.clear_canary(name).await)
        }
        (&Method::DELETE, ["admin", "v1", "models", name, "shadow"]) => {
            changed(name, d.clear_shadow(name).await)
        }
        (&Method::POST, ["admin", "v1", "models", name, "rollback"]) => {
            changed(name, d.rollback(name, "").await)
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no admin route for {method} {path}"),
        ),
    }
}

enum DeploySource {
    Path(String, bool),
    Files(Vec<(String, Vec<u8>)>, bool),
}

fn deploy_files(body: DeployBody) -> Result<DeploySource, DeployError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad = |m: String| DeployError::BadRequest(m);
    match (body.path, body.component) {
        (Some(path), None) if body.manifest.is_none() && body.files.is_empty() => {
            Ok(DeploySource::Path(path, body.promote))
        }
        (None, Some(component)) => {
            let manifest_text = body.manifest.unwrap_or_default();
            let manifest = Manifest::parse(&manifest_text)
                .map_err(|e| bad(format!("invalid manifest: {e}")))?;
            let mut files = vec![(MANIFEST_FILE.to_string(), manifest_text.into_bytes())];
            let bytes = b64
                .decode(component.as_bytes())
                .map_err(|e| bad(format!("component is not valid base64: {e}")))?;
            files.push((manifest.component_file().to_string(), bytes));
            for (name, data) in body.files {
                let bytes = b64
                    .decode(data.as_bytes())
                    .map_err(|e| bad(format!("file {name} is not valid base64: {e}")))?;
                files.push((name, bytes));
            }
            Ok(DeploySource::Files(files, body.promote))
        }
        _ => Err(bad(
            "send either {\"path\": DIR} or {\"component\": BASE64, \"manifest\": TOML, \"files\": {...}}".into(),
        )),
    }
}

/// Reads a JSON body within the upload rules, counted as it arrives in
/// `memory` (the connection's, its client address's and all uploads'
/// budgets), which the caller holds until the request is done.
async fn read_json<T: serde::de::DeserializeOwned, B>(
    state: &AdminState,
    req: Request<B>,
    memory: &mut crate::pipeline::RequestMemory<'_>,
) -> Result<T, Response<Full<Bytes>>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    let started = std::time::Instant::now();
    let body = state
        .uploads
        .read(req.into_body(), declared, started, memory, None)
        .await
        .map_err(|e| error(e.status, e.message))?;
    serde_json::from_slice(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}
