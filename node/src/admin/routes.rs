//! The admin API's routes: status, deploys and traffic changes, each
//! answered with a [`crate::contract`] document.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Body;

use super::upload::{DeploySource, deploy_files};
use super::{AdminState, error};
use crate::contract::{
    Change, ChangeReply, DeployRequest, NodeStatus, PredictionLogStatus, TrafficRequest,
};
use crate::deploy::DeployError;
use crate::pipeline::RequestMemory;
use crate::server::reply::{document, with_causes};

/// What a route answers.
type Reply = Response<Full<Bytes>>;

/// Routes an admitted admin request.
pub(super) async fn route<B>(
    state: &AdminState,
    req: Request<B>,
    method: &Method,
    path: &str,
    conn: Option<&crate::server::ConnInfo>,
) -> Reply
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Held until the change is done: an upload and what is built from it.
    let mut memory = RequestMemory::new(
        &state.upload_memory,
        conn.map(|c| &c.budget),
        conn.and_then(|c| c.peer_budget.as_deref()),
        None,
        std::time::Duration::ZERO,
    );
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let d = &state.deployer;
    let body = Upload {
        state,
        req,
        memory: &mut memory,
    };
    match (method, segs.as_slice()) {
        (&Method::GET, ["metrics"]) => metrics(state),
        (&Method::GET, ["admin", "v1", "health"]) => {
            crate::server::reply::json(StatusCode::OK, r#"{"ok":true}"#)
        }
        (&Method::GET, ["admin", "v1", "models"]) => document(StatusCode::OK, &status(state)),
        (&Method::GET, ["admin", "v1", "models", name]) => match d.model_status(name) {
            Some(s) => document(StatusCode::OK, &s),
            None => error(StatusCode::NOT_FOUND, format!("unknown model '{name}'")),
        },
        (&Method::PUT, ["admin", "v1", "models", name, "versions", v]) => {
            deploy(state, name, v, body).await
        }
        (&Method::DELETE, ["admin", "v1", "models", name, "versions", v]) => {
            changed(state, name, StatusCode::OK, d.remove(name, v).await)
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
        ) => traffic(state, name, what, body).await,
        (&Method::DELETE, ["admin", "v1", "models", name, "canary"]) => {
            changed(state, name, StatusCode::OK, d.clear_canary(name).await)
        }
        (&Method::DELETE, ["admin", "v1", "models", name, "shadow"]) => {
            changed(state, name, StatusCode::OK, d.clear_shadow(name).await)
        }
        (&Method::POST, ["admin", "v1", "models", name, "rollback"]) => {
            changed(state, name, StatusCode::OK, d.rollback(name, "").await)
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no admin route for {method} {path}"),
        ),
    }
}

/// `GET /admin/v1/models`: the deployer's status and the log's counters.
fn status(state: &AdminState) -> NodeStatus {
    let mut status = state.deployer.status();
    if let Some((_, Some(board))) = &state.fleet {
        status.fleet = Some(board.status(&state.deployer.registry().snapshot()));
    }
    status.prediction_log = state.predlog.as_ref().map(|log| PredictionLogStatus {
        dir: log.dir().display().to_string(),
        written: log.written.load(Relaxed),
        dropped: log.dropped.load(Relaxed),
        truncated: log.truncated.load(Relaxed),
        queued_bytes: log.queued_bytes(),
    });
    status
}

/// `PUT /admin/v1/models/{m}/versions/{v}`: an upload or a node folder.
async fn deploy<B>(state: &AdminState, name: &str, v: &str, body: Upload<'_, '_, B>) -> Reply
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let request: DeployRequest = match body.read_json().await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let promote = request.promote;
    let d = &state.deployer;
    let result = match deploy_files(request) {
        Ok(DeploySource::Path(p)) => {
            let cap = state.uploads.max_body as u64;
            d.deploy_path(name, v, std::path::Path::new(&p), cap, promote)
                .await
        }
        Ok(DeploySource::Files(files)) => d.deploy(name, v, files, promote).await,
        Ok(DeploySource::Registry(reference)) => match state.fetch(&reference).await {
            Ok(files) => d.deploy(name, v, files, promote).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    changed(state, name, StatusCode::CREATED, result)
}

/// `PUT /admin/v1/models/{m}/{primary|canary|shadow}`.
async fn traffic<B>(state: &AdminState, name: &str, what: &str, body: Upload<'_, '_, B>) -> Reply
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let request: TrafficRequest = match body.read_json().await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let d = &state.deployer;
    let result = match what {
        "primary" => d.set_primary(name, &request.version).await,
        "canary" => match request.weight {
            Some(w) => d.set_canary(name, &request.version, w).await,
            None => Err(DeployError::BadRequest(
                "a canary needs a weight (0-100)".into(),
            )),
        },
        _ => d.set_shadow(name, &request.version).await,
    };
    changed(state, name, StatusCode::OK, result)
}

/// The answer to a change: what changed and the model after it, or the
/// refusal with its status.
fn changed(
    state: &AdminState,
    name: &str,
    status: StatusCode,
    result: Result<Change, DeployError>,
) -> Reply {
    match result {
        Ok(change) => {
            let table = state.deployer.registry().snapshot();
            let warnings = crate::registry::dangling_bindings(&table, &state.global_policies);
            for w in &warnings {
                tracing::warn!("{w}");
            }
            document(
                status,
                &ChangeReply {
                    ok: true,
                    message: change.to_string(),
                    change: Some(change),
                    model: state.deployer.model_status(name),
                    warnings,
                },
            )
        }
        Err(e) => {
            let status = match &e {
                DeployError::NotFound(_) => StatusCode::NOT_FOUND,
                DeployError::Conflict(_) => StatusCode::CONFLICT,
                DeployError::BadRequest(_) => StatusCode::BAD_REQUEST,
                DeployError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                DeployError::Fetch {
                    transient: true, ..
                } => StatusCode::BAD_GATEWAY,
                DeployError::Fetch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                DeployError::State(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::warn!(status = status.as_u16(), error = %e, "admin change refused");
            error(status, e.to_string())
        }
    }
}

/// `/metrics`: every metric in the Prometheus text format.
fn metrics(state: &AdminState) -> Reply {
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
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, with_causes(&e)),
    }
}

/// A change's body, not read yet.
struct Upload<'s, 'm, B> {
    state: &'s AdminState,
    req: Request<B>,
    memory: &'m mut RequestMemory<'s>,
}

impl<B> Upload<'_, '_, B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Reads a JSON body within the upload rules, counted as it arrives
    /// in the request's memory (the connection's, its client address's
    /// and all uploads' budgets), held until the request is done.
    async fn read_json<T: serde::de::DeserializeOwned>(self) -> Result<T, Reply> {
        let declared = self
            .req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<u64>().ok());
        let started = std::time::Instant::now();
        let body = self
            .state
            .uploads
            .read(self.req.into_body(), declared, started, self.memory, None)
            .await
            .map_err(crate::server::reply::error)?;
        serde_json::from_slice(&body)
            .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
    }
}
