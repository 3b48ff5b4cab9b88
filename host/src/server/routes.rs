//! The Open Inference Protocol v2 REST routes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Body;

use super::AppState;
use super::error::ApiError;
use super::listener::ConnInfo;
use super::memory::RequestMemory;
use super::observe::{Observed, copy_memory, note, observe_call, stamp};
use crate::protocol::{
    HEADER_LENGTH, check_request, encode_metadata, encode_response, parse_request, select_outputs,
};
use crate::registry::ModelRules;
use crate::runtime::policy_abi::{self, RequestContext};
use crate::runtime::{CallTiming, LoadedModel, wit_abi};
use crate::security::{
    AuthMethod, ChainError, Identity, Stage, TenantOf, audit_auth_failure, audit_denial,
};
use crate::telemetry::{INFER_ROUTES, Metrics, RequestTrace, Stage as TraceStage};
use crate::tensor::InferenceRequest;
use opentelemetry::KeyValue;
use std::time::Instant;

/// The routes of the data plane.
enum Route<'a> {
    Live,
    Ready,
    ServerMetadata,
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

fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Handles one request that arrived on `conn` (`None` when a test drives
/// the handler in-process). Generic over the body for the same reason.
pub async fn handle<B>(
    state: Arc<AppState>,
    req: Request<B>,
    conn: Option<Arc<ConnInfo>>,
) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let method = req.method().clone();
    let _active = state.metrics.as_deref().map(Active::new);
    let (result, template) = dispatch(&state, req, conn.as_deref(), started).await;
    let resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            if err.status.is_server_error() {
                tracing::warn!(
                    status = err.status.as_u16(),
                    error = err.message.as_str(),
                    "request failed"
                );
            } else {
                tracing::debug!(
                    status = err.status.as_u16(),
                    error = err.message.as_str(),
                    "request refused"
                );
            }
            err.into_response()
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
    state: &AppState,
    req: Request<B>,
    conn: Option<&ConnInfo>,
    started: Instant,
) -> (Result<Response<Full<Bytes>>, ApiError>, &'static str)
where
    B: Body<Data = Bytes>,
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
        Route::Infer(name, version) => {
            let call = Call {
                name,
                version,
                conn,
                started,
            };
            infer_traced(state, call, req, template).await
        }
        Route::ModelMetadata(name, version) => model_metadata(state, &req, conn, name, version),
        Route::ModelReady(name, version) => model_ready(state, &req, conn, name, version),
        Route::Live | Route::Ready | Route::ServerMetadata => Ok(server_route(state, &route)),
    };
    (result, template)
}

/// [`infer`], with its trace finished (and exported when sampled) whatever
/// the outcome.
async fn infer_traced<B>(
    state: &AppState,
    call: Call<'_>,
    req: Request<B>,
    template: &'static str,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let name = call.name;
    let mut trace = state.tracing.as_ref().map(|t| t.begin(req.headers()));
    let mut served = Served::default();
    let result = infer(state, call, req, &mut trace, &mut served).await;
    if let (Some(t), Some(trace)) = (&state.tracing, trace) {
        let status = match &result {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.status.as_u16(),
        };
        let mut attrs = vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", template),
            KeyValue::new("http.response.status_code", i64::from(status)),
            KeyValue::new("edgeserve.model", name.to_string()),
        ];
        if let Some(v) = served.version {
            attrs.push(KeyValue::new("edgeserve.version", v));
        }
        if let Some(id) = served.request_id {
            attrs.push(KeyValue::new("edgeserve.request_id", id));
        }
        t.finish(trace, template, attrs);
    }
    result
}

/// Which model an inference request asks for, and where and when it came
/// in.
#[derive(Clone, Copy)]
struct Call<'a> {
    name: &'a str,
    version: Option<&'a str>,
    conn: Option<&'a ConnInfo>,
    /// When the handler started: deadlines count from here.
    started: Instant,
}

/// What the inference route found out, for its trace.
#[derive(Default)]
struct Served {
    version: Option<String>,
    request_id: Option<String>,
}

