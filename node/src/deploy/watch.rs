//! Repository watch: new version folders are noticed by polling and
//! deployed through the same pipeline, once their files have stopped
//! changing (a half-copied file is never loaded), under the model's version
//! policy.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::Deployer;
use crate::repository::{self, MANIFEST_FILE, VersionSource};

/// File in a model folder that holds model-wide settings.
pub const MODEL_FILE: &str = "model.toml";

/// Which versions of a model the repository serves (as Triton's
/// `version_policy`).
#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum VersionPolicy {
    /// Every version.
    #[default]
    All,
    /// The highest N versions.
    Latest(usize),
    /// Only these versions.
    Specific(Vec<u64>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    #[serde(default)]
    version_policy: VersionPolicy,
}

impl VersionPolicy {
    /// Reads `<model>/model.toml`; absent means every version.
    pub fn read(model_dir: &Path) -> Result<VersionPolicy, String> {
        let path = model_dir.join(MODEL_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<ModelFile>(&text)
                .map(|m| m.version_policy)
                .map_err(|e| format!("invalid {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(VersionPolicy::All),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// The versions, of those found, that the policy serves.
    pub fn select(&self, mut found: Vec<u64>) -> Vec<u64> {
        found.sort_unstable();
        match self {
            VersionPolicy::All => found,
            VersionPolicy::Latest(n) => found.split_off(found.len().saturating_sub(*n)),
            VersionPolicy::Specific(list) => {
                found.into_iter().filter(|v| list.contains(v)).collect()
            }
        }
    }
}

/// Name, size and modification time of every file in a version folder.
type Fingerprint = Vec<(String, u64, SystemTime)>;

/// A version of a model.
type VersionKey = (String, u64);

/// The fingerprint of a version folder.
fn fingerprint(dir: &Path) -> Option<Fingerprint> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let meta = entry.metadata().ok()?;
        if meta.is_file() {
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                meta.len(),
                meta.modified().ok()?,
            ));
        }
    }
    out.sort();
    Some(out)
}

/// Polls the repository every `every` and deploys new versions.
pub async fn watch_repository(deployer: Arc<Deployer>, every: Duration) {
    let Some(root) = deployer.repository().map(Path::to_path_buf) else {
        return;
    };
    // Fingerprints seen at the previous poll, and fingerprints that failed.
    let mut pending: HashMap<VersionKey, Fingerprint> = HashMap::new();
    let mut failed: HashMap<VersionKey, Fingerprint> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok((sources, _)) = repository::scan(&root) else {
            continue;
        };
        let table = deployer.registry().snapshot();
        let removed = deployer.removed_versions().await;
        let mut by_model: HashMap<String, Vec<VersionSource>> = HashMap::new();
        for s in sources {
            by_model.entry(s.name.clone()).or_default().push(s);
        }
        for (model, versions) in by_model {
            let policy = match VersionPolicy::read(&root.join(&model)) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(model = %model, error = %e, "repository watch: skipping model");
                    continue;
                }
            };
            let wanted = policy.select(versions.iter().map(|s| s.version).collect());
            for src in versions.into_iter().filter(|s| wanted.contains(&s.version)) {
                let key = (src.name.clone(), src.version);
                let loaded = table
                    .models
                    .get(&src.name)
                    .is_some_and(|e| e.versions.contains_key(&src.version));
                if loaded || removed.contains(&key) {
                    continue;
                }
                // Only a folder with a manifest whose files did not change
                // since the last poll is ready.
                if !src.dir.join(MANIFEST_FILE).exists() {
                    continue;
                }
                let Some(fp) = fingerprint(&src.dir) else {
                    continue;
                };
                if failed.get(&key) == Some(&fp) {
                    continue;
                }
                if pending.get(&key) != Some(&fp) {
                    pending.insert(key, fp);
                    continue;
                }
                pending.remove(&key);
                match deployer.adopt(&src).await {
                    Ok(msg) => {
                        failed.remove(&key);
                        tracing::info!(model = %src.name, version = src.version, "repository watch: {msg}");
                    }
                    Err(e) => {
                        tracing::error!(what = %format!("{}@{}", src.name, src.version), reason = %e, "refused");
                        failed.insert(key, fp);
                    }
                }
            }
            // Versions the policy no longer wants, that came from the
            // repository and carry no traffic, are unloaded.
            if let Some(entry) = table.models.get(&model) {
                for (&v, m) in &entry.versions {
                    if !wanted.contains(&v)
                        && m.source != super::DEPLOYED
                        && entry.carries_traffic(v).is_none()
                        && let Err(e) = deployer.unload(&model, v).await
                    {
                        tracing::warn!(model = %model, version = v, error = %e, "repository watch: cannot unload");
                    }
                }
            }
        }
    }
}
