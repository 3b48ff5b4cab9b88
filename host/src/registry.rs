//! The deployment table: model name → loaded versions and how traffic is
//! split between them, published as one immutable snapshot behind an
//! [`ArcSwap`]. Requests load it once, lock-free, and keep an `Arc` to the
//! version they run on, so a swap never disturbs a request in flight.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::runtime::LoadedModel;

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
    pub versions: BTreeMap<u64, Arc<LoadedModel>>,
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
}

impl ModelEntry {
    /// The number of the version that serves unversioned requests.
    pub fn primary_version(&self) -> Option<u64> {
        self.primary
            .filter(|v| self.versions.contains_key(v))
            .or_else(|| self.versions.keys().next_back().copied())
    }

    /// The version that serves unversioned requests.
    pub fn primary(&self) -> Option<&Arc<LoadedModel>> {
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
    /// No such model.
    #[error("unknown model '{0}'")]
    UnknownModel(String),
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
    pub model: Arc<LoadedModel>,
    /// A shadow version that gets a copy of the request, if any.
    pub shadow: Option<Arc<LoadedModel>>,
}

/// The live table.
#[derive(Debug, Default)]
pub struct Registry {
    table: ArcSwap<ModelTable>,
    counter: AtomicU64,
}

/// A well-mixed number from a counter (splitmix64), for weighted choice.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Registry {
    /// A registry holding the given versions, the highest of each serving.
    pub fn new(loaded: impl IntoIterator<Item = Arc<LoadedModel>>) -> Registry {
        let mut table = ModelTable::default();
        for m in loaded {
            let Ok(v) = m.version.parse::<u64>() else {
                continue;
            };
            table
                .models
                .entry(m.name.clone())
                .or_default()
                .versions
                .insert(v, m);
        }
        Registry {
            table: ArcSwap::from_pointee(table),
            counter: AtomicU64::new(0),
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<ModelTable> {
        self.table.load_full()
    }

    /// Publishes a new snapshot atomically.
    pub fn publish(&self, table: ModelTable) {
        self.table.store(Arc::new(table));
    }

    /// The version that serves `name` (and `version`, when pinned), without
    /// canary or shadow.
    pub fn resolve(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<LoadedModel>, RouteError> {
        let table = self.table.load();
        let entry = table
            .models
            .get(name)
            .ok_or_else(|| RouteError::UnknownModel(name.to_string()))?;
        pick_pinned(name, entry, version)
    }

    /// Routes one inference: a pinned version as asked; otherwise the
    /// canary by its weight or the primary, plus the shadow if one is set.
    pub fn route(&self, name: &str, version: Option<&str>) -> Result<Routed, RouteError> {
        let table = self.table.load();
        let entry = table
            .models
            .get(name)
            .ok_or_else(|| RouteError::UnknownModel(name.to_string()))?;
        if version.is_some() {
            return Ok(Routed {
                model: pick_pinned(name, entry, version)?,
                shadow: None,
            });
        }
        let canary = entry.canary.and_then(|c| {
            let roll = mix(self.counter.fetch_add(1, Ordering::Relaxed)) % 100;
            (roll < u64::from(c.weight))
                .then(|| entry.versions.get(&c.version).cloned())
                .flatten()
        });
        let model = match canary {
            Some(m) => m,
            None => pick_pinned(name, entry, None)?,
        };
        let shadow = entry
            .shadow
            .filter(|s| Some(*s) != model.version.parse().ok())
            .and_then(|s| entry.versions.get(&s).cloned());
        Ok(Routed { model, shadow })
    }
}

fn pick_pinned(
    name: &str,
    entry: &ModelEntry,
    version: Option<&str>,
) -> Result<Arc<LoadedModel>, RouteError> {
    let found = match version {
        None => entry.primary(),
        Some(v) => v.parse::<u64>().ok().and_then(|n| entry.versions.get(&n)),
    };
    found.cloned().ok_or_else(|| RouteError::UnknownVersion {
        name: name.to_string(),
        version: version.unwrap_or("(primary)").to_string(),
        available: entry.version_names().join(", "),
    })
}
