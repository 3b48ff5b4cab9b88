//! The status document of the admin API and `edgeserve status`.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::Deployer;
use crate::registry::ModelEntry;

fn model_json(name: &str, entry: &ModelEntry) -> Value {
    let primary = entry.primary_version();
    let versions: Vec<Value> = entry
        .versions
        .iter()
        .map(|(v, m)| {
            let role = if Some(*v) == primary {
                "primary"
            } else if entry.canary.is_some_and(|c| c.version == *v) {
                "canary"
            } else if entry.shadow == Some(*v) {
                "shadow"
            } else {
                "standby"
            };
            let loaded_at = m
                .loaded_at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let s = &m.stats;
            let labels = s.shadow_labels_total.load(Ordering::Relaxed);
            let label_agreement = (labels > 0)
                .then(|| s.shadow_labels_same.load(Ordering::Relaxed) as f64 / labels as f64);
            let max_abs = (s.shadow_compared.load(Ordering::Relaxed) > 0)
                .then(|| f64::from_bits(s.shadow_max_abs.load(Ordering::Relaxed)));
            json!({
                "version": v.to_string(),
                "role": role,
                "sha256": m.digest,
                "source": m.source,
                "loaded_at": loaded_at,
                "compile": format!("{:?}", m.aot),
                "limits": {
                    "isolation": format!("{:?}", m.settings.isolation).to_lowercase(),
                    "memory": m.settings.memory.to_string(),
                    "deadline_ms": m.settings.deadline.as_millis() as u64,
                    "pool_size": m.settings.pool_size,
                    "max_concurrency": m.settings.max_concurrency,
                },
                "requests": s.requests.load(Ordering::Relaxed),
                "errors": s.errors.load(Ordering::Relaxed),
                "idle_instances": m.idle_instances(),
                "shadow_compared": s.shadow_compared.load(Ordering::Relaxed),
                "shadow_agreed": s.shadow_agreed.load(Ordering::Relaxed),
                "shadow_dropped": s.shadow_dropped.load(Ordering::Relaxed),
                "shadow_errors": s.shadow_errors.load(Ordering::Relaxed),
                "shadow_label_agreement": label_agreement,
                "shadow_max_abs_diff": max_abs,
                "drift": m.drift.as_ref().map(|d| json!({
                    "input": d.input(),
                    "features": d.scores(),
                })),
                "kind": m.kind.as_str(),
                "policy_decisions": (m.kind == crate::repository::Kind::Policy).then(|| json!({
                    "allowed": s.policy_allowed.load(Ordering::Relaxed),
                    "denied": s.policy_denied.load(Ordering::Relaxed),
                    "rewrote": s.policy_rewrote.load(Ordering::Relaxed),
                    "failed": s.policy_failed.load(Ordering::Relaxed),
                })),
            })
        })
        .collect();
    json!({
        "name": name,
        "primary": primary.map(|p| p.to_string()),
        "primary_pinned": entry.primary.is_some(),
        "canary": entry.canary.map(|c| json!({"version": c.version.to_string(), "weight": c.weight})),
        "shadow": entry.shadow.map(|s| s.to_string()),
        "previous": entry.previous.iter().map(u64::to_string).collect::<Vec<_>>(),
        "versions": versions,
    })
}

impl Deployer {
    /// Every model, its versions and traffic, and recent events.
    pub fn status(&self) -> Value {
        let table = self.registry().snapshot();
        let models: Vec<Value> = table
            .models
            .iter()
            .map(|(name, entry)| model_json(name, entry))
            .collect();
        json!({
            "models": models,
            "events": self.events(),
            "live_versions": crate::runtime::live_versions(),
        })
    }

    /// One model's status, if it exists.
    pub fn model_status(&self, name: &str) -> Option<Value> {
        let table = self.registry().snapshot();
        table.models.get(name).map(|e| model_json(name, e))
    }
}
