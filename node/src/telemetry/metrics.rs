//! Metrics with the OpenTelemetry SDK: exported over OTLP (HTTP/protobuf)
//! when an endpoint is configured, and rendered in Prometheus text format
//! at `/metrics` on the admin listener.
//!
//! The request path only touches synchronous instruments, bound to their
//! attributes the first time a version (or route) records: a record is then
//! an atomic update, with no attribute hashing or map lookup per request.
//! Everything the host already counts with atomics (loaded versions,
//! policy decisions, shadow comparisons, drift, prediction-log writes) is
//! read by observable instruments when metrics are collected, so it costs
//! the request path nothing.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{
    BoundCounter, BoundHistogram, Counter, Histogram, Meter, MeterProvider as _, UpDownCounter,
};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, PeriodicReader, Pipeline, SdkMeterProvider, Temporality,
};

use super::TelemetryConfig;
use crate::registry::Registry;
use crate::repository::Kind;
use crate::served::ServedVersion;
use crate::telemetry::PredictionLog;

/// Histogram bucket edges for durations in seconds: fine below a
/// millisecond, where sandboxed calls live, up to the 10 s of slow models.
const SECONDS_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bucket edges for shadow differences (absolute, in output units).
const DIFF_BUCKETS: &[f64] = &[0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0];

/// Metrics or traces could not be set up or collected.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A `[telemetry]` setting cannot be used.
    #[error("telemetry: {0}")]
    Setting(String),
    /// The OTLP exporters' HTTP client cannot be built.
    #[error("telemetry: OTLP client: {what}")]
    Client {
        /// What failed (a CA file, the TLS versions, the build).
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An OTLP exporter cannot be built.
    #[error("telemetry: OTLP {signal} exporter")]
    Exporter {
        /// `metrics` or `span`.
        signal: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The metrics could not be collected.
    #[error("telemetry: collecting metrics")]
    Collect(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The Prometheus reader, shared between the provider and `/metrics`.
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// The inference routes, as `http.route` templates.
pub const INFER_ROUTES: [&str; 2] = [
    "/v2/models/{model}/infer",
    "/v2/models/{model}/versions/{version}/infer",
];

/// The outcomes of an inference, as metric attribute values.
const OUTCOMES: [&str; 4] = ["ok", "timeout", "client_error", "server_error"];

/// The outcome of an inference, as an index into [`OUTCOMES`].
fn outcome_index(status: u16) -> usize {
    match status {
        200..=299 => 0,
        504 => 1,
        400..=499 => 2,
        _ => 3,
    }
}

/// The outcome of an inference, as a metric attribute.
pub fn outcome(status: u16) -> &'static str {
    OUTCOMES[outcome_index(status)]
}

/// One version's instruments, bound to its attributes on first use (so a
/// version that never serves creates no series).
#[derive(Default)]
pub struct VersionInstruments {
    by_outcome: [OnceLock<(BoundCounter<u64>, BoundHistogram<f64>)>; 4],
    predict: OnceLock<BoundHistogram<f64>>,
    instantiate: OnceLock<BoundHistogram<f64>>,
}

impl std::fmt::Debug for VersionInstruments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionInstruments").finish_non_exhaustive()
    }
}

