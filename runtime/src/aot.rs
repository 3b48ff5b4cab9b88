//! The ahead-of-time compilation cache: compiled components kept on disk,
//! keyed by the component's sha256 and the engine's settings, so a restart
//! loads them without compiling.
//!
//! An artifact is native code the server will run, so it is trusted only
//! when it proves it was written by this node for this exact component:
//! each file carries an HMAC-SHA256, keyed by the node's secret
//! (`<state>/node.key`), over the component's sha256, the engine key and
//! the artifact. A file copied from another component, another node or
//! another engine, or edited in any byte, fails the check and is compiled
//! again from the component, whose own digest the manifest may pin.

use std::hash::Hasher;
use std::path::PathBuf;

use ring::hmac;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::LoadError;
use crate::fsutil::{check_private_dir, create_private_dir_all, write_private};

/// The first bytes of every artifact file (format 2: HMAC-authenticated).
const MAGIC: &[u8] = b"edgeserve-aot-2\n";
/// Bytes of the HMAC tag after the magic.
const TAG_LEN: usize = 32;

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
pub struct AotCache {
    dir: PathBuf,
    engine_key: String,
    key: hmac::Key,
}

impl std::fmt::Debug for AotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AotCache")
            .field("dir", &self.dir)
            .field("engine_key", &self.engine_key)
            .finish_non_exhaustive()
    }
}

/// Feeds what a `Hash` implementation writes into SHA-256: a key that does
/// not change with the toolchain's `DefaultHasher`.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Never used: the full digest is read instead.
        0
    }
}

/// A key naming everything that shapes compiled code: wasmtime's
/// compatibility hash of the engine's settings, this edgeserve version and
/// the artifact format.
pub(crate) fn engine_key(engine: &Engine) -> String {
    let mut h = Sha256Hasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    h.write(MAGIC);
    hex::encode(&h.0.finalize()[..12])
}

/// Why an artifact file is not used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    /// Not in this cache's format at all.
    #[error("not an edgeserve AOT artifact")]
    Format,
    /// The tag does not match: not written by this node for this component
    /// and engine, or changed since.
    #[error("not authenticated: not written by this node for this component, or changed since")]
    Forged,
}

/// Checks an artifact file's envelope and returns the artifact inside it.
/// `digest` is the sha256 of the component the caller is loading.
pub fn open_artifact<'a>(
    key: &hmac::Key,
    engine_key: &str,
    digest: &str,
    file: &'a [u8],
) -> Result<&'a [u8], ArtifactError> {
    let body = file
        .strip_prefix(MAGIC)
        .filter(|b| b.len() >= TAG_LEN)
        .ok_or(ArtifactError::Format)?;
    let (tag, artifact) = body.split_at(TAG_LEN);
    let expected = sign(key, engine_key, digest, artifact);
    // Every byte is compared, so the time taken says nothing about where a
    // forged tag first differs.
    let diff = expected
        .as_ref()
        .iter()
        .zip(tag)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return Err(ArtifactError::Forged);
    }
    Ok(artifact)
}

/// The tag of an artifact: HMAC-SHA256 over the format, the component's
/// digest, the engine key and the artifact, NUL-separated (neither hex
/// string can hold a NUL; the artifact comes last).
fn sign(key: &hmac::Key, engine_key: &str, digest: &str, artifact: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    for part in [
        MAGIC,
        digest.as_bytes(),
        b"\0",
        engine_key.as_bytes(),
        b"\0",
        artifact,
    ] {
        ctx.update(part);
    }
    ctx.sign()
}

/// Wraps an artifact in its authenticated envelope.
pub fn seal_artifact(key: &hmac::Key, engine_key: &str, digest: &str, artifact: &[u8]) -> Vec<u8> {
    let tag = sign(key, engine_key, digest, artifact);
    let mut file = Vec::with_capacity(MAGIC.len() + TAG_LEN + artifact.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(tag.as_ref());
    file.extend_from_slice(artifact);
    file
}

/// The HMAC key of a node secret.
pub fn artifact_key(secret: &[u8]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret)
}

