//! What edgeserve records about the traffic it serves: OpenTelemetry
//! metrics (OTLP export and a Prometheus endpoint), traces, input drift,
//! shadow comparisons, and the prediction log (sampled inference records,
//! written off the request path).

mod drift;
mod metrics;
mod mirror;
mod otlp_client;
mod predlog;
pub mod prometheus;
mod shadow;
mod traces;

use serde::Deserialize;

use crate::units::HumanDuration;

pub use drift::{DriftBaseline, DriftMonitor, DriftSettings, FeatureBaseline, FeatureScore, psi};
pub use metrics::{
    INFER_ROUTES, Metrics, TelemetryError, VersionInstruments, outcome, version_attributes,
};
pub use mirror::{ShadowCall, ShadowSlot, Shadows, mirror};
pub use predlog::{
    LogSettings, PredictionLog, PredictionLogConfig, Record, ShadowRecord, read_log, sampled,
};
pub use shadow::{
    Comparison, OutputDiff, compare, compare_tensor, element_f64, element_text, is_label,
};
pub use traces::{RequestTrace, Stage, Tracing};

/// The `[telemetry]` table of the server configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Record metrics (served at `/metrics` on the admin listener, and
    /// exported when `otlp_endpoint` is set).
    pub metrics: bool,
    /// Base URL of an OTLP/HTTP (protobuf) receiver, e.g.
    /// `http://127.0.0.1:4318`; `/v1/metrics` and `/v1/traces` are appended.
    /// Unset: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// How often metrics are exported.
    pub export_interval: HumanDuration,
    /// Fraction of requests traced (0-1) when no sampled `traceparent`
    /// arrives with them; a sampled parent is always followed.
    pub trace_sample_ratio: f64,
    /// `service.name` of every signal.
    pub service_name: String,
    /// PEM bundle of the CAs that sign an `https://` collector's
    /// certificate (default: the public web roots).
    pub otlp_ca: Option<std::path::PathBuf>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            metrics: true,
            otlp_endpoint: None,
            export_interval: HumanDuration(std::time::Duration::from_secs(10)),
            trace_sample_ratio: 0.01,
            service_name: "edgeserve".into(),
            otlp_ca: None,
        }
    }
}
