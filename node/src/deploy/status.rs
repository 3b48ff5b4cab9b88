//! The status documents of the admin API and `edgeserve status`, built
//! from the live table (types in [`crate::contract`]).

use std::sync::atomic::Ordering;

use super::Deployer;
use crate::contract::{
    CanaryStatus, DriftStatus, Limits, ModelStatus, NodeStatus, PolicyDecisions, Role,
    VersionStatus,
};
use crate::registry::ModelEntry;
use crate::served::ServedVersion;

/// A version's role in its model's traffic.
fn role(entry: &ModelEntry, v: u64) -> Role {
    if entry.primary_version() == Some(v) {
        Role::Primary
    } else if entry.canary.is_some_and(|c| c.version == v) {
        Role::Canary
    } else if entry.shadow == Some(v) {
        Role::Shadow
    } else {
        Role::Standby
    }
}

fn version_status(m: &ServedVersion, role: Role) -> VersionStatus {
    let loaded_at = m
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let s = &m.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let labels = load(&s.shadow_labels_total);
    let settings = &m.settings;
    VersionStatus {
        version: m.version.clone(),
        role,
        sha256: m.digest.clone(),
        component: m.component_id(),
        source: m.source.clone(),
        loaded_at,
        compile: format!("{:?}", m.aot),
        limits: Limits {
            isolation: format!("{:?}", settings.isolation).to_lowercase(),
            memory: settings.memory.to_string(),
            deadline_ms: settings.deadline.as_millis() as u64,
            pool_size: settings.pool_size,
            max_concurrency: settings.max_concurrency,
        },
        requests: load(&s.requests),
        errors: load(&s.errors),
        refused: load(&s.refused),
        idle_instances: m.idle_instances(),
        shadow_compared: load(&s.shadow_compared),
        shadow_agreed: load(&s.shadow_agreed),
        shadow_dropped: load(&s.shadow_dropped),
        shadow_errors: load(&s.shadow_errors),
        shadow_label_agreement: (labels > 0)
            .then(|| load(&s.shadow_labels_same) as f64 / labels as f64),
        shadow_max_abs_diff: (load(&s.shadow_compared) > 0)
            .then(|| f64::from_bits(load(&s.shadow_max_abs))),
        drift: m.drift.as_ref().map(|d| DriftStatus {
            input: d.input().to_string(),
            features: d.scores(),
        }),
        kind: m.kind.as_str().to_string(),
        policy_decisions: (m.kind == crate::repository::Kind::Policy).then(|| PolicyDecisions {
            allowed: load(&s.policy_allowed),
            denied: load(&s.policy_denied),
            rewrote: load(&s.policy_rewrote),
            failed: load(&s.policy_failed),
        }),
    }
}

fn model_status(name: &str, entry: &ModelEntry) -> ModelStatus {
    ModelStatus {
        name: name.to_string(),
        primary: entry.primary_version().map(|p| p.to_string()),
        primary_pinned: entry.primary.is_some(),
        canary: entry.canary.map(|c| CanaryStatus {
            version: c.version.to_string(),
            weight: c.weight,
        }),
        shadow: entry.shadow.map(|s| s.to_string()),
        previous: entry.previous.iter().map(u64::to_string).collect(),
        versions: entry
            .versions
            .iter()
            .map(|(&v, m)| version_status(m, role(entry, v)))
            .collect(),
    }
}

impl Deployer {
    /// Every model, its versions and traffic, and recent events.
    pub fn status(&self) -> NodeStatus {
        let table = self.registry().snapshot();
        NodeStatus {
            models: table
                .models
                .iter()
                .map(|(name, entry)| model_status(name, entry))
                .collect(),
            events: self.events(),
            live_versions: crate::runtime::live_versions(),
            prediction_log: None,
            fleet: None,
        }
    }

    /// One model's status, if it exists.
    pub fn model_status(&self, name: &str) -> Option<ModelStatus> {
        let table = self.registry().snapshot();
        table.models.get(name).map(|e| model_status(name, e))
    }
}
