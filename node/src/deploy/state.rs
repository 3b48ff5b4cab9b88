//! The persisted deployment state: which versions exist beyond the
//! repository, which serves, canary, shadow and rollback history. Written
//! atomically on every acknowledged change and restored at start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{
    PrivateDirError, check_private_dir, create_private_dir_all, sync_dir, write_private,
};
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

impl DeployState {
    /// Reads a state file's contents: JSON of this format, every version a
    /// positive number, canary weights within 0-100, model names usable as
    /// folder names.
    pub fn parse(bytes: &[u8]) -> Result<DeployState, String> {
        let state: DeployState = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if state.format != FORMAT {
            return Err(format!("format {} is not {FORMAT}", state.format));
        }
        for (name, m) in &state.models {
            if !crate::repository::valid_name(name) {
                return Err(format!("model name {name:?} is not a valid name"));
            }
            let versions = m
                .primary
                .iter()
                .chain(m.canary.as_ref().map(|c| &c.version))
                .chain(&m.shadow)
                .chain(&m.previous)
                .chain(&m.deployed)
                .chain(&m.removed);
            if let Some(zero) = versions.into_iter().find(|&&v| v == 0) {
                return Err(format!(
                    "model {name}: version {zero} is not a positive number"
                ));
            }
            if let Some(c) = m.canary.filter(|c| c.weight > 100) {
                return Err(format!(
                    "model {name}: canary weight {} is above 100",
                    c.weight
                ));
            }
        }
        Ok(state)
    }
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
    /// The folder could be changed by someone other than this node.
    #[error("state folder refused: {0}")]
    NotPrivate(#[from] PrivateDirError),
}

/// The node's secret: keys the authentication of its AOT artifacts.
pub const NODE_KEY_FILE: &str = "node.key";
/// Bytes in the node key.
const NODE_KEY_LEN: usize = 32;

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
    /// Opens (creating, `0700`) a state folder. The folder and its
    /// `versions/` must belong to this user and be writable by no one
    /// else: whoever can write them can make the node run their code.
    pub fn open(dir: &Path) -> Result<StateStore, StateError> {
        let versions = dir.join("versions");
        create_private_dir_all(&versions).map_err(io(dir))?;
        check_private_dir(dir)?;
        check_private_dir(&versions)?;
        Ok(StateStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The node's secret key (`node.key`, `0600`), made on first use from
    /// the system's random source. Refused when it is not a private
    /// regular file of the right size.
    pub fn node_key(&self) -> Result<[u8; NODE_KEY_LEN], StateError> {
        let path = self.dir.join(NODE_KEY_FILE);
        let invalid = |message: String| StateError::Invalid {
            path: path.clone(),
            message,
        };
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; NODE_KEY_LEN];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
                    .map_err(|_| invalid("the system's random source failed".into()))?;
                write_private(&path, &key).map_err(io(&path))?;
                return Ok(key);
            }
            Err(e) => return Err(io(&path)(e)),
            Ok(meta) => {
                if !meta.file_type().is_file() {
                    return Err(invalid("not a regular file".into()));
                }
                #[cfg(unix)]
                {
                    use std::os::unix::fs::MetadataExt;
                    if meta.mode() & 0o077 != 0 {
                        return Err(invalid(format!(
                            "mode {:04o} lets others read the node's secret; run: chmod 600 {}",
                            meta.mode() & 0o7777,
                            path.display()
                        )));
                    }
                }
            }
        }
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        <[u8; NODE_KEY_LEN]>::try_from(bytes.as_slice())
            .map_err(|_| invalid(format!("holds {} bytes, not {NODE_KEY_LEN}", bytes.len())))
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
        DeployState::parse(&text).map_err(|message| StateError::Invalid { path, message })
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
        write_private(&path, &text).map_err(io(&path))
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
        create_private_dir_all(&parent).map_err(io(&parent))?;
        let tmp = parent.join(format!(".{version}.incoming-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        create_private_dir_all(&tmp).map_err(io(&tmp))?;
        for (name, contents) in files {
            write_private(&tmp.join(name), contents).map_err(io(&tmp))?;
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
    fn the_node_key_is_made_once_private_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = edgeserve_test_support::tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state")).unwrap();
        let key = store.node_key().unwrap();
        assert_eq!(store.node_key().unwrap(), key, "made once, then read");
        let path = dir.path().join("state").join(NODE_KEY_FILE);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            store
                .node_key()
                .unwrap_err()
                .to_string()
                .contains("chmod 600")
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"short").unwrap();
        assert!(store.node_key().unwrap_err().to_string().contains("not 32"));
        // A state folder others may write is refused outright.
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = StateStore::open(&open).unwrap_err().to_string();
        assert!(err.contains("can be written by group or others"), "{err}");
    }

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
