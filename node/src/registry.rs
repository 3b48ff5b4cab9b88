//! The deployment table: model name → loaded versions and how traffic is
//! split between them, published as one immutable snapshot behind an
//! [`ArcSwap`]. Requests load it once, lock-free, and keep an `Arc` to the
//! version they run on, so a swap never disturbs a request in flight.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::config::VersionPinning;
use crate::repository::Kind;
use crate::repository::PolicyBinding;
use crate::served::ServedVersion;

/// A canary: a version that gets a share of unversioned traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Canary {
    /// The canary version.
    pub version: u64,
    /// Percentage of unversioned requests it gets, 0–100.
    pub weight: u8,
}

/// The versions of one model and its traffic.
#[derive(Clone, Debug, Default)]
pub struct ModelEntry {
    /// Loaded versions by number.
    pub versions: BTreeMap<u64, Arc<ServedVersion>>,
    /// The version that serves unversioned requests. `None` means the
    /// highest loaded version.
    pub primary: Option<u64>,
    /// An optional canary.
    pub canary: Option<Canary>,
    /// An optional shadow: gets a copy of primary traffic, its answers are
    /// compared and discarded.
    pub shadow: Option<u64>,
    /// Earlier primaries, most recent last (for rollback).
    pub previous: Vec<u64>,
    /// Who may call this model and which policies guard it, the same
    /// whichever version answers; computed when the table is published.
    pub rules: Arc<ModelRules>,
}

/// The security rules of a model name: the strictest of what its loaded
/// versions' manifests ask for, so pinning a version by URL can never step
/// around a rule another version brought.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelRules {
    /// Model or policy.
    pub kind: Kind,
    /// `Some(true)` when any version requires an identity, `Some(false)`
    /// when every version opts out, `None` (the server's `[auth] required`)
    /// otherwise.
    pub require_auth: Option<bool>,
    /// Every policy binding any version declares, newest version's order
    /// first; a policy bound by several versions runs once, at every stage
    /// any of them asks for, and fails open only if all of them say so.
    pub policies: Vec<PolicyBinding>,
}

impl ModelRules {
    /// The rules of an entry's loaded versions.
    pub fn of(entry: &ModelEntry) -> ModelRules {
        let mut rules = ModelRules {
            kind: entry
                .versions
                .values()
                .next()
                .map_or(Kind::Model, |m| m.kind),
            ..ModelRules::default()
        };
        let mut any_true = false;
        let mut all_false = !entry.versions.is_empty();
        for m in entry.versions.values().rev() {
            any_true |= m.settings.require_auth == Some(true);
            all_false &= m.settings.require_auth == Some(false);
            for b in &m.settings.policies {
                match rules.policies.iter_mut().find(|r| r.policy == b.policy) {
                    Some(r) => {
                        r.fail_open &= b.fail_open;
                        for stage in &b.stages {
                            if !r.stages.contains(stage) {
                                r.stages.push(*stage);
                            }
                        }
                    }
                    None => rules.policies.push(b.clone()),
                }
            }
        }
        rules.require_auth = if any_true {
            Some(true)
        } else if all_false {
            Some(false)
        } else {
            None
        };
        rules
    }

    /// Whether callers must present an identity, given the server default.
    pub fn requires_identity(&self, server_default: bool) -> bool {
        self.require_auth.unwrap_or(server_default)
    }
}

impl ModelEntry {
    /// The number of the version that serves unversioned requests.
    pub fn primary_version(&self) -> Option<u64> {
        self.primary
            .filter(|v| self.versions.contains_key(v))
            .or_else(|| self.versions.keys().next_back().copied())
    }

    /// The version that serves unversioned requests.
    pub fn primary(&self) -> Option<&Arc<ServedVersion>> {
        self.primary_version().and_then(|v| self.versions.get(&v))
    }

    /// Version numbers as strings, ascending.
    pub fn version_names(&self) -> Vec<String> {
        self.versions.keys().map(u64::to_string).collect()
    }

    /// Whether a version carries traffic (primary, canary or shadow).
    pub fn carries_traffic(&self, version: u64) -> Option<&'static str> {
        if self.primary_version() == Some(version) {
            Some("it is the primary")
        } else if self.canary.is_some_and(|c| c.version == version) {
            Some("it is the canary")
        } else if self.shadow == Some(version) {
            Some("it is the shadow")
        } else {
            None
        }
    }
}

/// One immutable snapshot of every model.
#[derive(Clone, Debug, Default)]
pub struct ModelTable {
    /// Models by name.
    pub models: BTreeMap<String, ModelEntry>,
}