/// The routes about the server itself, open to every caller.
fn server_route(state: &AppState, route: &Route<'_>) -> Response<Full<Bytes>> {
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

/// The model (or version) a metadata or readiness route asks about, once
/// the caller is identified and admitted under the model's rules (no
/// quota is taken).
fn look_up<B>(
    state: &AppState,
    req: &Request<B>,
    conn: Option<&ConnInfo>,
    name: &str,
    version: Option<&str>,
) -> Result<Arc<LoadedModel>, ApiError> {
    let identity = authenticate(state, req.headers(), conn, name)?;
    let (model, rules) = state
        .registry
        .resolve(name, version)
        .map_err(|e| unknown(state, &identity, e))?;
    admit_caller(state, identity, conn, &model, &rules, false)?;
    Ok(model)
}

/// `GET /v2/models/{m}[/versions/{v}]`: behind the same identity and
/// tenant rules as inference.
fn model_metadata<B>(
    state: &AppState,
    req: &Request<B>,
    conn: Option<&ConnInfo>,
    name: &str,
    version: Option<&str>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let model = look_up(state, req, conn, name, version)?;
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
    state: &AppState,
    req: &Request<B>,
    conn: Option<&ConnInfo>,
    name: &str,
    version: Option<&str>,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let model = look_up(state, req, conn, name, version)?;
    Ok(json(
        StatusCode::OK,
        serde_json::json!({"name": name, "version": model.version, "ready": true}).to_string(),
    ))
}

/// The client's address, formatted only when a log line or a policy needs
/// it.
#[derive(Clone, Copy)]
struct Peer(Option<std::net::SocketAddr>);

impl Peer {
    fn text(self) -> String {
        self.0.map(|a| a.to_string()).unwrap_or_default()
    }
}

/// Who is asking, from the request's credentials or the connection's
/// client certificate, before the model is even looked up: invalid
/// credentials are a 401 (audited) whatever model they name.
fn authenticate(
    state: &AppState,
    headers: &http::HeaderMap,
    conn: Option<&ConnInfo>,
    name: &str,
) -> Result<Identity, ApiError> {
    let cert = conn.and_then(|c| c.client_cert_cn.as_deref());
    state.auth.authenticate(headers, cert).map_err(|f| {
        let id = state.next_request_id();
        let client = Peer(conn.map(|c| c.peer));
        audit_auth_failure(&id, f.method, &f.reason, name, &client.text());
        ApiError::unauthorized(format!("authentication failed: {}", f.reason))
    })
}

/// The answer for a model (or version) that is not served. Where the
/// server requires an identity, an anonymous caller is told to present
/// one, exactly as for a model that exists: which models exist is not
/// for callers the server does not know.
fn unknown(state: &AppState, identity: &Identity, e: crate::registry::RouteError) -> ApiError {
    if state.auth.required && identity.method == AuthMethod::Anonymous {
        return ApiError::unauthorized(
            "this server requires an identity: send an API key, a bearer token or a client \
             certificate",
        );
    }
    e.into()
}

/// Whether the caller (already authenticated) may use this model: its
/// identity requirement and the tenant rules (the quota is taken only when
/// `charge`, for inference). The rules are the model's, whichever version
/// answers. Every refusal is audited; 401s carry a challenge.
fn admit_caller(
    state: &AppState,
    mut identity: Identity,
    conn: Option<&ConnInfo>,
    model: &LoadedModel,
    rules: &ModelRules,
    charge: bool,
) -> Result<Identity, ApiError> {
    let client = Peer(conn.map(|c| c.peer));
    let refuse = |identity: &Identity, status: u16, reason: String, retry_after| {
        let id = state.next_request_id();
        audit_denial(
            &id,
            identity,
            &model.name,
            &model.version,
            None,
            status,
            &reason,
            &client.text(),
        );
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        ApiError {
            status,
            message: reason,
            retry_after,
            challenge: status == StatusCode::UNAUTHORIZED,
        }
    };
    let anonymous = identity.method == AuthMethod::Anonymous;
    if anonymous && rules.requires_identity(state.auth.required) {
        let reason = format!(
            "model {} requires an identity: send an API key, a bearer token or a client certificate",
            model.name
        );
        return Err(refuse(&identity, 401, reason, None));
    }
    let tenant = state
        .tenants
        .tenant_of(identity.tenant.as_ref(), !anonymous)
        .map_err(|r| refuse(&identity, r.status, r.reason, r.retry_after))?;
    if let TenantOf::Tenant(tenant) = tenant {
        let admitted = if charge {
            state.tenants.admit(&tenant, &model.name)
        } else {
            state.tenants.may_call(&tenant, &model.name)
        };
        // Policies and the audit see the tenant whose rules applied (the
        // default tenant for a caller that names none).
        identity.tenant = Some(tenant);
        admitted.map_err(|r| refuse(&identity, r.status, r.reason, r.retry_after))?;
    }
    Ok(identity)
}

/// The context policies see; headers only from the configured allow-list.
fn policy_context<B>(
    state: &AppState,
    req: &Request<B>,
    identity: &Identity,
    model: &LoadedModel,
    client: Peer,
) -> RequestContext {
    let headers = state
        .auth
        .policy_headers
        .iter()
        .flat_map(|name| {
            req.headers()
                .get_all(name)
                .iter()
                .map(|v| policy_abi::Header {
                    name: name.as_str().to_string(),
                    value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
                })
        })
        .collect();
    RequestContext {
        request_id: String::new(),
        tenant: identity.tenant.as_deref().map(String::from),
        principal: identity.principal.as_deref().map(String::from),
        auth_method: match identity.method {
            AuthMethod::Anonymous => policy_abi::AuthMethod::Anonymous,
            AuthMethod::ApiKey => policy_abi::AuthMethod::ApiKey,
            AuthMethod::Jwt => policy_abi::AuthMethod::Jwt,
            AuthMethod::Mtls => policy_abi::AuthMethod::Mtls,
        },
        model: model.name.clone(),
        version: model.version.clone(),
        headers,
        client_address: client.text(),
    }
}

/// Audits a chain's refusal and turns it into the client's error.
fn chain_refusal(
    e: ChainError,
    id: &str,
    identity: &Identity,
    model: &LoadedModel,
    client: Peer,
) -> ApiError {
    audit_denial(
        id,
        identity,
        &model.name,
        &model.version,
        Some(e.policy()),
        e.status(),
        e.reason(),
        &client.text(),
    );
    ApiError::new(
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN),
        e.to_string(),
    )
}

