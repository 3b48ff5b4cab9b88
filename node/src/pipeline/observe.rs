//! Observe: what the node records about a request. Before the call, the
//! inputs feed the version's drift monitor, and the shadow and a sampled
//! prediction-log record take their copies (the call moves the inputs
//! into the sandbox). After it: trace stages, the version's stats (for the
//! rollout guard), metrics, the log record, and the shadow call (compared
//! in the background by telemetry).

use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;

use super::route::Routed;
use super::{ApiError, Flight, Pipeline};
use crate::runtime::{CallTiming, InvokeError};
use crate::served::ServedVersion;
use crate::telemetry::{PredictionLog, Record, RequestTrace, ShadowCall, Stage, mirror};
use crate::tensor::{InferenceRequest, InferenceResponse, Tensor, TensorData};

/// A sampled prediction-log record in the making: the log, the request id,
/// the inputs (unless the model keeps them out) and when it arrived.
pub(super) struct Logged {
    log: Arc<PredictionLog>,
    id: String,
    inputs: Option<Vec<Tensor>>,
    arrived: std::time::SystemTime,
}

/// The copies taken before the call.
pub(super) struct Copies {
    /// The shadow's call, when the model has a shadow with room for it.
    pub(super) shadow: Option<ShadowCall>,
    /// The log record, when this request is sampled.
    pub(super) log: Option<Logged>,
}

impl Pipeline {
    /// Feeds the drift monitor and takes the shadow's and the log's
    /// copies of the request.
    pub(super) fn observe_request(
        &self,
        flight: &Flight<'_>,
        routed: &Routed,
        request: &InferenceRequest,
        id: &str,
    ) -> Copies {
        let model = &routed.model;
        if let Some(drift) = &model.drift {
            drift.observe(request);
        }
        let shadow = routed.shadow.as_ref().and_then(|s| {
            // The shadow's copy outlives this request: it takes its own room.
            let slot = self.shadows.slot(&self.memory, s, flight.memory.held())?;
            Some(ShadowCall {
                shadow: s.clone(),
                slot,
                request: request.clone(),
                id: id.to_string(),
            })
        });
        let log = self.predlog.as_ref().and_then(|log| {
            let settings = model.settings.log.as_ref()?;
            log.should_sample(settings.sample).then(|| Logged {
                log: log.clone(),
                id: id.to_string(),
                inputs: settings.inputs.then(|| request.inputs.clone()),
                arrived: std::time::SystemTime::now(),
            })
        });
        Copies { shadow, log }
    }

    /// Records a model call: its trace stages, the version's stats (for
    /// the rollout guard), metrics, and a sampled prediction-log record.
    pub(super) fn observe(
        &self,
        flight: &mut Flight<'_>,
        routed: &Routed,
        timing: CallTiming,
        result: &Result<InferenceResponse, InvokeError>,
        logged: Option<Logged>,
    ) {
        let model = &routed.model;
        // The call's own clock reads give its latency and end.
        let elapsed = timing.total;
        let ended = timing.ended.unwrap_or(flight.inbound.started);
        if flight.trace.is_some() {
            let entered = ended - timing.total;
            let begun = ended - timing.call;
            if timing.instantiate.is_some() {
                note(
                    &mut flight.trace,
                    Stage::Instantiate,
                    Some(entered),
                    Some(begun),
                );
            }
            note(&mut flight.trace, Stage::Predict, Some(begun), Some(ended));
        }
        let status = match result {
            Ok(_) => StatusCode::OK,
            Err(e) => ApiError::from_invoke_status(e),
        };
        // Capacity refusals say nothing about the version's health: a
        // client flooding a canary must not be able to get it rolled back.
        let busy = matches!(result, Err(InvokeError::Busy { .. }));
        model
            .stats
            .record_at(ended, elapsed, status.is_server_error() && !busy);
        if let Some(m) = &self.metrics {
            m.inference(
                model,
                status.as_u16(),
                elapsed,
                timing.instantiate,
                timing.call,
            );
        }
        if let Some(l) = logged {
            l.log.submit(Record {
                id: l.id,
                time: l.arrived,
                model: model.name.clone(),
                version: model.version.clone(),
                latency: elapsed,
                status: status.as_u16(),
                error: result.as_ref().err().map(ToString::to_string),
                inputs: l.inputs,
                outputs: result
                    .as_ref()
                    .map(|r| r.outputs.clone())
                    .unwrap_or_default(),
                tenant: routed.identity.tenant.as_deref().map(String::from),
                shadow: None,
                cut: None,
            });
        }
    }

    /// Starts the shadow call, now that the primary has answered.
    pub(super) fn mirror(
        &self,
        call: Option<ShadowCall>,
        primary: &ServedVersion,
        response: &InferenceResponse,
    ) {
        if let Some(call) = call {
            mirror(
                call,
                response,
                &primary.version,
                self.metrics.clone(),
                self.predlog.clone(),
            );
        }
    }
}

/// What a copy of these tensors in the components' form (one vector per
/// tensor and per BYTES element) takes.
pub(super) fn copy_memory(tensors: &[Tensor]) -> u64 {
    tensors
        .iter()
        .map(|t| match &t.data {
            TensorData::Raw(b) => b.len() as u64,
            TensorData::Strings(s) => (s.total_bytes() + 40 * s.len()) as u64,
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
    stage: Stage,
    from: Option<Instant>,
    to: Option<Instant>,
) {
    if let (Some(t), Some(from), Some(to)) = (trace, from, to) {
        t.stage(stage, from, to);
    }
}
