//! Restoring a node at start: the repository's versions (those its
//! version policy wants, minus the ones removed through the admin API),
//! every version deployed through the admin API, and the persisted
//! traffic (primary, canary, shadow, rollback history).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{
    DEPLOYED, DeployError, DeployState, Deployer, StateStore, VersionPolicy, kind_conflict,
};
use crate::config::ModelDefaults;
use crate::registry::{ModelTable, Registry};
use crate::repository::{self, Refusal, RepoError, VersionSource};
use crate::runtime::Runtime;
use crate::served::ServedVersion;

impl Deployer {
    /// Restores the node: loads the repository (minus removed versions) and
    /// every deployed version, applies the persisted traffic, publishes the
    /// table. Returns the deployer and the versions that were refused.
    pub async fn start(
        runtime: Arc<Runtime>,
        store: StateStore,
        repository: Option<PathBuf>,
        defaults: ModelDefaults,
    ) -> Result<(Deployer, Vec<Refusal>), DeployError> {
        let state = store.load()?;
        let (mut sources, mut refused) = match &repository {
            Some(repo) => repository_sources(repo, &state)?,
            None => (Vec::new(), Vec::new()),
        };
        add_deployed(&mut sources, &state, &store);
        let mut table = ModelTable::default();
        for src in sources {
            if let Err(r) = load_into(&mut table, &runtime, &src, &store, &defaults).await {
                refused.push(r);
            }
        }
        apply_traffic(&mut table, &state);
        let registry = Arc::new(Registry::default());
        registry.publish(table);
        let deployer = Deployer {
            runtime,
            registry,
            store,
            defaults,
            repository,
            state: tokio::sync::Mutex::new(state),
            loading: super::loading::Loading::default(),
            events: Mutex::new(VecDeque::new()),
            promoted: Mutex::new(Default::default()),
        };
        Ok((deployer, refused))
    }
}

/// The repository's versions each model's version policy wants, less
/// those removed through the admin API; and the folders refused.
fn repository_sources(
    repo: &Path,
    state: &DeployState,
) -> Result<(Vec<VersionSource>, Vec<Refusal>), DeployError> {
    let (found, refused) = repository::scan(repo).map_err(|e| {
        DeployError::BadRequest(format!(
            "cannot read model repository {}: {e}",
            repo.display()
        ))
    })?;
    let mut wanted = HashMap::new();
    for s in &found {
        if wanted.contains_key(&s.name) {
            continue;
        }
        let policy = VersionPolicy::read(&repo.join(&s.name)).unwrap_or_else(|e| {
            tracing::warn!(model = %s.name, error = %e, "using the default version policy (all)");
            VersionPolicy::All
        });
        let versions = found
            .iter()
            .filter(|o| o.name == s.name)
            .map(|o| o.version)
            .collect();
        wanted.insert(s.name.clone(), policy.select(versions));
    }
    let removed = |s: &VersionSource| {
        state
            .models
            .get(&s.name)
            .is_some_and(|m| m.removed.contains(&s.version))
    };
    let sources = found
        .into_iter()
        .filter(|s| wanted.get(&s.name).is_some_and(|w| w.contains(&s.version)))
        .filter(|s| !removed(s))
        .collect();
    Ok((sources, refused))
}

/// Versions deployed through the admin API (their files in the state
/// folder), replacing a repository folder with the same number.
fn add_deployed(sources: &mut Vec<VersionSource>, state: &DeployState, store: &StateStore) {
    for (name, ms) in &state.models {
        for &v in &ms.deployed {
            sources.retain(|s| !(s.name == *name && s.version == v));
            sources.push(VersionSource {
                name: name.clone(),
                version: v,
                dir: store.version_dir(name, v),
            });
        }
    }
}

/// Loads one version through the pipeline into the table.
async fn load_into(
    table: &mut ModelTable,
    runtime: &Runtime,
    src: &VersionSource,
    store: &StateStore,
    defaults: &ModelDefaults,
) -> Result<(), Refusal> {
    let what = format!("{}@{}", src.name, src.version);
    let mut m = repository::load_version(runtime, src, defaults)
        .await
        .map_err(|error| Refusal {
            what: what.clone(),
            error,
        })?;
    if src.dir.starts_with(store.dir()) {
        m.source = DEPLOYED.to_string();
    }
    let entry = table.models.entry(src.name.clone()).or_default();
    // A name holds models or policies, never both; the version found
    // later is the one refused.
    if let Some(conflict) = kind_conflict(entry, &m) {
        return Err(Refusal {
            what,
            error: RepoError::Manifest(conflict),
        });
    }
    entry
        .versions
        .insert(src.version, Arc::new(ServedVersion::new(m)));
    Ok(())
}

/// The persisted traffic, for the versions that loaded. A pinned primary
/// that did not load falls back to the most recent previous primary
/// (never silently to a canary, which may be the highest version).
fn apply_traffic(table: &mut ModelTable, state: &DeployState) {
    for (name, ms) in &state.models {
        let Some(entry) = table.models.get_mut(name) else {
            continue;
        };
        let loaded = |v: &u64| entry.versions.contains_key(v);
        entry.canary = ms.canary.filter(|c| loaded(&c.version));
        entry.shadow = ms.shadow.filter(loaded);
        entry.previous = ms.previous.iter().copied().filter(loaded).collect();
        entry.primary = match ms.primary {
            Some(p) if loaded(&p) => Some(p),
            Some(p) => {
                let fallback = entry
                    .previous
                    .pop()
                    .or_else(|| entry.versions.keys().next_back().copied());
                tracing::error!(model = %name, pinned = p, fallback = ?fallback, "the pinned primary did not load; serving the fallback");
                if entry.canary.map(|c| c.version) == fallback {
                    entry.canary = None;
                }
                fallback
            }
            None => None,
        };
    }
}
