//! The blob cache: every blob a node or `edgeserve pull` fetched, stored
//! under its digest (`<dir>/sha256/<hex>`), so a version that shares
//! layers with one already here pulls only what is new. A blob enters the
//! cache only whole and with the digest it is named by: it is streamed to
//! `<hex>.partial` (kept across failures, so a retry resumes where the
//! last attempt stopped), checked, synced and renamed into place.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::artifact::{ArtifactError, Descriptor};

/// A folder of blobs named by digest.
#[derive(Clone, Debug)]
pub struct BlobCache {
    dir: PathBuf,
}

/// The hex part of a `sha256:<hex>` digest, when it is one.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

fn bad_digest(d: &Descriptor) -> ArtifactError {
    ArtifactError::NotAVersion(format!(
        "digest '{}' is not sha256:<64 hex digits>",
        d.digest
    ))
}

impl BlobCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> BlobCache {
        BlobCache { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, hex: &str, suffix: &str) -> PathBuf {
        self.dir.join("sha256").join(format!("{hex}{suffix}"))
    }

    /// The blob's file, when the cache holds it whole.
    pub fn get(&self, d: &Descriptor) -> Option<PathBuf> {
        let path = self.path(sha256_hex(&d.digest)?, "");
        let len = std::fs::metadata(&path).ok()?.len();
        (len == d.size).then_some(path)
    }

    /// The blob's bytes from the cache, checked against its digest again
    /// (a cache on disk is not trusted more than the network).
    pub fn read(&self, d: &Descriptor) -> Result<Vec<u8>, String> {
        let path = self
            .get(d)
            .ok_or_else(|| format!("{} is not in the blob cache", d.digest))?;
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if super::artifact::digest_of(&bytes) != d.digest {
            // Damaged on disk: drop it so the next pull fetches it again.
            let _ = std::fs::remove_file(&path);
            return Err(format!(
                "{} in the blob cache is damaged (removed; it is fetched again next time)",
                d.digest
            ));
        }
        Ok(bytes)
    }

    /// Starts (or resumes) writing a blob: the partial file and how much
    /// of it is already there, with the hash of that part.
    pub fn begin(&self, d: &Descriptor) -> Result<Partial, ArtifactError> {
        let hex = sha256_hex(&d.digest).ok_or_else(|| bad_digest(d))?;
        let io = |e: std::io::Error| ArtifactError::Fetch {
            what: d.digest.clone(),
            reason: format!("blob cache {}: {e}", self.dir.display()),
        };
        let dir = self.dir.join("sha256");
        crate::fsutil::create_private_dir_all(&dir).map_err(io)?;
        let path = self.path(hex, ".partial");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut hasher = Sha256::new();
        let mut have = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            have += n as u64;
        }
        if have > d.size {
            file.set_len(0).map_err(io)?;
            hasher = Sha256::new();
            have = 0;
        }
        Ok(Partial {
            file,
            path,
            done: self.path(hex, ""),
            hasher,
            have,
            want: d.clone(),
        })
    }
}

/// A blob being written into the cache.
#[derive(Debug)]
pub struct Partial {
    file: std::fs::File,
    path: PathBuf,
    done: PathBuf,
    hasher: Sha256,
    have: u64,
    want: Descriptor,
}

impl Partial {
    /// Bytes already written (where a resumed fetch starts).
    pub fn have(&self) -> u64 {
        self.have
    }

    /// Discards what was written (the server sent the whole blob again).
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.hasher = Sha256::new();
        self.have = 0;
        Ok(())
    }

    /// Appends a chunk; more than the descriptor's size is refused (and
    /// the partial file dropped) before it is written.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), ArtifactError> {
        let have = self.have.saturating_add(chunk.len() as u64);
        if have > self.want.size {
            self.discard();
            return Err(ArtifactError::TooLarge {
                what: format!("blob {} (its descriptor says)", self.want.digest),
                size: have,
                limit: self.want.size,
            });
        }
        self.file
            .write_all(chunk)
            .map_err(|e| ArtifactError::Fetch {
                what: self.want.digest.clone(),
                reason: format!("{}: {e}", self.path.display()),
            })?;
        self.hasher.update(chunk);
        self.have = have;
        Ok(())
    }

    /// Whether every byte is here.
    pub fn complete(&self) -> bool {
        self.have == self.want.size
    }

    /// Checks the digest of the whole blob and moves it into the cache; a
    /// blob with another digest is dropped and refused.
    pub fn finish(self) -> Result<PathBuf, ArtifactError> {
        let got = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        if got != self.want.digest {
            self.discard();
            return Err(ArtifactError::Digest {
                what: format!("blob {}", self.want.digest),
                want: self.want.digest.clone(),
                got,
            });
        }
        let io = |e: std::io::Error| ArtifactError::Fetch {
            what: self.want.digest.clone(),
            reason: format!("{}: {e}", self.path.display()),
        };
        self.file.sync_all().map_err(io)?;
        std::fs::rename(&self.path, &self.done).map_err(io)?;
        if let Some(dir) = self.done.parent() {
            crate::fsutil::sync_dir(dir).map_err(io)?;
        }
        Ok(self.done.clone())
    }

    /// Drops the partial file.
    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::artifact::digest_of;

    fn descriptor(bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: "application/octet-stream".into(),
            digest: digest_of(bytes),
            size: bytes.len() as u64,
            annotations: Default::default(),
        }
    }

    #[test]
    fn a_blob_is_cached_whole_and_resumes_after_a_break() {
        let dir = edgeserve_test_support::tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path());
        let blob = b"0123456789".repeat(1000);
        let d = descriptor(&blob);
        assert!(cache.get(&d).is_none());
        let mut p = cache.begin(&d).unwrap();
        p.write(&blob[..4000]).unwrap();
        drop(p); // the connection broke
        let mut p = cache.begin(&d).unwrap();
        assert_eq!(p.have(), 4000);
        p.write(&blob[4000..]).unwrap();
        assert!(p.complete());
        p.finish().unwrap();
        assert_eq!(cache.read(&d).unwrap(), blob);
    }

    #[test]
    fn a_wrong_or_oversized_blob_never_enters_the_cache() {
        let dir = edgeserve_test_support::tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path());
        let d = descriptor(b"the real layer");
        let mut p = cache.begin(&d).unwrap();
        p.write(b"the fake layer").unwrap();
        let e = p.finish().unwrap_err();
        assert!(matches!(e, ArtifactError::Digest { .. }), "{e}");
        assert!(cache.get(&d).is_none());
        let mut p = cache.begin(&d).unwrap();
        assert_eq!(p.have(), 0, "the refused bytes were dropped");
        let e = p.write(&[0u8; 100]).unwrap_err();
        assert!(matches!(e, ArtifactError::TooLarge { .. }), "{e}");
        // A damaged cached file is noticed on read and dropped.
        let mut p = cache.begin(&d).unwrap();
        p.write(b"the real layer").unwrap();
        let path = p.finish().unwrap();
        std::fs::write(&path, b"the REAL layer").unwrap();
        assert!(cache.read(&d).unwrap_err().contains("damaged"));
        assert!(cache.get(&d).is_none());
    }
}
