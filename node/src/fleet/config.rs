//! The `[fleet]` section of a node's configuration: its ring, the keys it
//! trusts, how often it polls, and what it follows.
//!
//! ```toml
//! [fleet]
//! ring = "canary"                       # this node's ring (a label)
//! trust_keys = ["/etc/edgeserve/cosign.pub"]
//! poll_min = "10s"                      # between checks while all is well
//! poll_max = "5m"                       # the longest pause after failures
//!
//! [[fleet.follow]]
//! model = "iris"
//! reference = "registry.example/models/iris:{ring}"   # {ring}: this node's ring
//! action = "primary"                    # or "canary" (with weight) or "shadow"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::units::{ByteSize, HumanDuration};

/// The `[fleet]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// This node's ring; `{ring}` in a followed reference becomes it.
    pub ring: Option<String>,
    /// PEM public keys: with any set, only versions signed by one of them
    /// are deployed.
    pub trust_keys: Vec<PathBuf>,
    /// Pause between checks while the registry answers.
    pub poll_min: HumanDuration,
    /// Longest pause after failed checks (the pause doubles up to it).
    pub poll_max: HumanDuration,
    /// Speak plain HTTP to registries off loopback.
    pub plain_http: bool,
    /// Largest version pulled (all its files together).
    pub max_version_size: ByteSize,
    /// The models this node follows.
    pub follow: Vec<FollowConfig>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            ring: None,
            trust_keys: Vec::new(),
            poll_min: HumanDuration(Duration::from_secs(10)),
            poll_max: HumanDuration(Duration::from_secs(300)),
            plain_http: false,
            max_version_size: ByteSize(1024 * 1024 * 1024),
            follow: Vec::new(),
        }
    }
}

/// What a node does with a new digest at a followed tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Deploy and promote it (the manifest's `[rollout]` guard watches it
    /// and rolls back on a breach).
    #[default]
    Primary,
    /// Deploy it as the canary with `weight` percent of traffic.
    Canary,
    /// Deploy it as the shadow.
    Shadow,
}

/// One followed model.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowConfig {
    /// The model name on this node.
    pub model: String,
    /// REGISTRY/REPOSITORY:TAG; `{ring}` is replaced by the node's ring.
    pub reference: String,
    /// What to do with a new digest.
    #[serde(default)]
    pub action: Action,
    /// The canary's share of traffic, percent (with `action = "canary"`).
    #[serde(default)]
    pub weight: Option<u8>,
}

impl FleetConfig {
    /// `reference` with `{ring}` replaced.
    pub fn reference_of(&self, follow: &FollowConfig) -> String {
        follow
            .reference
            .replace("{ring}", self.ring.as_deref().unwrap_or(""))
    }

    /// What is wrong with the section, if anything: (key, problem).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.poll_min.0.is_zero() || self.poll_max.0 < self.poll_min.0 {
            out.push((
                "fleet.poll_min".into(),
                "must be above zero and at most fleet.poll_max".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, f) in self.follow.iter().enumerate() {
            let key = |k: &str| format!("fleet.follow[{i}].{k}");
            if !crate::repository::valid_name(&f.model) {
                out.push((key("model"), format!("'{}' is not a model name", f.model)));
            }
            if !seen.insert(f.model.clone()) {
                out.push((key("model"), format!("'{}' is followed twice", f.model)));
            }
            if f.reference.contains("{ring}") && self.ring.is_none() {
                out.push((
                    key("reference"),
                    "uses {ring} but fleet.ring is not set".into(),
                ));
            }
            if let Err(e) = super::remote::parse_reference(&self.reference_of(f)) {
                out.push((key("reference"), e.to_string()));
            }
            match (f.action, f.weight) {
                (Action::Canary, Some(w)) if (1..=100).contains(&w) => {}
                (Action::Canary, _) => out.push((
                    key("weight"),
                    "a canary needs a weight from 1 to 100".into(),
                )),
                (_, Some(_)) => out.push((key("weight"), "only a canary has a weight".into())),
                (_, None) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FleetConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_ring_fills_the_reference_and_mistakes_are_named() {
        let c = parse(
            r#"
            ring = "canary"
            [[follow]]
            model = "iris"
            reference = "127.0.0.1:5000/iris:{ring}"
            "#,
        );
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(c.reference_of(&c.follow[0]), "127.0.0.1:5000/iris:canary");
        let c = parse(
            r#"
            [[follow]]
            model = "iris"
            reference = "127.0.0.1:5000/iris:{ring}"
            action = "canary"
            [[follow]]
            model = "iris"
            reference = "127.0.0.1:5000/iris:stable"
            weight = 5
            "#,
        );
        let keys: Vec<String> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert!(
            keys.contains(&"fleet.follow[0].reference".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"fleet.follow[0].weight".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"fleet.follow[1].model".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"fleet.follow[1].weight".to_string()),
            "{keys:?}"
        );
    }
}
