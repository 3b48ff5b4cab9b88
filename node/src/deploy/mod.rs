//! The control plane: deploys, traffic changes and rollbacks, each applied
//! to a copy of the routing table, persisted atomically, then published with
//! one pointer swap. Requests never wait on anything here.

mod folder;
mod guard;
mod loading;
mod restore;
mod state;
mod status;
mod upload;
mod watch;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

pub use guard::{GuardSettings, run_guard};
pub use state::{DeployState, ModelState, NODE_KEY_FILE, StateError, StateStore};
pub use watch::{MODEL_FILE, VersionPolicy, watch_repository};

use crate::config::ModelDefaults;
use crate::contract::{Change, VersionId};
use crate::registry::{Canary, ModelEntry, Registry};
use crate::repository::{self, RepoError, VersionSource};
use crate::runtime::{LoadedModel, Runtime};
use crate::served::ServedVersion;

/// Why a control-plane change was refused; each maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// No such model or version (404).
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The version failed the deploy pipeline (422); nothing changed.
    #[error("deploy {what} refused: {error}")]
    Refused {
        /// `name@version`.
        what: String,
        /// The failing phase and why.
        error: RepoError,
    },
    /// The state could not be persisted (500); nothing changed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The version could not be fetched from a registry: unreachable
    /// (502), or refused there (422: a bad signature or artifact).
    #[error("{reason}")]
    Fetch {
        /// Whether trying again later may work.
        transient: bool,
        /// What went wrong.
        reason: String,
    },
}

pub use crate::contract::Event;

const EVENTS_KEPT: usize = 100;

/// The `source` of versions deployed through the admin API (their files live
/// in the state folder, not the repository).
pub const DEPLOYED: &str = "deployed";

/// The control plane of one node.
pub struct Deployer {
    runtime: Arc<Runtime>,
    registry: Arc<Registry>,
    store: StateStore,
    defaults: ModelDefaults,
    repository: Option<PathBuf>,
    /// Serializes changes; holds the last persisted state. Never held
    /// while a version compiles.
    state: tokio::sync::Mutex<DeployState>,
    /// Versions being loaded outside that lock, or being removed.
    loading: loading::Loading,
    events: Mutex<VecDeque<Event>>,
    /// When each model's primary last changed (for the rollout guard).
    promoted: Mutex<std::collections::HashMap<String, Instant>>,
}

impl std::fmt::Debug for Deployer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployer")
            .field("state_dir", &self.store.dir())
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Copies an entry's traffic into its persisted state.
fn sync_traffic(entry: &ModelEntry, ms: &mut ModelState) {
    ms.primary = entry.primary;
    ms.canary = entry.canary;
    ms.shadow = entry.shadow;
    ms.previous = entry.previous.clone();
}

/// Makes `version` the primary, remembering the one it replaces.
fn promote(entry: &mut ModelEntry, version: u64) {
    if let Some(old) = entry.primary_version().filter(|&o| o != version) {
        entry.previous.retain(|&p| p != old);
        entry.previous.push(old);
        if entry.previous.len() > 20 {
            entry.previous.remove(0);
        }
    }
    entry.primary = Some(version);
    if entry.canary.is_some_and(|c| c.version == version) {
        entry.canary = None;
    }
    if entry.shadow == Some(version) {
        entry.shadow = None;
    }
}

fn parse_version(v: &str) -> Result<u64, DeployError> {
    v.parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| DeployError::BadRequest(format!("version '{v}' must be a positive integer")))
}

impl Deployer {
    /// Whether `name@version` is in the live table.
    fn is_loaded(&self, name: &str, version: u64) -> bool {
        self.registry
            .snapshot()
            .models
            .get(name)
            .is_some_and(|e| e.versions.contains_key(&version))
    }

    /// The live routing table.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The model repository, if serving one.
    pub fn repository(&self) -> Option<&Path> {
        self.repository.as_deref()
    }

    pub(crate) fn record(&self, model: &str, message: String) {
        tracing::info!(model, "{message}");
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.push_back(Event {
            time: now_secs(),
            model: model.to_string(),
            message,
        });
        while events.len() > EVENTS_KEPT {
            events.pop_front();
        }
    }

