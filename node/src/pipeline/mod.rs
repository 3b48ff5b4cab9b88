//! The inference pipeline: one request's way through the node, in the
//! order it travels, whatever protocol brought it.
//!
//! ```text
//! admit → identify → route → decode → check → request policies
//!       → call the model → observe → response policies → encode
//! ```
//!
//! [`Pipeline::infer`] runs the stages; each is a short function in the
//! module named after it. Only decoding and encoding depend on the
//! protocol: a front-end (the REST routes in `server`, gRPC next) hands the
//! pipeline an [`Inbound`] (the model asked for, the request's headers or
//! metadata, its connection) and a [`Codec`] that reads its body and
//! writes its answer, and everything else — identity, tenants and quotas,
//! canary and shadow routing, memory budgets, policy chains, the sandboxed
//! call, stats, metrics, traces, drift and the prediction log — is the
//! same for every front-end.

mod admit;
mod body;
mod call;
mod conn;
mod error;
mod identify;
mod index;
mod memory;
mod observe;
mod policies;
mod route;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

pub use body::BodyRules;
pub use conn::ConnInfo;
pub use error::ApiError;
pub use index::IndexEntry;
pub use memory::RequestMemory;
pub(crate) use memory::{Holder, refusal};

use crate::budget::Budget;
use crate::protocol::{check_request, select_outputs};
use crate::registry::Registry;
use crate::runtime::LoadedModel;
use crate::security::{Authenticator, PolicyChains, Tenants};
use crate::telemetry::{Metrics, PredictionLog, RequestTrace, Shadows, Stage, Tracing};
use crate::tensor::{InferenceRequest, InferenceResponse};
use crate::units::ByteSize;

/// What every request shares: the deployment table, the data plane's
/// limits, identity, tenants, policies and telemetry. Built once by the
/// node; each request borrows it.
#[derive(Debug)]
pub struct Pipeline {
    /// The deployment table.
    pub registry: Arc<Registry>,
    /// How much memory requests may take.
    pub limits: RequestLimits,
    /// Whether `/v2/health/ready` says ready (false while draining).
    pub ready: AtomicBool,
    next_id: AtomicU64,
    id_prefix: String,
    /// Shadow calls running in the background.
    shadows: Shadows,
    /// The prediction log, when enabled.
    pub predlog: Option<Arc<PredictionLog>>,
    /// Bytes all requests in flight may hold: bodies as they arrive, then
    /// their decoded tensors (and the shadow copies still running).
    memory: Arc<Budget>,
    /// Checks credentials.
    pub auth: Authenticator,
    /// Tenant access and quotas.
    pub tenants: Tenants,
    /// The global policy chain (model chains live in their settings).
    pub chains: PolicyChains,
    /// Metrics, when enabled.
    pub metrics: Option<Arc<Metrics>>,
    /// Traces, when exported.
    pub tracing: Option<Arc<Tracing>>,
}

/// The memory and body limits of the data plane.
#[derive(Clone, Debug)]
pub struct RequestLimits {
    /// How bodies are received.
    pub body: BodyRules,
    /// Bytes all requests in flight may hold.
    pub memory: ByteSize,
    /// How long a request waits for room before it is refused.
    pub budget_wait: std::time::Duration,
    /// Largest decoded request, in bytes.
    pub max_decoded: ByteSize,
}

impl RequestLimits {
    /// The limits `[server]` sets.
    pub fn for_server(s: &crate::config::ServerConfig) -> RequestLimits {
        RequestLimits {
            body: BodyRules {
                max_body: s.max_body.as_usize(),
                read_timeout: s.body_read_timeout.0,
                idle_timeout: s.body_idle_timeout.0,
                min_rate: s.body_min_rate.0,
                keys: ("[server] max_body", "[server] body_read_timeout"),
            },
            memory: s.max_inflight_body,
            budget_wait: s.budget_wait.0,
            max_decoded: s.max_decoded,
        }
    }
}

impl RequestLimits {
    /// Refuses (413) a request whose decoded tensors would take `need`
    /// bytes, above `[server] max_decoded`; `compact` names the protocol's
    /// more compact encoding.
    pub fn check_decoded(&self, need: u64, compact: &str) -> Result<(), ApiError> {
        if need <= self.max_decoded.0 {
            return Ok(());
        }
        Err(ApiError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the decoded request would take {} of memory, above the {} limit ([server] \
                 max_decoded); send a smaller batch, or {compact}",
                ByteSize(need),
                self.max_decoded
            ),
        ))
    }
}

