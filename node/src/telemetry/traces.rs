//! Traces: a server span per inference request with a child span for each
//! stage (decode, request policies, instantiate, predict, response
//! policies, encode), continuing a W3C `traceparent` sent by the client,
//! sampled by a configured ratio (a sampled parent is always followed), and
//! exported over OTLP/HTTP.
//!
//! The request path only notes `Instant`s in a fixed array; the spans are
//! built after the response is ready, and only for sampled requests.

use std::time::{Duration, Instant, SystemTime};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};

use super::{TelemetryConfig, TelemetryError};

/// A stage of an inference request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Reading and decoding the body.
    Decode = 0,
    /// The request policy chain.
    PolicyRequest = 1,
    /// Starting a fresh sandbox instance.
    Instantiate = 2,
    /// The model's predict call.
    Predict = 3,
    /// The response policy chain.
    PolicyResponse = 4,
    /// Encoding the response.
    Encode = 5,
}

const STAGES: [(Stage, &str); 6] = [
    (Stage::Decode, "decode"),
    (Stage::PolicyRequest, "policies.request"),
    (Stage::Instantiate, "instantiate"),
    (Stage::Predict, "predict"),
    (Stage::PolicyResponse, "policies.response"),
    (Stage::Encode, "encode"),
];

/// What one request noted for its trace.
#[derive(Debug)]
pub struct RequestTrace {
    parent: Context,
    wall: SystemTime,
    start: Instant,
    stages: [Option<(Instant, Instant)>; 6],
}

impl RequestTrace {
    /// Notes a stage that ran from `from` to `to`.
    pub fn stage(&mut self, stage: Stage, from: Instant, to: Instant) {
        self.stages[stage as usize] = Some((from, to));
    }

    fn at(&self, t: Instant) -> SystemTime {
        self.wall + t.saturating_duration_since(self.start)
    }
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The tracer and its exporter.
pub struct Tracing {
    provider: SdkTracerProvider,
    tracer: Tracer,
    propagator: TraceContextPropagator,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing").finish_non_exhaustive()
    }
}

impl Tracing {
    /// Tracing to the configured OTLP endpoint; `None` without one.
    pub fn new(cfg: &TelemetryConfig) -> Result<Option<Tracing>, TelemetryError> {
        let Some(endpoint) = &cfg.otlp_endpoint else {
            return Ok(None);
        };
        if !(0.0..=1.0).contains(&cfg.trace_sample_ratio) {
            return Err(TelemetryError::Setting(format!(
                "trace_sample_ratio {} must be within 0-1",
                cfg.trace_sample_ratio
            )));
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(super::otlp_client::otlp_http_client(cfg)?)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .with_timeout(Duration::from_secs(10))
            .with_headers(Default::default())
            .build()
            .map_err(|e| TelemetryError::Exporter {
                signal: "span",
                source: e.into(),
            })?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                cfg.trace_sample_ratio,
            ))))
            .with_resource(super::metrics::resource(cfg))
            .build();
        let tracer = provider.tracer("edgeserve");
        Ok(Some(Tracing {
            provider,
            tracer,
            propagator: TraceContextPropagator::new(),
        }))
    }

    /// Starts noting a request, continuing the `traceparent` in `headers`.
    pub fn begin(&self, headers: &http::HeaderMap) -> RequestTrace {
        RequestTrace {
            parent: self.propagator.extract(&Headers(headers)),
            wall: SystemTime::now(),
            start: Instant::now(),
            stages: [None; 6],
        }
    }

    /// Builds and exports the spans of a finished request (when sampled).
    pub fn finish(&self, trace: RequestTrace, route: &str, attributes: Vec<KeyValue>) {
        let end = trace.at(Instant::now());
        let root = self
            .tracer
            .span_builder(format!("POST {route}"))
            .with_kind(SpanKind::Server)
            .with_start_time(trace.wall)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &trace.parent);
        if !root.span_context().is_sampled() {
            return;
        }
        let cx = trace.parent.with_span(root);
        for (stage, name) in STAGES {
            if let Some((from, to)) = trace.stages[stage as usize] {
                let mut span = self
                    .tracer
                    .span_builder(name)
                    .with_kind(SpanKind::Internal)
                    .with_start_time(trace.at(from))
                    .start_with_context(&self.tracer, &cx);
                span.end_with_timestamp(trace.at(to));
            }
        }
        cx.span().end_with_timestamp(end);
    }

    /// Exports what is pending and stops.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::debug!(error = %e, "tracer provider shutdown");
        }
    }
}