/// Every instrument, and the provider that exports them.
pub struct Metrics {
    provider: SdkMeterProvider,
    reader: SharedReader,
    http_duration: Histogram<f64>,
    rpc_duration: Histogram<f64>,
    active: UpDownCounter<i64>,
    inference_count: Counter<u64>,
    inference_duration: Histogram<f64>,
    instantiate_duration: Histogram<f64>,
    predict_duration: Histogram<f64>,
    shadow_max_diff: Histogram<f64>,
    /// `http.server.request.duration` for successful inference requests
    /// (the two infer routes), bound on first use.
    infer_ok: [OnceLock<BoundHistogram<f64>>; 2],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The method as a static string (no allocation per request); methods
/// outside the standard set are `_OTHER`, as the semantic conventions say.
fn method_name(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::HEAD => "HEAD",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PATCH => "PATCH",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// Attributes of a loaded version, prepared once.
pub fn version_attributes(name: &str, version: &str) -> [KeyValue; 2] {
    [
        KeyValue::new("model", Arc::<str>::from(name)),
        KeyValue::new("version", Arc::<str>::from(version)),
    ]
}

impl Metrics {
    /// Builds the provider (with the OTLP exporter when configured) and the
    /// instruments, and registers the observable ones over `registry`.
    pub fn new(
        cfg: &TelemetryConfig,
        registry: Arc<Registry>,
        predlog: Option<Arc<PredictionLog>>,
    ) -> Result<Metrics, TelemetryError> {
        let reader = SharedReader(Arc::new(ManualReader::builder().build()));
        let mut builder = SdkMeterProvider::builder()
            .with_resource(resource(cfg))
            .with_reader(reader.clone());
        if let Some(endpoint) = &cfg.otlp_endpoint {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_http_client(super::otlp_client::otlp_http_client(cfg)?)
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(format!("{}/v1/metrics", endpoint.trim_end_matches('/')))
                .with_timeout(Duration::from_secs(10))
                .with_headers(Default::default())
                .build()
                .map_err(|e| TelemetryError::Exporter {
                    signal: "metrics",
                    source: e.into(),
                })?;
            builder = builder.with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(cfg.export_interval.0.max(Duration::from_millis(100)))
                    .build(),
            );
        }
        let provider = builder.build();
        let meter = provider.meter("edgeserve");
        let seconds = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build()
        };
        let metrics = Metrics {
            http_duration: seconds(
                "http.server.request.duration",
                "Duration of HTTP server requests",
            ),
            rpc_duration: seconds(
                "rpc.server.duration",
                "Duration of gRPC calls (a stream: until it ends)",
            ),
            active: meter
                .i64_up_down_counter("http.server.active_requests")
                .with_unit("{request}")
                .with_description("Requests being served")
                .build(),
            inference_count: meter
                .u64_counter("edgeserve.inference.count")
                .with_unit("{inference}")
                .with_description("Model calls, by model, version and outcome")
                .build(),
            inference_duration: seconds(
                "edgeserve.inference.duration",
                "Time in the model call (instance and predict), by model, version and outcome",
            ),
            instantiate_duration: seconds(
                "edgeserve.instance.start.duration",
                "Time to instantiate a fresh sandbox for a call",
            ),
            predict_duration: seconds(
                "edgeserve.predict.duration",
                "Time in the component's predict function",
            ),
            shadow_max_diff: meter
                .f64_histogram("edgeserve.shadow.max_abs_diff")
                .with_description(
                    "Largest absolute difference between shadow and primary numeric outputs, per mirrored request",
                )
                .with_boundaries(DIFF_BUCKETS.to_vec())
                .build(),
            provider,
            reader,
            infer_ok: Default::default(),
        };
        register_observables(&meter, registry, predlog);
        Ok(metrics)
    }

    /// Records one HTTP request.
    pub fn http_request(
        &self,
        method: &http::Method,
        route: &'static str,
        status: u16,
        took: Duration,
    ) {
        let attrs = |route: &'static str| {
            [
                KeyValue::new("http.request.method", method_name(method)),
                KeyValue::new("http.route", route),
                KeyValue::new("http.response.status_code", i64::from(status)),
            ]
        };
        // The request that matters most, a successful inference, records
        // through a bound instrument; every other kind looks its series up.
        let infer = INFER_ROUTES.iter().position(|r| *r == route);
        match infer {
            Some(i) if status == 200 && *method == http::Method::POST => self.infer_ok[i]
                .get_or_init(|| self.http_duration.bind(&attrs(route)))
                .record(took.as_secs_f64()),
            _ => self.http_duration.record(took.as_secs_f64(), &attrs(route)),
        }
    }

    /// Records one gRPC call of `inference.GRPCInferenceService`:
    /// `method` is the RPC's name, `code` its gRPC status code.
    pub fn rpc_request(&self, method: &'static str, code: i32, took: Duration) {
        self.rpc_duration.record(
            took.as_secs_f64(),
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", "inference.GRPCInferenceService"),
                KeyValue::new("rpc.method", method),
                KeyValue::new("rpc.grpc.status_code", i64::from(code)),
            ],
        );
    }

    /// A request starts (`+1`) or ends (`-1`).
    pub fn active(&self, delta: i64) {
        self.active.add(delta, &[]);
    }

    /// Records one model call.
    pub fn inference(
        &self,
        model: &ServedVersion,
        status: u16,
        took: Duration,
        instantiate: Option<Duration>,
        predict: Duration,
    ) {
        let bound = &model.instruments;
        let i = outcome_index(status);
        let (count, duration) = bound.by_outcome[i].get_or_init(|| {
            let [m, v] = &model.telemetry;
            let attrs = [m.clone(), v.clone(), KeyValue::new("outcome", OUTCOMES[i])];
            (
                self.inference_count.bind(&attrs),
                self.inference_duration.bind(&attrs),
            )
        });
        count.add(1);
        duration.record(took.as_secs_f64());
        if let Some(start) = instantiate {
            bound
                .instantiate
                .get_or_init(|| self.instantiate_duration.bind(&model.telemetry))
                .record(start.as_secs_f64());
        }
        bound
            .predict
            .get_or_init(|| self.predict_duration.bind(&model.telemetry))
            .record(predict.as_secs_f64());
    }

    /// Records one shadow comparison's largest numeric difference.
    pub fn shadow_diff(&self, shadow: &ServedVersion, max_abs: f64) {
        self.shadow_max_diff.record(max_abs, &shadow.telemetry);
    }

    /// Collects every metric now (for `/metrics`).
    pub fn collect(&self) -> Result<ResourceMetrics, TelemetryError> {
        let mut rm = ResourceMetrics::default();
        self.reader
            .collect(&mut rm)
            .map_err(|e| TelemetryError::Collect(e.into()))?;
        Ok(rm)
    }

    /// Exports what is pending and stops the exporter.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::debug!(error = %e, "metrics provider shutdown");
        }
    }
}

