//! Fetching a version for a node: resolve the reference, check the
//! signature against the node's trust keys (before any layer is pulled),
//! pull through the node's blob cache. Used by `deploy --from oci://` and
//! by the follower.

use std::path::PathBuf;

use super::artifact::Unpacked;
use super::cache::BlobCache;
use super::remote::{Remote, RemoteError, RemoteOptions, parse_reference};
use super::signature::{self, TrustKey};

/// What a node needs to fetch versions: its blob cache, its trust keys
/// and how to reach registries.
#[derive(Clone, Debug)]
pub struct Fetcher {
    cache: BlobCache,
    trust: Vec<TrustKey>,
    options: RemoteOptions,
}

/// A fetched version.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The manifest digest it was fetched by.
    pub digest: String,
    /// Whether a trusted key's signature was checked.
    pub verified: bool,
    /// Its files and version number.
    pub unpacked: Unpacked,
    /// Bytes fetched from the registry for it (blobs not in the cache).
    pub pulled_bytes: u64,
}

impl Fetcher {
    /// A fetcher with a blob cache in `cache_dir`. With `trust` empty every
    /// version is accepted unsigned; otherwise only versions signed by one
    /// of the keys.
    pub fn new(cache_dir: PathBuf, trust: Vec<TrustKey>, options: RemoteOptions) -> Fetcher {
        Fetcher {
            cache: BlobCache::new(cache_dir),
            trust,
            options,
        }
    }

    /// Whether signatures are required.
    pub fn requires_signatures(&self) -> bool {
        !self.trust.is_empty()
    }

    /// A client for `reference`.
    pub fn remote(&self, reference: &str) -> Result<Remote, RemoteError> {
        Remote::new(parse_reference(reference)?, self.options.clone())
    }

    /// Resolves, verifies and pulls `reference` (one client for one
    /// fetch: `deploy --from`).
    pub async fn fetch(&self, reference: &str) -> Result<Fetched, RemoteError> {
        let remote = self.remote(reference)?;
        let digest = remote.resolve().await?;
        self.fetch_digest(&remote, &digest).await
    }

    /// Verifies and pulls `digest` of `remote`'s repository (a follower
    /// keeps one client per tag: its connections and tokens are reused).
    pub async fn fetch_digest(
        &self,
        remote: &Remote,
        digest: &str,
    ) -> Result<Fetched, RemoteError> {
        let digest = digest.to_string();
        if self.requires_signatures() {
            let signatures = remote.signatures(&digest, &self.cache).await?;
            signature::verify(&digest, &signatures, &self.trust)?;
        }
        let (unpacked, pulled_bytes) = remote.pull(&digest, &self.cache).await?;
        Ok(Fetched {
            digest,
            verified: self.requires_signatures(),
            unpacked,
            pulled_bytes,
        })
    }
}
