//! A version as the node serves it: the runtime's [`LoadedModel`] with what
//! the node attaches to it — its metric attributes and instruments, and its
//! drift monitor. The runtime knows nothing of telemetry; the registry holds
//! `Arc<ServedVersion>`, and everything a `LoadedModel` offers is reached
//! through `Deref`.

use std::ops::Deref;

use opentelemetry::KeyValue;

use crate::runtime::LoadedModel;
use crate::telemetry::{DriftMonitor, VersionInstruments, version_attributes};

/// A loaded version with the node's telemetry attached.
pub struct ServedVersion {
    model: LoadedModel,
    /// `model` and `version` metric attributes, prepared once.
    pub telemetry: [KeyValue; 2],
    /// This version's metric instruments, bound on first use.
    pub instruments: VersionInstruments,
    /// Input drift against the manifest's baseline, when it has one.
    pub drift: Option<DriftMonitor>,
}

impl ServedVersion {
    /// Attaches telemetry to a loaded version: metric attributes, and a
    /// drift monitor when its manifest carries a baseline.
    pub fn new(model: LoadedModel) -> ServedVersion {
        let drift = model
            .settings
            .drift
            .clone()
            .map(|(baseline, window)| DriftMonitor::new(baseline, window));
        ServedVersion {
            telemetry: version_attributes(&model.name, &model.version),
            instruments: VersionInstruments::default(),
            drift,
            model,
        }
    }
}

impl Deref for ServedVersion {
    type Target = LoadedModel;

    fn deref(&self) -> &LoadedModel {
        &self.model
    }
}

impl std::fmt::Debug for ServedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.model.fmt(f)
    }
}