/// The resource every signal carries: service name and version.
pub(crate) fn resource(cfg: &TelemetryConfig) -> Resource {
    Resource::builder()
        .with_service_name(cfg.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

impl Metrics {
    /// The fleet followers' counters, read at collection time: refusals,
    /// failed checks and bytes pulled per followed model, and whether its
    /// applied version serves in its role (`edgeserve.fleet.in_sync`).
    pub fn observe_fleet(
        &self,
        board: Arc<crate::fleet::follow::FleetBoard>,
        registry: Arc<Registry>,
    ) {
        let meter = self.provider.meter("edgeserve");
        let read = move || board.status(&registry.snapshot()).follows;
        let counter = |name: &'static str,
                       unit: &'static str,
                       description: &'static str,
                       pick: fn(&crate::contract::FollowStatus) -> u64| {
            let read = read.clone();
            meter
                .u64_observable_counter(name)
                .with_unit(unit)
                .with_description(description)
                .with_callback(move |obs| {
                    for f in read() {
                        obs.observe(pick(&f), &[KeyValue::new("model", f.model.clone())]);
                    }
                })
                .build();
        };
        counter(
            "edgeserve.fleet.refusals",
            "{version}",
            "Versions refused at a followed tag (signature, artifact or deploy), by model",
            |f| f.refusals,
        );
        counter(
            "edgeserve.fleet.check_failures",
            "{check}",
            "Checks of a followed tag that could not reach the registry, by model",
            |f| f.failures,
        );
        counter(
            "edgeserve.fleet.pulled",
            "By",
            "Bytes pulled from registries for a followed model",
            |f| f.pulled_bytes,
        );
        let read = read.clone();
        meter
            .i64_observable_gauge("edgeserve.fleet.in_sync")
            .with_description(
                "1 when the version applied from a followed tag serves in its role, else 0 (refused, rolled back, waiting)",
            )
            .with_callback(move |obs| {
                for f in read() {
                    obs.observe(
                        i64::from(f.serving),
                        &[
                            KeyValue::new("model", f.model.clone()),
                            KeyValue::new("state", f.state.clone()),
                        ],
                    );
                }
            })
            .build();
    }
}

/// Instruments read from the host's own counters at collection time.
fn register_observables(
    meter: &Meter,
    registry: Arc<Registry>,
    predlog: Option<Arc<PredictionLog>>,
) {
    observe_versions_loaded(meter, registry.clone());
    observe_policy_decisions(meter, registry.clone());
    observe_shadow_comparisons(meter, registry.clone());
    observe_drift_psi(meter, registry);
    if let Some(log) = predlog {
        observe_prediction_log(meter, log);
    }
}

/// Loaded versions per model and kind.
fn observe_versions_loaded(meter: &Meter, r: Arc<Registry>) {
    meter
        .i64_observable_gauge("edgeserve.versions.loaded")
        .with_unit("{version}")
        .with_description("Loaded versions, by model and kind")
        .with_callback(move |obs| {
            for (name, entry) in &r.snapshot().models {
                let kind = entry
                    .versions
                    .values()
                    .next()
                    .map_or("model", |m| m.kind.as_str());
                obs.observe(
                    entry.versions.len() as i64,
                    &[
                        KeyValue::new("model", name.clone()),
                        KeyValue::new("kind", kind),
                    ],
                );
            }
        })
        .build();
}

/// Each policy version's decisions.
fn observe_policy_decisions(meter: &Meter, r: Arc<Registry>) {
    meter
        .u64_observable_counter("edgeserve.policy.decisions")
        .with_unit("{decision}")
        .with_description("Policy decisions, by policy, version and decision")
        .with_callback(move |obs| {
            for_each_version(&r, |m| {
                if m.kind != Kind::Policy {
                    return;
                }
                let s = &m.stats;
                for (decision, n) in [
                    ("allow", &s.policy_allowed),
                    ("deny", &s.policy_denied),
                    ("rewrite", &s.policy_rewrote),
                    ("fail", &s.policy_failed),
                ] {
                    obs.observe(
                        n.load(Ordering::Relaxed),
                        &[
                            KeyValue::new("policy", m.name.clone()),
                            KeyValue::new("version", m.version.clone()),
                            KeyValue::new("decision", decision),
                        ],
                    );
                }
            });
        })
        .build();
}

/// How each shadow version's answers compared.
fn observe_shadow_comparisons(meter: &Meter, r: Arc<Registry>) {
    meter
        .u64_observable_counter("edgeserve.shadow.comparisons")
        .with_unit("{comparison}")
        .with_description(
            "Mirrored requests on a shadow version, by result: agree, disagree, error, dropped",
        )
        .with_callback(move |obs| {
            for_each_version(&r, |m| {
                let s = &m.stats;
                let compared = s.shadow_compared.load(Ordering::Relaxed);
                if compared == 0 && s.shadow_dropped.load(Ordering::Relaxed) == 0 {
                    return;
                }
                let agreed = s.shadow_agreed.load(Ordering::Relaxed);
                let errors = s.shadow_errors.load(Ordering::Relaxed);
                for (result, n) in [
                    ("agree", agreed),
                    ("disagree", compared.saturating_sub(agreed + errors)),
                    ("error", errors),
                    ("dropped", s.shadow_dropped.load(Ordering::Relaxed)),
                ] {
                    let [mk, vk] = m.telemetry.clone();
                    obs.observe(n, &[mk, vk, KeyValue::new("result", result)]);
                }
            });
        })
        .build();
}

/// Each watched input feature's drift score.
fn observe_drift_psi(meter: &Meter, r: Arc<Registry>) {
    meter
        .f64_observable_gauge("edgeserve.drift.psi")
        .with_description(
            "Population stability index of each input feature over the recent window, against the training baseline",
        )
        .with_callback(move |obs| {
            for_each_version(&r, |m| {
                let Some(drift) = &m.drift else {
                    return;
                };
                for f in drift.scores() {
                    let Some(psi) = f.psi else {
                        continue;
                    };
                    let [mk, vk] = m.telemetry.clone();
                    obs.observe(
                        psi,
                        &[
                            mk,
                            vk,
                            KeyValue::new("input", drift.input().to_string()),
                            KeyValue::new("feature", f.name),
                        ],
                    );
                }
            });
        })
        .build();
}

/// The prediction log's records by result.
fn observe_prediction_log(meter: &Meter, log: Arc<PredictionLog>) {
    meter
        .u64_observable_counter("edgeserve.prediction_log.records")
        .with_unit("{record}")
        .with_description(
            "Prediction-log records, by result: written, dropped (queue full), or \
             truncated (written with tensors left out for their size)",
        )
        .with_callback(move |obs| {
            obs.observe(
                log.written.load(Ordering::Relaxed),
                &[KeyValue::new("result", "written")],
            );
            obs.observe(
                log.dropped.load(Ordering::Relaxed),
                &[KeyValue::new("result", "dropped")],
            );
            obs.observe(
                log.truncated.load(Ordering::Relaxed),
                &[KeyValue::new("result", "truncated")],
            );
        })
        .build();
}

fn for_each_version(registry: &Registry, mut f: impl FnMut(&ServedVersion)) {
    for entry in registry.snapshot().models.values() {
        for m in entry.versions.values() {
            f(m);
        }
    }
}
