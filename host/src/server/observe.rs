//! What the inference route records about a call once the model has
//! answered: trace stages, the version's stats (for the rollout guard),
//! metrics and a sampled prediction-log record; and the small timing
//! helpers the route uses for its trace.

use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;

use super::AppState;
use super::error::ApiError;
use crate::runtime::{CallTiming, InvokeError, LoadedModel};
use crate::telemetry::{Record, RequestTrace, Stage as TraceStage};

/// A sampled prediction-log record in the making: the log, the request id,
/// the inputs (unless the model keeps them out) and when it arrived.
pub(super) type Logged = (
    Arc<crate::telemetry::PredictionLog>,
    String,
    Option<Vec<crate::tensor::Tensor>>,
    std::time::SystemTime,
);

/// One model call, as the observers see it.
pub(super) struct Observed<'a> {
    pub(super) timing: CallTiming,
    pub(super) started: Instant,
    pub(super) result: &'a Result<crate::tensor::InferenceResponse, InvokeError>,
    pub(super) logged: Option<Logged>,
    pub(super) tenant: Option<&'a str>,
}

/// Records a model call: its trace stages, the version's stats (for the
/// rollout guard), metrics, and a sampled prediction-log record.
pub(super) fn observe_call(
    state: &AppState,
    model: &LoadedModel,
    call: Observed<'_>,
    trace: &mut Option<RequestTrace>,
) {
    let Observed {
        timing,
        started,
        result,
        logged,
        tenant,
    } = call;
    // The call's own clock reads give its latency and end.
    let elapsed = timing.total;
    let ended = timing.ended.unwrap_or(started);
    if trace.is_some() {
        let entered = ended - timing.total;
        let begun = ended - timing.call;
        if timing.instantiate.is_some() {
            note(trace, TraceStage::Instantiate, Some(entered), Some(begun));
        }
        note(trace, TraceStage::Predict, Some(begun), Some(ended));
    }
    let status = match result {
        Ok(_) => StatusCode::OK,
        Err(e) => ApiError::from_invoke_status(e),
    };
    // Capacity refusals say nothing about the version's health: a client
    // flooding a canary must not be able to get it rolled back.
    let busy = matches!(result, Err(InvokeError::Busy { .. }));
    model
        .stats
        .record_at(ended, elapsed, status.is_server_error() && !busy);
    if let Some(m) = &state.metrics {
        m.inference(
            model,
            status.as_u16(),
            elapsed,
            timing.instantiate,
            timing.call,
        );
    }
    if let Some((log, id, inputs, arrived)) = logged {
        log.submit(Record {
            id,
            time: arrived,
            model: model.name.clone(),
            version: model.version.clone(),
            latency: elapsed,
            status: status.as_u16(),
            error: result.as_ref().err().map(ToString::to_string),
            inputs,
            outputs: result
                .as_ref()
                .map(|r| r.outputs.clone())
                .unwrap_or_default(),
            tenant: tenant.map(String::from),
            shadow: None,
            cut: None,
        });
    }
}

/// What a copy of these tensors in the components' form (one vector per
/// tensor and per BYTES element) takes.
pub(super) fn copy_memory(tensors: &[crate::tensor::Tensor]) -> u64 {
    tensors
        .iter()
        .map(|t| match &t.data {
            crate::tensor::TensorData::Raw(b) => b.len() as u64,
            crate::tensor::TensorData::Strings(s) => (s.total_bytes() + 40 * s.len()) as u64,
        })
        .sum()
}

/// The time now when the request is traced; an untraced request reads no
/// clock for its stages.
pub(super) fn stamp(trace: &Option<RequestTrace>) -> Option<Instant> {
    trace.as_ref().map(|_| Instant::now())
}

/// Notes a stage's time when the request is traced.
pub(super) fn note(
    trace: &mut Option<RequestTrace>,
    stage: TraceStage,
    from: Option<Instant>,
    to: Option<Instant>,
) {
    if let (Some(t), Some(from), Some(to)) = (trace, from, to) {
        t.stage(stage, from, to);
    }
}