    /// Recent control-plane events, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Applies `f` to a copy of one model's entry and state, persists, and
    /// publishes. Nothing changes when `f` or persisting fails.
    async fn change<R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut ModelEntry, &mut ModelState) -> Result<(Change, R), DeployError>,
    ) -> Result<(Change, R), DeployError> {
        let mut state = self.state.lock().await;
        let mut table = (*self.registry.snapshot()).clone();
        let entry = table
            .models
            .get_mut(name)
            .ok_or_else(|| DeployError::NotFound(format!("unknown model '{name}'")))?;
        let before = entry.primary_version();
        let mut new_state = state.clone();
        let ms = new_state.models.entry(name.to_string()).or_default();
        let (change, extra) = f(entry, ms)?;
        sync_traffic(entry, ms);
        let after = entry.primary_version();
        if entry.versions.is_empty() {
            table.models.remove(name);
        }
        self.store.save(&new_state)?;
        self.registry.publish(table);
        *state = new_state;
        drop(state);
        self.note_promotion(name, before, after);
        if !change.is_noop() {
            self.record(name, change.to_string());
        }
        Ok((change, extra))
    }

    /// [`Deployer::change`] for changes that touch only traffic.
    async fn change_traffic(
        &self,
        name: &str,
        f: impl FnOnce(&mut ModelEntry) -> Result<Change, DeployError>,
    ) -> Result<Change, DeployError> {
        self.change(name, |entry, _| f(entry).map(|m| (m, ())))
            .await
            .map(|(m, ())| m)
    }

    fn version_of(entry: &ModelEntry, name: &str, v: &str) -> Result<u64, DeployError> {
        let n = parse_version(v)?;
        if entry.versions.contains_key(&n) {
            Ok(n)
        } else {
            Err(DeployError::NotFound(format!(
                "model '{name}' has no version {n} (loaded: {})",
                entry.version_names().join(", ")
            )))
        }
    }

    /// Deploys a version from a folder on this node: its manifest and the
    /// files the manifest names are copied into the state folder, at most
    /// `max_bytes` in all (see [`folder::read_version_folder`]).
    pub async fn deploy_path(
        &self,
        name: &str,
        version: &str,
        dir: &Path,
        max_bytes: u64,
        promote_it: bool,
    ) -> Result<Change, DeployError> {
        let dir = dir.to_path_buf();
        let files =
            tokio::task::spawn_blocking(move || folder::read_version_folder(&dir, max_bytes))
                .await
                .map_err(|e| {
                    DeployError::BadRequest(format!("reading the folder failed: {e}"))
                })??;
        self.deploy(name, version, files, promote_it).await
    }

    /// Makes a version the primary.
    pub async fn set_primary(&self, name: &str, version: &str) -> Result<Change, DeployError> {
        self.change_traffic(name, |entry| {
            let v = Self::version_of(entry, name, version)?;
            let id = VersionId::new(name, v);
            if entry.primary_version() == Some(v) {
                return Ok(Change::Promoted { id, already: true });
            }
            promote(entry, v);
            Ok(Change::Promoted { id, already: false })
        })
        .await
    }

    /// Sends `weight` percent of unversioned traffic to a version.
    pub async fn set_canary(
        &self,
        name: &str,
        version: &str,
        weight: u8,
    ) -> Result<Change, DeployError> {
        if weight > 100 {
            return Err(DeployError::BadRequest(format!(
                "weight {weight} is not between 0 and 100"
            )));
        }
        self.change_traffic(name, |entry| {
            let v = Self::version_of(entry, name, version)?;
            if entry.primary_version() == Some(v) {
                return Err(DeployError::Conflict(format!(
                    "{name}@{v} is the primary; a canary must be another version"
                )));
            }
            if entry.shadow == Some(v) {
                return Err(DeployError::Conflict(format!(
                    "{name}@{v} is the shadow (it gets a copy of the primary's traffic); stop \
                     the shadow first (edgeserve shadow {name} --clear) to make it the canary"
                )));
            }
            entry.canary = Some(Canary { version: v, weight });
            Ok(Change::Canary {
                id: VersionId::new(name, v),
                weight,
            })
        })
        .await
    }

    /// Stops the canary if it is still `version` (for the rollout guard,
    /// which judged a snapshot that an operator may have changed since).
    pub(crate) async fn clear_canary_if(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Change, DeployError> {
        self.clear_canary_inner(name, Some(version)).await
    }

    /// Rolls back only if `version` is still the primary (for the guard,
    /// which judged a snapshot that an operator may have changed since).
    pub(crate) async fn rollback_if(
        &self,
        name: &str,
        version: u64,
        reason: &str,
    ) -> Result<Change, DeployError> {
        self.rollback_inner(name, reason, Some(version)).await
    }

    /// Stops the canary.
    pub async fn clear_canary(&self, name: &str) -> Result<Change, DeployError> {
        self.clear_canary_inner(name, None).await
    }

    async fn clear_canary_inner(
        &self,
        name: &str,
        expected: Option<u64>,
    ) -> Result<Change, DeployError> {
        self.change_traffic(name, |entry| match (entry.canary, expected) {
            (Some(c), Some(v)) if c.version != v => Err(DeployError::Conflict(format!(
                "{name}@{v} is no longer the canary"
            ))),
            (None, Some(v)) => Err(DeployError::Conflict(format!(
                "{name}@{v} is no longer the canary"
            ))),
            (c, _) => {
                entry.canary = None;
                Ok(Change::CanaryCleared {
                    model: name.to_string(),
                    version: c.map(|c| c.version),
                })
            }
        })
        .await
    }

    /// Mirrors primary traffic to a version whose answers are compared and
    /// discarded.
    pub async fn set_shadow(&self, name: &str, version: &str) -> Result<Change, DeployError> {
        self.change_traffic(name, |entry| {
            let v = Self::version_of(entry, name, version)?;
            if entry
                .versions
                .get(&v)
                .is_some_and(|m| m.kind == crate::repository::Kind::Policy)
            {
                return Err(DeployError::Conflict(format!(
                    "{name} is a policy; policies take no shadow (use a canary to try a new version)"
                )));
            }
            if entry.primary_version() == Some(v) {
                return Err(DeployError::Conflict(format!(
                    "{name}@{v} is the primary; a shadow must be another version"
                )));
            }
            if let Some(c) = entry.canary.filter(|c| c.version == v) {
                return Err(DeployError::Conflict(format!(
                    "{name}@{v} is the canary (it answers {}% of the traffic); a shadow only \
                     gets copies and must answer none: stop the canary first (edgeserve canary \
                     {name} --clear) or shadow another version",
                    c.weight
                )));
            }
            entry.shadow = Some(v);
            Ok(Change::Shadow {
                id: VersionId::new(name, v),
            })
        })
        .await
    }

    /// Stops the shadow.
    pub async fn clear_shadow(&self, name: &str) -> Result<Change, DeployError> {
        self.change_traffic(name, |entry| {
            Ok(Change::ShadowCleared {
                model: name.to_string(),
                version: entry.shadow.take(),
            })
        })
        .await
    }

    /// Makes the previous primary the primary again and stops the canary.
    pub async fn rollback(&self, name: &str, reason: &str) -> Result<Change, DeployError> {
        self.rollback_inner(name, reason, None).await
    }

    async fn rollback_inner(
        &self,
        name: &str,
        reason: &str,
        expected: Option<u64>,
    ) -> Result<Change, DeployError> {
        self.change_traffic(name, |entry| {
            let current = entry.primary_version();
            if expected.is_some() && current != expected {
                return Err(DeployError::Conflict(format!(
                    "{name}@{} is no longer the primary",
                    expected.unwrap_or_default()
                )));
            }
            let target = loop {
                match entry.previous.pop() {
                    Some(p) if entry.versions.contains_key(&p) && Some(p) != current => break p,
                    Some(_) => continue,
                    None => {
                        return Err(DeployError::Conflict(format!(
                            "{name} has no previous primary to roll back to"
                        )));
                    }
                }
            };
            entry.primary = Some(target);
            entry.canary = None;
            if entry.shadow == Some(target) {
                entry.shadow = None;
            }
            Ok(Change::RolledBack {
                model: name.to_string(),
                from: current,
                to: target,
                reason: reason.to_string(),
            })
        })
        .await
    }

    /// Removes a version that carries no traffic.
    pub async fn remove(&self, name: &str, version: &str) -> Result<Change, DeployError> {
        // Held until the files are gone, so that a deploy of the same number
        // cannot store files that this removal then deletes.
        let n = parse_version(version)?;
        let Some(_slot) = self.loading.reserve(name, n) else {
            return Err(DeployError::Conflict(format!(
                "a deploy of {name}@{n} is in progress"
            )));
        };
        let (change, deployed) = self
            .change(name, |entry, ms| {
                let v = Self::version_of(entry, name, version)?;
                if let Some(why) = entry.carries_traffic(v) {
                    return Err(DeployError::Conflict(format!(
                        "{name}@{v} carries traffic ({why}); move traffic off it first"
                    )));
                }
                entry.versions.remove(&v);
                entry.previous.retain(|&p| p != v);
                let deployed = ms.deployed.contains(&v);
                ms.deployed.retain(|&d| d != v);
                // Also hide a repository folder with the same number, so the
                // removal sticks through the watch and restarts.
                if !ms.removed.contains(&v) {
                    ms.removed.push(v);
                }
                let id = VersionId::new(name, v);
                Ok((Change::Removed { id }, deployed.then_some(v)))
            })
            .await?;
        if let Some(v) = deployed {
            self.store.delete_version(name, v);
        }
        Ok(change)
    }

    /// Repository versions removed through the admin API.
    pub(crate) async fn removed_versions(&self) -> std::collections::HashSet<(String, u64)> {
        let state = self.state.lock().await;
        state
            .models
            .iter()
            .flat_map(|(name, ms)| ms.removed.iter().map(move |&v| (name.clone(), v)))
            .collect()
    }

    /// Loads a new repository version through the pipeline and adds it.
    /// Repository versions need no persisted record: the folder is the
    /// record. An unpinned primary (the highest version) moves to it.
    pub(crate) async fn adopt(&self, src: &VersionSource) -> Result<Change, DeployError> {
        let id = VersionId::new(&src.name, src.version);
        let what = id.to_string();
        let loaded = || Ok(Change::AlreadyLoaded { id: id.clone() });
        if self.is_loaded(&src.name, src.version) {
            return loaded();
        }
        let Some(_slot) = self.loading.reserve(&src.name, src.version) else {
            // Not a failure: the next poll finds it loaded, or tries again.
            return Ok(Change::LoadInProgress { id: id.clone() });
        };
        let model = repository::load_version(&self.runtime, src, &self.defaults)
            .await
            .map_err(|error| DeployError::Refused {
                what: what.clone(),
                error,
            })?;
        let _state = self.state.lock().await;
        if self.is_loaded(&src.name, src.version) {
            return loaded();
        }
        let mut table = (*self.registry.snapshot()).clone();
        let entry = table.models.entry(src.name.clone()).or_default();
        if let Some(conflict) = kind_conflict(entry, &model) {
            return Err(DeployError::Conflict(conflict));
        }
        let before = entry.primary_version();
        entry
            .versions
            .insert(src.version, Arc::new(ServedVersion::new(model)));
        let after = entry.primary_version();
        if let Some(old) = before.filter(|_| before != after) {
            entry.previous.retain(|&p| p != old);
            entry.previous.push(old);
        }
        self.registry.publish(table);
        self.note_promotion(&src.name, before, after);
        let change = Change::Loaded {
            primary: after == Some(src.version),
            id,
        };
        self.record(&src.name, change.to_string());
        Ok(change)
    }

    /// Unloads a repository version that its model's version policy no
    /// longer wants (it stays on disk).
    pub(crate) async fn unload(&self, name: &str, version: u64) -> Result<(), DeployError> {
        let _state = self.state.lock().await;
        let mut table = (*self.registry.snapshot()).clone();
        let Some(entry) = table.models.get_mut(name) else {
            return Ok(());
        };
        let from_repository = entry
            .versions
            .get(&version)
            .is_some_and(|m| m.source != DEPLOYED);
        if entry.carries_traffic(version).is_some() || !from_repository {
            return Ok(());
        }
        entry.versions.remove(&version);
        entry.previous.retain(|&p| p != version);
        self.registry.publish(table);
        self.record(
            name,
            format!("unloaded {name}@{version}: outside the version policy"),
        );
        Ok(())
    }

    /// Remembers when a model's primary changed (the rollout guard watches
    /// a new primary for a while).
    fn note_promotion(&self, name: &str, before: Option<u64>, after: Option<u64>) {
        if before != after {
            self.promoted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(name.to_string(), Instant::now());
        }
    }

    /// When a model's primary last changed.
    pub(crate) fn promoted_at(&self, name: &str) -> Option<Instant> {
        self.promoted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied()
    }
}

/// Why a version cannot join `entry`: a name holds models or policies,
/// never both.
fn kind_conflict(entry: &ModelEntry, new: &LoadedModel) -> Option<String> {
    let existing = entry.versions.values().next()?;
    (existing.kind != new.kind).then(|| {
        format!(
            "'{}' is a {}; version {} is a {} component: a name holds one kind",
            new.name,
            existing.kind.as_str(),
            new.version,
            new.kind.as_str()
        )
    })
}
