//! The deployment table: model name → loaded versions, published as one
//! immutable snapshot behind an [`ArcSwap`]. Requests load it once,
//! lock-free, and keep an `Arc` to the version they run on.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::runtime::LoadedModel;

/// The versions of one model.
#[derive(Clone, Debug, Default)]
pub struct ModelEntry {
    /// Loaded versions by number.
    pub versions: BTreeMap<u64, Arc<LoadedModel>>,
}

impl ModelEntry {
    /// The version that serves unversioned requests: the highest.
    pub fn primary(&self) -> Option<&Arc<LoadedModel>> {
        self.versions.values().next_back()
    }

    /// Version numbers as strings, ascending.
    pub fn version_names(&self) -> Vec<String> {
        self.versions.keys().map(u64::to_string).collect()
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

/// The live table.
#[derive(Debug, Default)]
pub struct Registry {
    table: ArcSwap<ModelTable>,
}

impl Registry {
    /// A registry holding the given versions.
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

    /// The version that serves `name` (and `version`, when pinned).
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
        let found = match version {
            None => entry.primary(),
            Some(v) => v.parse::<u64>().ok().and_then(|n| entry.versions.get(&n)),
        };
        found.cloned().ok_or_else(|| RouteError::UnknownVersion {
            name: name.to_string(),
            version: version.unwrap_or_default().to_string(),
            available: entry.version_names().join(", "),
        })
    }
}