/// A model or version that is not being served.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No such model (policies are not models on the data plane).
    #[error("unknown model '{0}'")]
    UnknownModel(String),
    /// The version exists but this server does not serve it by URL.
    #[error(
        "model '{name}' version {version} is not served by version URL on this server \
         ([server] version_pinning = \"{pinning}\"); call /v2/models/{name}/infer"
    )]
    NotPinnable {
        /// Model name.
        name: String,
        /// The version asked for.
        version: String,
        /// The setting in force.
        pinning: &'static str,
    },
    /// The model exists but not this version.
    #[error("model '{name}' has no version '{version}' (available: {available})")]
    UnknownVersion {
        /// Model name.
        name: String,
        /// The version asked for.
        version: String,
        /// Versions that exist.
        available: String,
    },
}

/// Where one request goes.
#[derive(Debug)]
pub struct Routed {
    /// The version that answers.
    pub model: Arc<ServedVersion>,
    /// A shadow version that gets a copy of the request, if any.
    pub shadow: Option<Arc<ServedVersion>>,
    /// The model's rules (whichever version answers).
    pub rules: Arc<ModelRules>,
}

/// The live table.
#[derive(Debug, Default)]
pub struct Registry {
    table: ArcSwap<ModelTable>,
    counter: AtomicU64,
    /// Which versions a URL may pin (a [`VersionPinning`] as u8).
    pinning: std::sync::atomic::AtomicU8,
}

/// A well-mixed number from a counter (splitmix64), for weighted choice.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Whether the `n`th unversioned request goes to a canary with `weight`
/// percent: the counter is mixed so consecutive requests spread evenly
/// (every 100 consecutive requests send close to `weight` to the canary),
/// without a lock or a random-number generator on the request path.
fn canary_takes(n: u64, weight: u8) -> bool {
    mix(n) % 100 < u64::from(weight)
}

impl Registry {
    /// Sets which versions `/versions/{v}` URLs may reach.
    pub fn set_version_pinning(&self, pinning: VersionPinning) {
        self.pinning.store(pinning as u8, Ordering::Relaxed);
    }

    fn pinning(&self) -> VersionPinning {
        match self.pinning.load(Ordering::Relaxed) {
            x if x == VersionPinning::Serving as u8 => VersionPinning::Serving,
            x if x == VersionPinning::None as u8 => VersionPinning::None,
            _ => VersionPinning::All,
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<ModelTable> {
        self.table.load_full()
    }

    /// Publishes a new snapshot atomically, with each model's rules
    /// computed from the versions it now holds.
    pub fn publish(&self, mut table: ModelTable) {
        for entry in table.models.values_mut() {
            let rules = ModelRules::of(entry);
            if *entry.rules != rules {
                entry.rules = Arc::new(rules);
            }
        }
        self.table.store(Arc::new(table));
    }

    /// The entry of a model served on the data plane: policies share the
    /// namespace but are unknown there.
    fn model_entry<'t>(table: &'t ModelTable, name: &str) -> Result<&'t ModelEntry, RouteError> {
        table
            .models
            .get(name)
            .filter(|e| e.rules.kind == Kind::Model)
            .ok_or_else(|| RouteError::UnknownModel(name.to_string()))
    }

