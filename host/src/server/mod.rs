//! The data plane: listener (plain or TLS, HTTP/1.1 and HTTP/2) and the
//! Open Inference Protocol routes.

mod body;
mod error;
mod listener;
mod memory;
mod observe;
mod peers;
mod routes;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use body::BodyRules;
pub use error::ApiError;
pub use listener::{ConnInfo, ListenerOptions, serve};
pub(crate) use memory::RequestMemory;
pub use routes::handle;
pub use tls::{ClientAuth, TlsError, load_tls_config};

use crate::protocol::check_request;
use crate::registry::Registry;
use crate::runtime::LoadedModel;
use crate::security::{Authenticator, PolicyChains, Tenants};
use crate::telemetry::{Metrics, PredictionLog, Record, ShadowRecord, Tracing, compare};
use crate::tensor::{InferenceRequest, InferenceResponse};
use crate::units::ByteSize;

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The deployment table.
    pub registry: Arc<Registry>,
    /// How much memory requests may take, and how bodies are received.
    pub limits: RequestLimits,
    /// Whether `/v2/health/ready` says ready (false while draining).
    pub ready: AtomicBool,
    next_id: AtomicU64,
    id_prefix: String,
    /// Bounds the shadow calls running at once.
    shadow_permits: Arc<tokio::sync::Semaphore>,
    /// The prediction log, when enabled.
    pub predlog: Option<Arc<PredictionLog>>,
    /// Bytes all requests in flight may hold: bodies as they arrive, then
    /// their decoded tensors (and the shadow copies still running).
    memory: Arc<crate::budget::Budget>,
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

/// Shadow calls that may run at once; more are dropped (and counted).
const SHADOW_IN_FLIGHT: usize = 64;

/// What a running shadow call holds: its place among the shadow calls, and
/// its copy's memory.
pub(crate) type ShadowSlot = (tokio::sync::OwnedSemaphorePermit, crate::budget::OwnedTaken);

impl AppState {
    /// State for a registry and the data plane's limits.
    pub fn new(registry: Arc<Registry>, limits: RequestLimits) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        AppState {
            registry,
            memory: Arc::new(crate::budget::Budget::new(limits.memory.0)),
            chains: PolicyChains::new(Vec::new(), limits.body.max_body),
            limits,
            ready: AtomicBool::new(true),
            next_id: AtomicU64::new(1),
            id_prefix: format!("{:x}", (nanos as u64) ^ u64::from(std::process::id())),
            shadow_permits: Arc::new(tokio::sync::Semaphore::new(SHADOW_IN_FLIGHT)),
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

    /// The memory a new request will hold, counted against the server's,
    /// its connection's, its client address's and its tenant's budgets.
    pub(crate) fn request_memory<'a>(
        &'a self,
        conn: Option<&'a listener::ConnInfo>,
        tenant: Option<&str>,
    ) -> memory::RequestMemory<'a> {
        memory::RequestMemory::new(
            &self.memory,
            conn.map(|c| &c.budget),
            conn.and_then(|c| c.peer_budget.as_deref()),
            tenant.and_then(|t| self.tenants.budget(t)),
            self.limits.budget_wait,
        )
    }

    /// Records inferences of models that ask for it in `log`.
    pub fn with_prediction_log(mut self, log: Arc<PredictionLog>) -> Self {
        self.predlog = Some(log);
        self
    }

    /// A slot for one shadow call and room in the server's memory budget
    /// for its copy of the request (`bytes`: it outlives the request), or
    /// `None` (counted as a drop) when too many are running or the budget
    /// is full; taken before the request is copied.
    pub(crate) fn shadow_slot(&self, shadow: &LoadedModel, bytes: u64) -> Option<ShadowSlot> {
        let slot = self
            .shadow_permits
            .clone()
            .try_acquire_owned()
            .ok()
            .zip(self.memory.try_take_owned(bytes));
        if slot.is_none() {
            shadow.stats.shadow_dropped.fetch_add(1, Ordering::Relaxed);
        }
        slot
    }

    /// Runs a copy of a request on the shadow version in the background,
    /// after the primary answered, and compares the answers: label
    /// agreement and numeric differences go to the shadow version's
    /// counters, the metrics and (when the model logs predictions) a
    /// prediction-log record. Never delays the primary's response.
    pub(crate) fn mirror(
        &self,
        shadow: Arc<LoadedModel>,
        permit: ShadowSlot,
        mut request: InferenceRequest,
        id: String,
        primary: &InferenceResponse,
        primary_version: &str,
    ) {
        let primary = primary.clone();
        let primary_version = primary_version.to_string();
        let metrics = self.metrics.clone();
        let predlog = self.predlog.clone();
        tokio::spawn(async move {
            let arrived = std::time::SystemTime::now();
            let started = std::time::Instant::now();
            let logged = predlog.filter(|_| shadow.settings.log.is_some());
            let inputs = logged.as_ref().and_then(|_| {
                shadow
                    .settings
                    .log
                    .as_ref()
                    .filter(|l| l.inputs)
                    .map(|_| request.inputs.clone())
            });
            let outcome = match check_request(&shadow.metadata, &request) {
                Ok(()) => shadow
                    .infer(&mut request, id.clone())
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let latency = started.elapsed();
            shadow.stats.record(latency, outcome.is_err());
            let s = &shadow.stats;
            s.shadow_compared.fetch_add(1, Ordering::Relaxed);
            let record = match &outcome {
                Ok(answer) => {
                    let cmp = compare(&primary, answer);
                    let agree = cmp.agree();
                    if agree {
                        s.shadow_agreed.fetch_add(1, Ordering::Relaxed);
                    }
                    let labels = cmp.labels();
                    if let Some((same, total)) = labels {
                        s.shadow_labels_same
                            .fetch_add(same as u64, Ordering::Relaxed);
                        s.shadow_labels_total
                            .fetch_add(total as u64, Ordering::Relaxed);
                    }
                    let max_abs = cmp.max_abs();
                    if let Some(d) = max_abs {
                        s.shadow_max_abs.fetch_max(d.to_bits(), Ordering::Relaxed);
                        if let Some(m) = &metrics {
                            m.shadow_diff(&shadow, d);
                        }
                    }
                    ShadowRecord {
                        primary_version,
                        agree,
                        max_abs_diff: max_abs,
                        label_agreement: labels
                            .map(|(same, total)| same as f64 / total.max(1) as f64),
                    }
                }
                Err(_) => {
                    s.shadow_errors.fetch_add(1, Ordering::Relaxed);
                    ShadowRecord {
                        primary_version,
                        agree: false,
                        max_abs_diff: None,
                        label_agreement: None,
                    }
                }
            };
            if let Some(log) = logged {
                log.submit(Record {
                    id,
                    time: arrived,
                    model: shadow.name.clone(),
                    version: shadow.version.clone(),
                    latency,
                    status: if outcome.is_ok() { 200 } else { 500 },
                    error: outcome.as_ref().err().cloned(),
                    inputs,
                    outputs: outcome.map(|r| r.outputs).unwrap_or_default(),
                    tenant: None,
                    shadow: Some(record),
                    cut: None,
                });
            }
            drop(permit);
        });
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
