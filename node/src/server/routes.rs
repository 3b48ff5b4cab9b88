//! The Open Inference Protocol v2 REST routes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Body;

use super::listener::ConnInfo;
use super::reply::{self, json};
use super::rest::Rest;
use crate::pipeline::{ApiError, Inbound, Pipeline};
use crate::protocol::encode_metadata;
use crate::telemetry::{INFER_ROUTES, Metrics};

/// The routes of the data plane.
enum Route<'a> {
    Live,
    Ready,
    ServerMetadata,
    /// `GET /v2/models`: the models the caller may call.
    Models,
    /// Triton's `POST /v2/repository/index`: one entry per version.
    RepositoryIndex,
    ModelMetadata(&'a str, Option<&'a str>),
    ModelReady(&'a str, Option<&'a str>),
    Infer(&'a str, Option<&'a str>),
}

/// Most path segments a route has (`/v2/models/{m}/versions/{v}/ready`).
const MAX_SEGMENTS: usize = 6;

fn route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, ApiError> {
    // The segments after the leading '/', split by hand (a byte scan; the
    // `str::split` searcher cost more than the rest of routing). A path
    // longer than any route matches nothing below.
    let path_trimmed = path.trim_end_matches('/');
    let mut segs = [""; MAX_SEGMENTS];
    let mut n = 0;
    let mut from = None;
    let mut push = |seg| {
        if n < MAX_SEGMENTS {
            segs[n] = seg;
        }
        n += 1;
    };
    for (i, &b) in path_trimmed.as_bytes().iter().enumerate() {
        if b == b'/' {
            if let Some(f) = from {
                push(&path_trimmed[f..i]);
            }
            from = Some(i + 1);
        }
    }
    if let Some(f) = from {
        push(&path_trimmed[f..]);
    }
    let segs = if n <= MAX_SEGMENTS {
        &segs[..n]
    } else {
        &[][..]
    };
    let (route, allowed) = match segs {
        ["v2", "health", "live"] => (Route::Live, Method::GET),
        ["v2", "health", "ready"] => (Route::Ready, Method::GET),
        ["v2"] => (Route::ServerMetadata, Method::GET),
        ["v2", "models"] => (Route::Models, Method::GET),
        ["v2", "repository", "index"] => (Route::RepositoryIndex, Method::POST),
        ["v2", "models", name] => (Route::ModelMetadata(name, None), Method::GET),
        ["v2", "models", name, "versions", v] => (Route::ModelMetadata(name, Some(v)), Method::GET),
        ["v2", "models", name, "ready"] => (Route::ModelReady(name, None), Method::GET),
        ["v2", "models", name, "versions", v, "ready"] => {
            (Route::ModelReady(name, Some(v)), Method::GET)
        }
        ["v2", "models", name, "infer"] => (Route::Infer(name, None), Method::POST),
        ["v2", "models", name, "versions", v, "infer"] => {
            (Route::Infer(name, Some(v)), Method::POST)
        }
        ["admin", ..] => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no route for {path}: this is edgeserve's data plane; the admin API \
                     listens on its own address ([admin] listen, default 127.0.0.1:8082)"
                ),
            ));
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no route for {path}"),
            ));
        }
    };
    // HEAD is answered like GET (hyper drops the body).
    if method == allowed || (allowed == Method::GET && method == Method::HEAD) {
        Ok(route)
    } else {
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{path} takes {allowed}, not {method}"),
        ))
    }
}

/// Handles one request that arrived on `conn` (`None` when a test drives
/// the handler in-process). Generic over the body for the same reason.
pub async fn handle<B>(
    state: Arc<Pipeline>,
    req: Request<B>,
    conn: Option<Arc<ConnInfo>>,
) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let method = req.method().clone();
    let _active = state.metrics.as_deref().map(Active::new);
    let (result, template) = dispatch(&state, req, conn.as_deref(), started).await;
    let resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            err.log("rest");
            reply::error(err)
        }
    };
    if let Some(m) = &state.metrics {
        m.http_request(&method, template, resp.status().as_u16(), started.elapsed());
    }
    resp
}

/// Counts a request as active while it is alive (also when the client goes
/// away mid-request and the future is dropped).
struct Active<'a>(&'a Metrics);

impl<'a> Active<'a> {
    fn new(m: &'a Metrics) -> Self {
        m.active(1);
        Active(m)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active(-1);
    }
}

impl Route<'_> {
    /// The route as a template, for metrics and span names.
    fn template(&self) -> &'static str {
        match self {
            Route::Live => "/v2/health/live",
            Route::Ready => "/v2/health/ready",
            Route::ServerMetadata => "/v2",
            Route::Models => "/v2/models",
            Route::RepositoryIndex => "/v2/repository/index",
            Route::ModelMetadata(_, None) => "/v2/models/{model}",
            Route::ModelMetadata(_, Some(_)) => "/v2/models/{model}/versions/{version}",
            Route::ModelReady(_, None) => "/v2/models/{model}/ready",
            Route::ModelReady(_, Some(_)) => "/v2/models/{model}/versions/{version}/ready",
            Route::Infer(_, None) => INFER_ROUTES[0],
            Route::Infer(_, Some(_)) => INFER_ROUTES[1],
        }
    }
}

