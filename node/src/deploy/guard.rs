//! Guarded rollouts: a canary or a newly promoted primary whose error rate
//! or p99 latency breaks its manifest's `[rollout]` bounds is rolled back by
//! the node itself, and the event is logged and shown in status.

use std::sync::Arc;
use std::time::Duration;

use super::Deployer;
use crate::repository::RolloutGuard;
use crate::runtime::LoadedModel;

/// The `[rollout]` section of a manifest.
pub type GuardSettings = RolloutGuard;

/// Why a version breaks its bounds, if it does.
fn breach(model: &LoadedModel, g: &RolloutGuard) -> Option<String> {
    let w = model.stats.window(g.window.0);
    if w.requests < g.min_requests.max(1) {
        return None;
    }
    if let Some(max) = g.max_error_rate
        && w.error_rate() > max
    {
        return Some(format!(
            "error rate {:.1}% over {} calls in the last {:?} is above {:.1}%",
            w.error_rate() * 100.0,
            w.requests,
            g.window.0,
            max * 100.0
        ));
    }
    if let Some(max) = g.max_p99
        && w.p99 > max.0
    {
        return Some(format!(
            "p99 latency about {:?} over {} calls in the last {:?} is above {:?}",
            w.p99, w.requests, g.window.0, max.0
        ));
    }
    None
}

/// One pass over every model.
async fn check(deployer: &Deployer) {
    let table = deployer.registry().snapshot();
    for (name, entry) in &table.models {
        if let Some(c) = entry.canary
            && let Some(m) = entry.versions.get(&c.version)
            && let Some(reason) = m.settings.rollout.as_ref().and_then(|g| breach(m, g))
        {
            tracing::warn!(model = %name, version = c.version, %reason, "rollout guard: stopping the canary");
            if let Err(e) = deployer.clear_canary_if(name, c.version).await {
                tracing::error!(model = %name, error = %e, "rollout guard could not stop the canary");
            } else {
                deployer.record(
                    name,
                    format!(
                        "rollout guard stopped canary {name}@{}: {reason}",
                        c.version
                    ),
                );
            }
        }
        let Some(primary) = entry.primary() else {
            continue;
        };
        let Some(g) = &primary.settings.rollout else {
            continue;
        };
        let recently = deployer
            .promoted_at(name)
            .is_some_and(|t| t.elapsed() < g.watch.0);
        if !recently || entry.previous.is_empty() {
            continue;
        }
        if let Some(reason) = breach(primary, g) {
            tracing::warn!(model = %name, version = %primary.version, %reason, "rollout guard: rolling back");
            let why = format!(" (rollout guard: {name}@{} {reason})", primary.version);
            let version = primary.version.parse().unwrap_or_default();
            if let Err(e) = deployer.rollback_if(name, version, &why).await {
                tracing::error!(model = %name, error = %e, "rollout guard could not roll back");
            }
        }
    }
}

/// Checks every model every `every` until the process ends.
pub async fn run_guard(deployer: Arc<Deployer>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        check(&deployer).await;
    }
}