/// An inference request as its front-end received it, before its body is
/// read: which model it asks for, and who sent it from where.
#[derive(Clone, Copy)]
pub struct Inbound<'a> {
    /// The model's name.
    pub model: &'a str,
    /// A pinned version, if the request names one.
    pub version: Option<&'a str>,
    /// HTTP headers (or gRPC metadata): credentials, `traceparent`, and
    /// the headers policies may see.
    pub headers: &'a http::HeaderMap,
    /// The connection, when the request came over one.
    pub conn: Option<&'a ConnInfo>,
    /// The front-end's name for the route, for traces (e.g.
    /// `/v2/models/{model}/infer`).
    pub route: &'static str,
    /// When the front-end took the request: deadlines count from here.
    pub started: Instant,
}

/// The protocol-specific stages a front-end provides: reading its request
/// body into tensors, and writing the answer back.
pub trait Codec: Sync {
    /// The body as the front-end received it.
    type Body: Send;
    /// The answer as the front-end sends it.
    type Reply;

    /// Reads and decodes the body within the data plane's limits, counting
    /// every byte it holds in `memory`.
    fn decode(
        &self,
        body: Self::Body,
        cx: Decoding<'_, '_>,
    ) -> impl Future<Output = Result<InferenceRequest, ApiError>> + Send;

    /// Encodes the answer for the client.
    fn encode(
        &self,
        model: &LoadedModel,
        request: &InferenceRequest,
        response: &InferenceResponse,
    ) -> Self::Reply;
}

/// What a decoder needs beside the body.
pub struct Decoding<'m, 'a> {
    /// The request as it arrived.
    pub inbound: &'m Inbound<'a>,
    /// The request's memory account.
    pub memory: &'m mut RequestMemory<'a>,
    /// The tenant whose budget the request counts against.
    pub tenant: Option<&'m str>,
    /// The data plane's limits.
    pub limits: &'m RequestLimits,
}

/// One request on its way: the front-end's facts, its memory account, its
/// trace, and what the stages found out about it.
struct Flight<'a> {
    inbound: Inbound<'a>,
    /// What the request holds in every budget it counts against.
    memory: RequestMemory<'a>,
    /// Stage times; `None` when the request is not traced.
    trace: Option<RequestTrace>,
    /// The version that answered, for the trace.
    version: Option<String>,
    /// The request's id, for the trace.
    request_id: Option<String>,
}

impl Flight<'_> {
    /// The time now when the request is traced (an untraced request reads
    /// no clock for its stages).
    fn stamp(&self) -> Option<Instant> {
        observe::stamp(&self.trace)
    }

    /// Notes that `stage` ran from `from` until now (traced requests only).
    fn lap(&mut self, stage: Stage, from: Option<Instant>) {
        let now = self.stamp();
        observe::note(&mut self.trace, stage, from, now);
    }
}

