//! The persisted deployment state: which versions exist beyond the
//! repository, which serves, canary, shadow and rollback history. Written
//! atomically on every acknowledged change and restored at start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{sync_dir, write_atomic};
use crate::registry::Canary;

/// Current file format.
const FORMAT: u32 = 1;

/// Everything that must survive a restart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployState {
    /// File format version.
    pub format: u32,
    /// Per-model state.
    pub models: BTreeMap<String, ModelState>,
}

/// One model's deployment state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelState {
    /// Explicit primary; `None` means the highest version.
    pub primary: Option<u64>,
    /// Canary and weight.
    pub canary: Option<Canary>,
    /// Shadow version.
    pub shadow: Option<u64>,
    /// Earlier primaries, most recent last.
    pub previous: Vec<u64>,
    /// Versions deployed through the admin API (kept in the state folder).
    pub deployed: Vec<u64>,
    /// Repository versions removed through the admin API (not loaded again).
    pub removed: Vec<u64>,
}

/// Why the state folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state folder {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The state file is not valid.
    #[error("state file {path} is invalid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The state folder: `state.json`, `versions/<model>/<version>/` and `aot/`.
#[derive(Clone, Debug)]
pub struct StateStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl StateStore {
    /// Opens (creating) a state folder.
    pub fn open(dir: &Path) -> Result<StateStore, StateError> {
        std::fs::create_dir_all(dir.join("versions")).map_err(io(dir))?;
        Ok(StateStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Reads the state; an absent file is an empty state.
    pub fn load(&self) -> Result<DeployState, StateError> {
        let path = self.state_file();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DeployState {
                    format: FORMAT,
                    models: BTreeMap::new(),
                });
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let state: DeployState =
            serde_json::from_slice(&text).map_err(|e| StateError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
        if state.format != FORMAT {
            return Err(StateError::Invalid {
                path,
                message: format!("format {} is not {FORMAT}", state.format),
            });
        }
        Ok(state)
    }

    /// Writes the state atomically.
    pub fn save(&self, state: &DeployState) -> Result<(), StateError> {
        let path = self.state_file();
        let mut state = state.clone();
        state.format = FORMAT;
        let text = serde_json::to_vec_pretty(&state).map_err(|e| StateError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&path, &text).map_err(io(&path))
    }

    /// The folder of a deployed version.
    pub fn version_dir(&self, model: &str, version: u64) -> PathBuf {
        self.dir
            .join("versions")
            .join(model)
            .join(version.to_string())
    }

    /// Stores a deployed version's files (name → contents) durably: written
    /// to a temporary folder, fsynced, then renamed into place.
    pub fn store_version(
        &self,
        model: &str,
        version: u64,
        files: &[(String, Vec<u8>)],
    ) -> Result<PathBuf, StateError> {
        let dest = self.version_dir(model, version);
        let parent = dest.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let tmp = parent.join(format!(".{version}.incoming-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        for (name, contents) in files {
            write_atomic(&tmp.join(name), contents).map_err(io(&tmp))?;
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(io(&dest))?;
        }
        std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
        sync_dir(&parent).map_err(io(&parent))?;
        Ok(dest)
    }

    /// Deletes a deployed version's files.
    pub fn delete_version(&self, model: &str, version: u64) {
        let dir = self.version_dir(model, version);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot delete a removed version's files");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let dir = std::env::temp_dir().join(format!("edgeserve-state-{}", std::process::id()));
        let store = StateStore::open(&dir).unwrap();
        assert!(store.load().unwrap().models.is_empty());
        let mut s = DeployState::default();
        s.models.insert(
            "iris".into(),
            ModelState {
                primary: Some(2),
                canary: Some(Canary {
                    version: 3,
                    weight: 10,
                }),
                previous: vec![1],
                deployed: vec![3],
                ..Default::default()
            },
        );
        store.save(&s).unwrap();
        let back = store.load().unwrap();
        assert_eq!(back.models, s.models);
        std::fs::write(
            dir.join("state.json"),
            b"{\"format\":1,\"models\":{\"x\":{\"primry\":1}}}",
        )
        .unwrap();
        assert!(store.load().is_err());
        let stored = store
            .store_version("iris", 3, &[("model.wasm".into(), b"bytes".to_vec())])
            .unwrap();
        assert_eq!(std::fs::read(stored.join("model.wasm")).unwrap(), b"bytes");
        store.delete_version("iris", 3);
        assert!(!stored.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