async fn dispatch<B>(
    state: &Pipeline,
    req: Request<B>,
    conn: Option<&ConnInfo>,
    started: Instant,
) -> (Result<Response<Full<Bytes>>, ApiError>, &'static str)
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // A `Uri` clone shares its bytes: the route can borrow the path while
    // the request moves on.
    let uri = req.uri().clone();
    let route = match route(req.method(), uri.path()) {
        Ok(r) => r,
        Err(e) => return (Err(e), "unmatched"),
    };
    let template = route.template();
    let result = match route {
        Route::Infer(model, version) => {
            let (parts, body) = req.into_parts();
            let inbound = Inbound {
                model,
                version,
                headers: &parts.headers,
                conn,
                route: template,
                started,
            };
            state.infer(&Rest::new(), inbound, body).await
        }
        Route::ModelMetadata(name, version) => model_metadata(state, &req, conn, name, version),
        Route::ModelReady(name, version) => model_ready(state, &req, conn, name, version),
        Route::Models => model_index(state, &req, conn, false),
        Route::RepositoryIndex => model_index(state, &req, conn, true),
        Route::Live | Route::Ready | Route::ServerMetadata => Ok(server_route(state, &route)),
    };
    (result, template)
}

/// The routes about the server itself, open to every caller.
fn server_route(state: &Pipeline, route: &Route<'_>) -> Response<Full<Bytes>> {
    match route {
        Route::Ready if !state.ready.load(Ordering::Acquire) => {
            json(StatusCode::SERVICE_UNAVAILABLE, r#"{"ready":false}"#)
        }
        Route::Ready => json(StatusCode::OK, r#"{"ready":true}"#),
        Route::ServerMetadata => json(
            StatusCode::OK,
            serde_json::json!({
                "name": "edgeserve",
                "version": env!("CARGO_PKG_VERSION"),
                "extensions": ["binary_tensor_data"],
            })
            .to_string(),
        ),
        _ => json(StatusCode::OK, r#"{"live":true}"#),
    }
}

/// The models the caller may call (the same identity and tenant rules as
/// inference decide): `GET /v2/models` as `{"models": [{name, versions,
/// primary}]}`, and `POST /v2/repository/index` as Triton answers it (what
/// `tritonclient`'s `get_model_repository_index` reads): one `{name,
/// version, state}` per callable version, every one `READY` (a version
/// that is not ready is not in the table). The index request's body (an
/// optional `{"ready": true}`) changes nothing and is not read.
fn model_index<B>(
    state: &Pipeline,
    req: &Request<B>,
    conn: Option<&ConnInfo>,
    triton: bool,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let models = state.index(req.headers(), conn)?;
    let body = if triton {
        let entries = models.iter().flat_map(|m| {
            m.versions
                .iter()
                .map(|v| serde_json::json!({"name": m.name, "version": v, "state": "READY"}))
        });
        serde_json::Value::Array(entries.collect())
    } else {
        serde_json::json!({ "models": models })
    };
    Ok(json(StatusCode::OK, body.to_string()))
}

/// `GET /v2/models/{m}[/versions/{v}]`: behind the same identity and
/// tenant rules as inference.
fn model_metadata<B>(
    state: &Pipeline,
    req: &Request<B>,
    conn: Option<&ConnInfo>,
    name: &str,
    version: Option<&str>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let model = state.look_up(req.headers(), conn, name, version)?;
    let versions = match version {
        Some(v) => vec![v.to_string()],
        None => state.registry.model_versions(name),
    };
    Ok(json(
        StatusCode::OK,
        encode_metadata(name, &versions, &model.metadata),
    ))
}

/// `GET /v2/models/{m}[/versions/{v}]/ready`: behind the same identity and
/// tenant rules as inference.
fn model_ready<B>(
    state: &Pipeline,
    req: &Request<B>,
    conn: Option<&ConnInfo>,
    name: &str,
    version: Option<&str>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let model = state.look_up(req.headers(), conn, name, version)?;
    Ok(json(
        StatusCode::OK,
        serde_json::json!({"name": name, "version": model.version, "ready": true}).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::{Route, route};
    use http::Method;

    fn infer(path: &str) -> Option<(String, Option<String>)> {
        match route(&Method::POST, path) {
            Ok(Route::Infer(m, v)) => Some((m.to_string(), v.map(String::from))),
            _ => None,
        }
    }

    #[test]
    fn splits_paths_into_routes() {
        assert_eq!(infer("/v2/models/iris/infer"), Some(("iris".into(), None)));
        assert_eq!(infer("/v2/models/iris/infer/"), Some(("iris".into(), None)));
        assert_eq!(
            infer("/v2/models/iris/versions/2/infer"),
            Some(("iris".into(), Some("2".into())))
        );
        assert_eq!(infer("/v2/models//infer"), Some((String::new(), None)));
        assert_eq!(infer("/v2/models/iris/versions/2/infer/x"), None);
        assert_eq!(infer("/v2/models/a/b/c/d/e/f/g/infer"), None);
        assert_eq!(infer("v2/models/iris/infer"), None, "no leading slash");
        assert!(matches!(
            route(&Method::GET, "/v2"),
            Ok(Route::ServerMetadata)
        ));
        assert!(matches!(
            route(&Method::GET, "/v2/health/live/"),
            Ok(Route::Live)
        ));
        assert!(route(&Method::GET, "/").is_err());
        assert!(route(&Method::GET, "").is_err());
        assert!(
            route(&Method::GET, "/v2/models/iris/infer").is_err(),
            "wrong method"
        );
    }
}
