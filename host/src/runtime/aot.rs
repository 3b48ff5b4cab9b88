//! The ahead-of-time compilation cache: compiled components kept on disk,
//! keyed by the component's sha256 and the engine's settings, so a restart
//! loads them without compiling. Every artifact carries its own sha256 and
//! is verified before it is trusted; a corrupt or stale one is recompiled.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::LoadError;
use crate::fsutil::write_atomic;

const MAGIC: &[u8] = b"edgeserve-aot-1\n";

/// How a component was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AotOutcome {
    /// Loaded from the cache without compiling.
    Hit,
    /// Compiled and stored in the cache.
    Compiled,
    /// The cached artifact was unusable (the reason); compiled and replaced.
    Recompiled(String),
    /// Compiled; no cache configured.
    NoCache,
    /// Already compiled in this process for another version with the same
    /// sha256 (one runner component serving many models).
    Shared,
}

/// The on-disk cache.
#[derive(Debug)]
pub struct AotCache {
    dir: PathBuf,
    engine_key: String,
}

impl AotCache {
    /// A cache in `dir` for artifacts of `engine`.
    pub fn new(dir: PathBuf, engine: &Engine) -> std::io::Result<AotCache> {
        std::fs::create_dir_all(&dir)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        let cache = AotCache {
            dir,
            engine_key: format!("{:016x}", h.finish()),
        };
        cache.prune_other_engines();
        Ok(cache)
    }

    /// Deletes artifacts made by another engine (another edgeserve version
    /// or other settings, such as a changed `memory_reservation`): no
    /// engine of this process can load them, and each is tens of MB.
    fn prune_other_engines(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let ours = format!("-{}.cwasm", self.engine_key);
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".cwasm") && !name.ends_with(&ours) {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {
                        tracing::info!(file = %name, "removed an AOT artifact of another engine")
                    }
                    Err(e) => {
                        tracing::warn!(file = %name, error = %e, "cannot remove a stale AOT artifact")
                    }
                }
            }
        }
    }

    /// The artifact file for a component digest.
    pub fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    fn read_verified(&self, engine: &Engine, digest: &str) -> Result<Option<Component>, String> {
        let path = self.path(digest);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let body = data
            .strip_prefix(MAGIC)
            .filter(|b| b.len() > 32)
            .ok_or("not an edgeserve AOT artifact")?;
        let (sum, artifact) = body.split_at(32);
        if Sha256::digest(artifact).as_slice() != sum {
            return Err("checksum mismatch (corrupt artifact)".into());
        }
        // SAFETY: the artifact was written by this cache (magic header) and
        // its sha256 matches what was recorded when it was written, so it is
        // the exact output of `Component::serialize` for this engine's
        // settings (the file name carries the engine key); wasmtime checks
        // the engine compatibility header again on its own.
        #[allow(unsafe_code, reason = "loading a verified AOT artifact")]
        let component = unsafe { Component::deserialize(engine, artifact) }
            .map_err(|e| format!("incompatible artifact: {e}"))?;
        Ok(Some(component))
    }

    /// The compiled component with sha256 `digest`, from the cache or
    /// from `compile` (given `true`: it must return the artifact to store).
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        compile: impl FnOnce(bool) -> Result<(Component, Option<Vec<u8>>), LoadError>,
    ) -> Result<(Component, AotOutcome), LoadError> {
        let outcome = match self.read_verified(engine, digest) {
            Ok(Some(c)) => return Ok((c, AotOutcome::Hit)),
            Ok(None) => AotOutcome::Compiled,
            Err(why) => AotOutcome::Recompiled(why),
        };
        let (component, artifact) = compile(true)?;
        if let Some(artifact) = artifact {
            let mut file = Vec::with_capacity(MAGIC.len() + 32 + artifact.len());
            file.extend_from_slice(MAGIC);
            file.extend_from_slice(&Sha256::digest(&artifact));
            file.extend_from_slice(&artifact);
            if let Err(e) = write_atomic(&self.path(digest), &file) {
                tracing::warn!(error = %e, "cannot write AOT artifact; continuing without it");
            }
        }
        Ok((component, outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeserve_test_support::tempfile;

    #[test]
    fn artifacts_of_other_engines_are_pruned_and_ours_kept() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = AotCache::new(dir.path().to_path_buf(), &engine).unwrap();
        let ours = cache.path("d1");
        std::fs::write(&ours, b"ours").unwrap();
        let stale = dir.path().join("d1-0123456789abcdef.cwasm");
        std::fs::write(&stale, b"another engine's").unwrap();
        let other = dir.path().join("notes.txt");
        std::fs::write(&other, b"not an artifact").unwrap();
        AotCache::new(dir.path().to_path_buf(), &engine).unwrap();
        assert!(ours.exists());
        assert!(other.exists());
        assert!(!stale.exists());
    }
}