impl AotCache {
    /// A cache in `dir` (created `0700`, refused when others may write
    /// it) for artifacts of `engine`, authenticated with `secret`.
    pub fn new(dir: PathBuf, engine: &Engine, secret: &[u8]) -> Result<AotCache, String> {
        create_private_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        check_private_dir(&dir).map_err(|e| e.to_string())?;
        let cache = AotCache {
            dir,
            engine_key: engine_key(engine),
            key: artifact_key(secret),
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
                        tracing::info!(file = &*name, "removed an AOT artifact of another engine")
                    }
                    Err(e) => {
                        tracing::warn!(file = &*name, error = %e, "cannot remove a stale AOT artifact")
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
        let artifact = open_artifact(&self.key, &self.engine_key, digest, &data).map_err(|e| {
            tracing::warn!(file = %path.display(), error = %e, "refused an AOT artifact; compiling the component again");
            e.to_string()
        })?;
        // SAFETY: the HMAC, keyed by this node's secret, proves the bytes
        // are the output of `Component::serialize` that this node stored
        // for the component with sha256 `digest` and this engine's
        // settings; wasmtime checks the engine compatibility header again.
        #[allow(unsafe_code, reason = "loading an authenticated AOT artifact")]
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
            let file = seal_artifact(&self.key, &self.engine_key, digest, &artifact);
            if let Err(e) = write_private(&self.path(digest), &file) {
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
        let cache = AotCache::new(dir.path().to_path_buf(), &engine, &[7; 32]).unwrap();
        let ours = cache.path("d1");
        std::fs::write(&ours, b"ours").unwrap();
        let stale = dir.path().join("d1-0123456789abcdef.cwasm");
        std::fs::write(&stale, b"another engine's").unwrap();
        let other = dir.path().join("notes.txt");
        std::fs::write(&other, b"not an artifact").unwrap();
        AotCache::new(dir.path().to_path_buf(), &engine, &[7; 32]).unwrap();
        assert!(ours.exists());
        assert!(other.exists());
        assert!(!stale.exists());
    }

    #[test]
    fn an_artifact_opens_only_for_its_node_component_and_engine() {
        let key = artifact_key(&[1; 32]);
        let sealed = seal_artifact(&key, "engine-a", "digest-1", b"native code");
        assert_eq!(
            open_artifact(&key, "engine-a", "digest-1", &sealed),
            Ok(&b"native code"[..])
        );
        // Another component's artifact under this component's name.
        assert_eq!(
            open_artifact(&key, "engine-a", "digest-2", &sealed),
            Err(ArtifactError::Forged)
        );
        // Another engine, another node.
        assert_eq!(
            open_artifact(&key, "engine-b", "digest-1", &sealed),
            Err(ArtifactError::Forged)
        );
        let other_node = artifact_key(&[2; 32]);
        assert_eq!(
            open_artifact(&other_node, "engine-a", "digest-1", &sealed),
            Err(ArtifactError::Forged)
        );
        // Any changed byte, and files of the old format.
        for i in [MAGIC.len(), MAGIC.len() + TAG_LEN, sealed.len() - 1] {
            let mut bent = sealed.clone();
            bent[i] ^= 1;
            assert_eq!(
                open_artifact(&key, "engine-a", "digest-1", &bent),
                Err(ArtifactError::Forged)
            );
        }
        assert_eq!(
            open_artifact(&key, "engine-a", "digest-1", b"edgeserve-aot-1\nold"),
            Err(ArtifactError::Format)
        );
        assert_eq!(
            open_artifact(&key, "engine-a", "digest-1", MAGIC),
            Err(ArtifactError::Format)
        );
        // Any artifact length round-trips, the empty one too (found by
        // the aot_artifact fuzz target).
        let empty = seal_artifact(&key, "engine-a", "digest-1", b"");
        assert_eq!(
            open_artifact(&key, "engine-a", "digest-1", &empty),
            Ok(&b""[..])
        );
        // The engine key is stable for one engine and names its settings.
        assert_eq!(
            engine_key(&Engine::default()),
            engine_key(&Engine::default())
        );
    }
}