    /// The version of a model that serves `name` (and `version`, when
    /// pinned and pinning allows it), without canary or shadow, and the
    /// model's rules.
    pub fn resolve(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<(Arc<ServedVersion>, Arc<ModelRules>), RouteError> {
        let table = self.table.load();
        let entry = Self::model_entry(&table, name)?;
        let model = self.pick_pinned(name, entry, version)?;
        Ok((model, entry.rules.clone()))
    }

    /// The version numbers of a model a caller may address: every loaded
    /// one, those carrying traffic, or only the primary, as
    /// `version_pinning` says.
    pub fn model_versions(&self, name: &str) -> Vec<String> {
        let table = self.table.load();
        Self::model_entry(&table, name)
            .map(|e| self.addressable(e))
            .unwrap_or_default()
    }

    /// The versions of `entry` a caller may address.
    pub fn addressable(&self, entry: &ModelEntry) -> Vec<String> {
        let primary = entry.primary_version();
        entry
            .versions
            .keys()
            .filter(|&&v| match self.pinning() {
                VersionPinning::All => true,
                VersionPinning::Serving => entry.carries_traffic(v).is_some(),
                VersionPinning::None => Some(v) == primary,
            })
            .map(u64::to_string)
            .collect()
    }

    /// The primary (or canary) of a deployed policy, for policy chains;
    /// never a model component.
    pub fn policy(&self, name: &str) -> Option<Arc<ServedVersion>> {
        let table = self.table.load();
        let entry = table
            .models
            .get(name)
            .filter(|e| e.rules.kind == Kind::Policy)?;
        self.choose(entry)
            .flatten()
            .or_else(|| entry.primary().cloned())
            .filter(|m| m.kind == Kind::Policy)
    }

    /// The canary, when this request falls in its share.
    fn choose(&self, entry: &ModelEntry) -> Option<Option<Arc<ServedVersion>>> {
        let c = entry.canary?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        canary_takes(n, c.weight).then(|| entry.versions.get(&c.version).cloned())
    }

    /// Routes one inference to a model: a pinned version as asked (when
    /// pinning allows it); otherwise the canary by its weight or the
    /// primary, plus the shadow if one is set.
    pub fn route(&self, name: &str, version: Option<&str>) -> Result<Routed, RouteError> {
        let table = self.table.load();
        let entry = Self::model_entry(&table, name)?;
        if version.is_some() {
            return Ok(Routed {
                model: self.pick_pinned(name, entry, version)?,
                shadow: None,
                rules: entry.rules.clone(),
            });
        }
        let model = match self.choose(entry).flatten() {
            Some(m) => m,
            None => self.pick_pinned(name, entry, None)?,
        };
        let shadow = entry
            .shadow
            .filter(|s| Some(*s) != model.version.parse().ok())
            .and_then(|s| entry.versions.get(&s).cloned());
        Ok(Routed {
            model,
            shadow,
            rules: entry.rules.clone(),
        })
    }

    /// The primary, or the version a URL pins when this server's
    /// `version_pinning` serves it.
    fn pick_pinned(
        &self,
        name: &str,
        entry: &ModelEntry,
        version: Option<&str>,
    ) -> Result<Arc<ServedVersion>, RouteError> {
        let found = match version {
            None => entry.primary(),
            Some(v) => v.parse::<u64>().ok().and_then(|n| entry.versions.get(&n)),
        };
        let Some(model) = found else {
            return Err(RouteError::UnknownVersion {
                name: name.to_string(),
                version: version.unwrap_or("(primary)").to_string(),
                available: self.addressable(entry).join(", "),
            });
        };
        if let Some(v) = version {
            let pinning = self.pinning();
            let allowed = match pinning {
                VersionPinning::All => true,
                VersionPinning::Serving => v
                    .parse::<u64>()
                    .is_ok_and(|n| entry.carries_traffic(n).is_some()),
                VersionPinning::None => false,
            };
            if !allowed {
                return Err(RouteError::NotPinnable {
                    name: name.to_string(),
                    version: v.to_string(),
                    pinning: match pinning {
                        VersionPinning::All => "all",
                        VersionPinning::Serving => "serving",
                        VersionPinning::None => "none",
                    },
                });
            }
        }
        Ok(model.clone())
    }
}

impl ModelTable {
    /// The names of the deployed policies (with at least one version).
    pub fn policy_names(&self) -> Vec<&str> {
        self.models
            .iter()
            .filter(|(_, e)| e.rules.kind == crate::repository::Kind::Policy)
            .filter(|(_, e)| !e.versions.is_empty())
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

/// A message for each policy binding (a model version's, or the
/// configuration's `[[policies]]`) that names no policy in `table`.
pub fn dangling_bindings(
    table: &ModelTable,
    global: &[crate::repository::PolicyBinding],
) -> Vec<String> {
    use crate::repository::missing_policy;
    let policies = table.policy_names();
    let policies = policies.as_slice();
    let global = global.iter().filter_map(|b| {
        missing_policy(
            "the configuration's [[policies]]",
            "every request",
            b,
            policies,
        )
    });
    let models = table.models.iter().flat_map(|(name, e)| {
        e.versions.values().flat_map(move |m| {
            m.settings.policies.iter().filter_map(move |b| {
                missing_policy(
                    &format!("model {name}@{}", m.version),
                    &format!("every request to {name}"),
                    b,
                    policies,
                )
            })
        })
    });
    global.chain(models).collect()
}

#[cfg(test)]
mod tests {
    use super::canary_takes;

    #[test]
    fn the_canary_gets_its_weight_of_traffic_and_no_more() {
        for weight in [0u8, 1, 5, 10, 33, 50, 90, 99, 100] {
            let n = 100_000u64;
            let taken = (0..n).filter(|&i| canary_takes(i, weight)).count() as f64;
            let share = taken / n as f64 * 100.0;
            assert!(
                (share - f64::from(weight)).abs() < 0.5,
                "weight {weight}: the canary took {share:.2}%"
            );
        }
        assert!((0..10_000).all(|i| !canary_takes(i, 0)), "0% never");
        assert!((0..10_000).all(|i| canary_takes(i, 100)), "100% always");
        // Short runs are spread too: any 1000 consecutive requests give a
        // 10% canary between 7% and 13%.
        for start in (0..50_000u64).step_by(997) {
            let k = (start..start + 1000)
                .filter(|&i| canary_takes(i, 10))
                .count();
            assert!((70..=130).contains(&k), "from {start}: {k} of 1000");
        }
    }
}