/// Reads and decodes an inference request within the data plane's limits:
/// the body's size, time, gaps and rate, and the request's memory (body
/// bytes as they arrive, then the decoded tensors, counted before they are
/// built). `memory` holds it all until the request ends.
async fn read_request<B>(
    state: &AppState,
    req: Request<B>,
    started: Instant,
    memory: &mut RequestMemory<'_>,
    tenant: Option<&str>,
) -> Result<InferenceRequest, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let headers = req.headers();
    if let Some(enc) = headers.get(header::CONTENT_ENCODING)
        && enc.as_bytes() != b"identity"
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Encoding {} is not supported; send the body uncompressed",
                String::from_utf8_lossy(enc.as_bytes())
            ),
        ));
    }
    let header_len = match headers.get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "Inference-Header-Content-Length must be a non-negative integer",
                    )
                })?,
        ),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    let body = state
        .limits
        .body
        .read(req.into_body(), declared, started, memory, tenant)
        .await?;
    let parsed = parse_request(&body, header_len)?;
    let need = parsed.memory() as u64;
    if need > state.limits.max_decoded.0 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the decoded request would take {} of memory, above the {} limit ([server] \
                 max_decoded); send a smaller batch, or binary tensors",
                crate::units::ByteSize(need),
                state.limits.max_decoded
            ),
        ));
    }
    memory.grow(need, tenant).await?;
    Ok(parsed.decode()?)
}

/// The encoded response, with the content type (and binary header length)
/// it needs.
fn respond(encoded: crate::protocol::EncodedResponse) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(encoded.body)));
    let h = resp.headers_mut();
    match encoded.header_len {
        Some(n) => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(HEADER_LENGTH, HeaderValue::from(n));
        }
        None => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
    }
    resp
}

