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
        Ok(AotCache {
            dir,
            engine_key: format!("{:016x}", h.finish()),
        })
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