impl Pipeline {
    /// A pipeline over a registry under the data plane's limits, with no
    /// identity, tenants, policies or telemetry (add them with the
    /// `with_*` methods).
    pub fn new(registry: Arc<Registry>, limits: RequestLimits) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Pipeline {
            registry,
            memory: Arc::new(Budget::new(limits.memory.0)),
            chains: PolicyChains::new(Vec::new(), limits.body.max_body),
            limits,
            ready: AtomicBool::new(true),
            next_id: AtomicU64::new(1),
            id_prefix: format!("{:x}", (nanos as u64) ^ u64::from(std::process::id())),
            shadows: Shadows::new(),
            predlog: None,
            auth: Authenticator::disabled(),
            tenants: Tenants::none(),
            metrics: None,
            tracing: None,
        }
    }

    /// Records metrics and exports traces through these.
    pub fn with_telemetry(
        mut self,
        metrics: Option<Arc<Metrics>>,
        tracing: Option<Arc<Tracing>>,
    ) -> Self {
        self.metrics = metrics;
        self.tracing = tracing;
        self
    }

    /// Sets identity, tenants and the global policy chain.
    pub fn with_security(
        mut self,
        auth: Authenticator,
        tenants: Tenants,
        chains: PolicyChains,
    ) -> Self {
        self.auth = auth;
        self.tenants = tenants;
        self.chains = chains;
        self
    }

    /// Records inferences of models that ask for it in `log`.
    pub fn with_prediction_log(mut self, log: Arc<PredictionLog>) -> Self {
        self.predlog = Some(log);
        self
    }

    /// Runs one inference through every stage; the trace (when the
    /// request is traced) is finished and exported whatever the outcome.
    pub async fn infer<C: Codec>(
        &self,
        codec: &C,
        inbound: Inbound<'_>,
        body: C::Body,
    ) -> Result<C::Reply, ApiError> {
        let mut flight = self.admit(inbound);
        let result = self.stages(codec, &mut flight, body).await;
        self.finish(flight, &result);
        result
    }

    /// The stages, in the order a request travels.
    async fn stages<'a, C: Codec>(
        &'a self,
        codec: &C,
        flight: &mut Flight<'a>,
        body: C::Body,
    ) -> Result<C::Reply, ApiError> {
        let identity = self.identify(flight)?;
        let routed = self.route(flight, identity)?;
        // A 4xx from here on is this version's to count: status shows it
        // beside the calls the model answered.
        let refused = |e: ApiError| {
            if e.status.is_client_error() {
                routed
                    .model
                    .stats
                    .refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            e
        };
        let decoding = flight.stamp();
        let mut request = self
            .decode(codec, flight, &routed, body)
            .await
            .map_err(refused)?;
        check_request(&routed.model.name, &routed.model.metadata, &request)
            .map_err(|e| refused(e.into()))?;
        let id = self.request_id(flight, &request);
        flight.lap(Stage::Decode, decoding);
        let seen = self
            .request_policies(flight, &routed, &mut request, &id)
            .await
            .map_err(refused)?;
        let copies = self.observe_request(flight, &routed, &request, &id);
        let (result, timing) = self.call_model(&routed, &request, &id).await;
        self.observe(flight, &routed, timing, &result, copies.log);
        let mut response = result?;
        self.mirror(copies.shadow, &routed.model, &response);
        select_outputs(&request, &mut response);
        self.response_policies(flight, &routed, seen, &request, &mut response, &id)
            .await
            .map_err(refused)?;
        Ok(self.encode(codec, flight, &routed.model, &request, &response))
    }

    /// Decode: the front-end reads the body into tensors (its trace stage
    /// also covers the check and the request id, as it always has).
    async fn decode<'a, C: Codec>(
        &'a self,
        codec: &C,
        flight: &mut Flight<'a>,
        routed: &route::Routed,
        body: C::Body,
    ) -> Result<InferenceRequest, ApiError> {
        let cx = Decoding {
            inbound: &flight.inbound,
            memory: &mut flight.memory,
            tenant: routed.identity.tenant.as_deref(),
            limits: &self.limits,
        };
        codec.decode(body, cx).await
    }

    /// The request's id: the client's, or one made up for it.
    fn request_id(&self, flight: &mut Flight<'_>, request: &InferenceRequest) -> String {
        let id = request.id.clone().unwrap_or_else(|| self.next_request_id());
        if flight.trace.is_some() {
            flight.request_id = Some(id.clone());
        }
        id
    }

    /// Encode: the front-end writes the answer.
    fn encode<C: Codec>(
        &self,
        codec: &C,
        flight: &mut Flight<'_>,
        model: &LoadedModel,
        request: &InferenceRequest,
        response: &InferenceResponse,
    ) -> C::Reply {
        let t = flight.stamp();
        let reply = codec.encode(model, request, response);
        flight.lap(Stage::Encode, t);
        reply
    }

    /// The budget all requests in flight share (a front-end that holds
    /// bytes before the pipeline sees the request counts them here too).
    pub(crate) fn memory_budget(&self) -> &Arc<Budget> {
        &self.memory
    }

    /// A process-unique id for requests that bring none: the process
    /// prefix and a counter (built by hand: `format!` was a measurable part
    /// of a small request).
    pub fn next_request_id(&self) -> String {
        let mut n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut id = String::with_capacity(self.id_prefix.len() + 1 + digits.len() - at);
        id.push_str(&self.id_prefix);
        id.push('-');
        id.extend(digits[at..].iter().map(|&d| char::from(d)));
        id
    }
}
