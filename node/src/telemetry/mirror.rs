//! Shadow traffic: a copy of a request runs on the shadow version in the
//! background after the primary answered, and the two answers are
//! compared. Label agreement and numeric differences go to the shadow
//! version's counters, the metrics and (when the model logs predictions) a
//! prediction-log record. Never delays the primary's response.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Metrics, PredictionLog, Record, ShadowRecord, compare};
use crate::budget::{Budget, OwnedTaken};
use crate::protocol::check_request;
use crate::served::ServedVersion;
use crate::tensor::{InferenceRequest, InferenceResponse};

/// Shadow calls that may run at once; more are dropped (and counted).
const SHADOW_IN_FLIGHT: usize = 64;

/// What a running shadow call holds: its place among the shadow calls, and
/// its copy's memory.
pub struct ShadowSlot {
    _permit: OwnedSemaphorePermit,
    _memory: OwnedTaken,
}

/// The shadow calls running in the background.
#[derive(Debug)]
pub struct Shadows {
    permits: Arc<Semaphore>,
}

impl Default for Shadows {
    fn default() -> Self {
        Self::new()
    }
}

/// A shadow call about to start: the version, its slot, its copy of the
/// request, and the request's id.
pub struct ShadowCall {
    /// The shadow version.
    pub shadow: Arc<ServedVersion>,
    /// Its place and memory.
    pub slot: ShadowSlot,
    /// Its own copy of the request.
    pub request: InferenceRequest,
    /// The primary request's id.
    pub id: String,
}

impl Shadows {
    /// Room for [`SHADOW_IN_FLIGHT`] shadow calls at once.
    pub fn new() -> Shadows {
        Shadows {
            permits: Arc::new(Semaphore::new(SHADOW_IN_FLIGHT)),
        }
    }

    /// A slot for one shadow call and room in `memory` for its copy of the
    /// request (`bytes`: it outlives the request), or `None` (counted as a
    /// drop) when too many are running or the budget is full; taken
    /// before the request is copied.
    pub fn slot(
        &self,
        memory: &Arc<Budget>,
        shadow: &ServedVersion,
        bytes: u64,
    ) -> Option<ShadowSlot> {
        let slot = self
            .permits
            .clone()
            .try_acquire_owned()
            .ok()
            .zip(memory.try_take_owned(bytes))
            .map(|(permit, memory)| ShadowSlot {
                _permit: permit,
                _memory: memory,
            });
        if slot.is_none() {
            shadow.stats.shadow_dropped.fetch_add(1, Ordering::Relaxed);
        }
        slot
    }
}

/// Runs `call` in the background and compares its answer with the
/// primary's.
pub fn mirror(
    call: ShadowCall,
    primary: &InferenceResponse,
    primary_version: &str,
    metrics: Option<Arc<Metrics>>,
    predlog: Option<Arc<PredictionLog>>,
) {
    let primary = primary.clone();
    let primary_version = primary_version.to_string();
    tokio::spawn(async move {
        let ShadowCall {
            shadow,
            slot,
            mut request,
            id,
        } = call;
        let arrived = std::time::SystemTime::now();
        let started = std::time::Instant::now();
        let logged = predlog.filter(|_| shadow.settings.log.is_some());
        let outcome = match check_request(&shadow.name, &shadow.metadata, &request) {
            Ok(()) => shadow.infer(&request, &id).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let inputs = logged.as_ref().and_then(|_| {
            let keep = shadow.settings.log.as_ref().is_some_and(|l| l.inputs);
            keep.then(|| std::mem::take(&mut request.inputs))
        });
        let latency = started.elapsed();
        shadow.stats.record(latency, outcome.is_err());
        let record = tally(
            &shadow,
            &primary,
            &outcome,
            primary_version,
            metrics.as_deref(),
        );
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
        drop(slot);
    });
}

/// Counts how the shadow's answer compares with the primary's.
fn tally(
    shadow: &ServedVersion,
    primary: &InferenceResponse,
    outcome: &Result<InferenceResponse, String>,
    primary_version: String,
    metrics: Option<&Metrics>,
) -> ShadowRecord {
    let s = &shadow.stats;
    s.shadow_compared.fetch_add(1, Ordering::Relaxed);
    let Ok(answer) = outcome else {
        s.shadow_errors.fetch_add(1, Ordering::Relaxed);
        return ShadowRecord {
            primary_version,
            agree: false,
            max_abs_diff: None,
            label_agreement: None,
        };
    };
    let cmp = compare(primary, answer);
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
        if let Some(m) = metrics {
            m.shadow_diff(shadow, d);
        }
    }
    ShadowRecord {
        primary_version,
        agree,
        max_abs_diff: max_abs,
        label_agreement: labels.map(|(same, total)| same as f64 / total.max(1) as f64),
    }
}