/// One inference: identity, quotas, body, policies, the sandboxed call,
/// shadow, prediction log, metrics, encoding. `trace` collects stage times
/// when tracing is on; `served` tells the caller what answered.
async fn infer<B>(
    state: &AppState,
    call: Call<'_>,
    req: Request<B>,
    trace: &mut Option<RequestTrace>,
    served: &mut Served,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Call {
        name,
        version,
        conn,
        started,
    } = call;
    // Identity and quotas before the body is read: an unauthenticated
    // client cannot make the server buffer anything.
    let identity = authenticate(state, req.headers(), conn, name)?;
    let routed = state
        .registry
        .route(name, version)
        .map_err(|e| unknown(state, &identity, e))?;
    let model = routed.model;
    let rules = routed.rules;
    served.version = trace.is_some().then(|| model.version.clone());
    let client = Peer(conn.map(|c| c.peer));
    let identity = admit_caller(state, identity, conn, &model, &rules, true)?;
    let (pre_chain, post_chain) = (
        state.chains.any(&rules, Stage::Request),
        state.chains.any(&rules, Stage::Response),
    );
    let mut ctx =
        (pre_chain || post_chain).then(|| policy_context(state, &req, &identity, &model, client));

    // Stage times are read only for a traced request.
    let t_decode = stamp(trace);
    // Held until the answer is built: binary tensors are slices of the
    // body, and the decoded request lives until then.
    let tenant = identity.tenant.clone();
    let mut memory = state.request_memory(conn, tenant.as_deref());
    let mut request = read_request(state, req, started, &mut memory, tenant.as_deref()).await?;
    check_request(&model.metadata, &request)?;
    let mut id = request
        .id
        .clone()
        .unwrap_or_else(|| state.next_request_id());
    if trace.is_some() {
        served.request_id = Some(id.clone());
    }
    let t_policies = stamp(trace);
    note(trace, TraceStage::Decode, t_decode, t_policies);

    let ctx = ctx.take().map(|mut c| {
        c.request_id = id.clone();
        Arc::new(c)
    });
    let mut seen = None;
    if let Some(ctx) = &ctx {
        // The chains hand policies their own copy of the request, held
        // until the answer: counted like the rest of the request.
        memory
            .grow(copy_memory(&request.inputs), tenant.as_deref())
            .await?;
        if pre_chain {
            // Policy chains are boxed: their futures are large, and a
            // request without policies should not carry (and move) them.
            seen = Box::pin(state.chains.run_request(
                &state.registry,
                &model,
                &rules,
                ctx,
                &mut request,
            ))
            .await
            .map_err(|e| chain_refusal(e, &id, &identity, &model, client))?;
            note(trace, TraceStage::PolicyRequest, t_policies, stamp(trace));
        }
        if post_chain && seen.is_none() {
            seen = Some(Arc::new(wit_abi::request_copy(&id, &request)));
        }
    }
    if let Some(drift) = &model.drift {
        drift.observe(&request);
    }
    // The shadow and a sampled log record need their own copy of the
    // inputs: the call below moves them into the sandbox.
    let shadow = routed.shadow.and_then(|s| {
        // The shadow's copy outlives this request: it takes its own room.
        let slot = state.shadow_slot(&s, memory.held())?;
        Some((s, slot, request.clone(), id.clone()))
    });
    let logged = state.predlog.as_ref().and_then(|log| {
        let settings = model.settings.log.as_ref()?;
        log.should_sample(settings.sample).then(|| {
            (
                log.clone(),
                id.clone(),
                settings.inputs.then(|| request.inputs.clone()),
                std::time::SystemTime::now(),
            )
        })
    });
    // The id is needed again only for the response chain's audit lines.
    let call_id = if post_chain {
        id.clone()
    } else {
        std::mem::take(&mut id)
    };
    let mut timing = CallTiming::default();
    let result = model.infer_timed(&mut request, call_id, &mut timing).await;
    observe_call(
        state,
        &model,
        Observed {
            timing,
            started,
            result: &result,
            logged,
            tenant: tenant.as_deref(),
        },
        trace,
    );
    let mut response = result?;
    if let Some((shadow, slot, shadow_req, id)) = shadow {
        state.mirror(shadow, slot, shadow_req, id, &response, &model.version);
    }
    select_outputs(&request, &mut response);
    if let (Some(ctx), Some(seen), true) = (&ctx, seen, post_chain) {
        memory
            .grow(copy_memory(&response.outputs), tenant.as_deref())
            .await?;
        let t = stamp(trace);
        Box::pin(
            state
                .chains
                .run_response(&state.registry, &rules, ctx, seen, &mut response),
        )
        .await
        .map_err(|e| chain_refusal(e, &id, &identity, &model, client))?;
        note(trace, TraceStage::PolicyResponse, t, stamp(trace));
    }
    let t_encode = stamp(trace);
    let resp = respond(encode_response(
        &model.name,
        &model.version,
        &request,
        &response,
    ));
    note(trace, TraceStage::Encode, t_encode, stamp(trace));
    Ok(resp)
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
