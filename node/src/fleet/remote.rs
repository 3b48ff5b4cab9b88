//! One repository in an OCI registry: resolve a tag, push and pull a
//! version, read and write its cosign signatures. Built on `oci-client`
//! (rustls on ring, no OpenSSL).
//!
//! Plain HTTP is spoken only to a registry on a loopback address, or when
//! the caller asked for it ([`RemoteOptions::plain_http`]); everything
//! else is HTTPS with the system's web PKI roots. Blobs stream into the
//! [`BlobCache`] with their size and digest checked as they arrive, and a
//! broken transfer resumes from where it stopped (HTTP range) for a few
//! attempts with growing pauses.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::StreamExt as _;
use http::HeaderValue;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use super::artifact::{
    self, ArtifactError, Caps, Descriptor, ImageManifest, MANIFEST_MEDIA_TYPE, Packed, Unpacked,
};
use super::cache::BlobCache;
use super::credentials::{self, Credentials};
use super::signature;

/// Media type of a cosign signature layer (the simple-signing payload).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation that carries a cosign signature, base64.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Config media type of cosign's signature manifests.
const OCI_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Largest signature payload read.
const PAYLOAD_CAP: u64 = 64 * 1024;
/// Most signatures read for one version.
const SIGNATURES_CAP: usize = 32;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The reference is not `registry/repository[:tag|@digest]`.
    #[error(
        "'{reference}' is not an OCI reference (REGISTRY/REPOSITORY:TAG or @sha256:...): {reason}"
    )]
    Reference {
        /// What was given.
        reference: String,
        /// The parser's words.
        reason: String,
    },
    /// Plain HTTP to a registry off loopback was not asked for.
    #[error(
        "{registry} is not on a loopback address: refusing plain HTTP; use HTTPS, or pass \
         --plain-http if this network is trusted"
    )]
    Plaintext {
        /// The registry.
        registry: String,
    },
    /// Credentials could not be read.
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    /// The registry could not be asked, or refused.
    #[error("registry {registry}: {what}: {reason}")]
    Registry {
        /// The registry.
        registry: String,
        /// What was being done.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The registry asked for credentials, or refused the ones given.
    #[error(
        "registry {registry} refused the credentials (or needs some): set \
         EDGESERVE_REGISTRY_USERNAME and EDGESERVE_REGISTRY_PASSWORD, or `docker login {registry}` \
         (the Docker config file is read; credential helpers are not)"
    )]
    Unauthorized {
        /// The registry.
        registry: String,
    },
    /// The registry has no such tag or digest.
    #[error("{reference} is not in the registry")]
    NotFound {
        /// The reference.
        reference: String,
    },
    /// The artifact is not a version, or failed a check.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The signature check refused the version.
    #[error(transparent)]
    Signature(#[from] signature::SignatureError),
}

impl RemoteError {
    /// Whether trying again later may succeed (the network or the registry
    /// was unavailable), as opposed to content that is wrong.
    pub fn is_transient(&self) -> bool {
        matches!(self, RemoteError::Registry { .. })
    }
}

/// How to reach a registry.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// Speak plain HTTP to a registry that is not on loopback.
    pub plain_http: bool,
    /// Caps on what is pulled.
    pub caps: Caps,
    /// Attempts per blob before a pull gives up.
    pub attempts: u32,
    /// Connect and read timeout of each request.
    pub timeout: Duration,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            plain_http: false,
            caps: Caps {
                document: 4 * 1024 * 1024,
                total: 1024 * 1024 * 1024,
            },
            attempts: 4,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Parses `[oci://]REGISTRY/REPOSITORY[:TAG][@sha256:HEX]` (a tag alone
/// means `latest`). The registry must be explicit (a host with a `.` or a
/// port, or `localhost`): an edge node never guesses Docker Hub.
///
/// Our own parser, not `oci_spec`'s: that one compiles a large regular
/// expression on first use, which left about 12 MiB resident in every
/// process that parsed one reference (measured: 0.5 → 12.4 MiB anonymous
/// memory).
pub fn parse_reference(text: &str) -> Result<Reference, RemoteError> {
    let bad = |reason: &str| RemoteError::Reference {
        reference: text.to_string(),
        reason: reason.to_string(),
    };
    let bare = text.strip_prefix("oci://").unwrap_or(text);
    let (rest, digest) = match bare.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (bare, None),
    };
    if digest.is_some_and(|d| super::cache::sha256_hex(d).is_none()) {
        return Err(bad("the digest is not sha256:<64 lowercase hex digits>"));
    }
    let Some((registry, path)) = rest.split_once('/') else {
        return Err(bad("no registry: give REGISTRY/REPOSITORY:TAG"));
    };
    let host_like = registry.contains('.') || registry.contains(':') || registry == "localhost";
    let registry_chars = registry
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !host_like || !registry_chars {
        return Err(bad(
            "the first part must be a registry (a host with a '.' or a ':port', or localhost)",
        ));
    }
    let (repository, tag) = match path.rsplit_once(':') {
        Some((r, t)) => (r, Some(t)),
        None => (path, None),
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter()
                .all(|&x| x.is_ascii_lowercase() || x.is_ascii_digit() || b"._-".contains(&x))
    };
    if repository.is_empty() || repository.len() > 255 || !repository.split('/').all(component_ok) {
        return Err(bad(
            "the repository must be lowercase letters, digits and . _ - between slashes",
        ));
    }
    let tag_ok = |t: &str| {
        (1..=128).contains(&t.len())
            && !t.starts_with(['.', '-'])
            && t.bytes()
                .all(|x| x.is_ascii_alphanumeric() || b"._-".contains(&x))
    };
    if tag.is_some_and(|t| !tag_ok(t)) {
        return Err(bad(
            "a tag is 1-128 letters, digits, . _ - (not starting with . or -)",
        ));
    }
    let (registry, repository) = (registry.to_string(), repository.to_string());
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => {
            Reference::with_tag_and_digest(registry, repository, t.to_string(), d.to_string())
        }
        (None, Some(d)) => Reference::with_digest(registry, repository, d.to_string()),
        (t, None) => Reference::with_tag(registry, repository, t.unwrap_or("latest").to_string()),
    })
}

/// Whether `registry` (`host[:port]`) is on a loopback address.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A repository in a registry, with the client and credentials to reach it.
pub struct Remote {
    client: Client,
    auth: RegistryAuth,
    reference: Reference,
    options: RemoteOptions,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("reference", &self.reference.whole())
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// A client for `reference`'s repository.
    pub fn new(reference: Reference, options: RemoteOptions) -> Result<Remote, RemoteError> {
        // oci-client's rustls takes the process's crypto provider: ring,
        // as everywhere else in edgeserve (a no-op once installed).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let registry = reference.resolve_registry().to_string();
        let loopback = is_loopback(&registry);
        let protocol = if loopback || options.plain_http {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        if !loopback && options.plain_http {
            tracing::warn!(%registry, "speaking plain HTTP to a registry off loopback (--plain-http)");
        }
        let auth = match credentials::for_registry(&registry)? {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => RegistryAuth::Basic(username, password),
        };
        let client = Client::new(ClientConfig {
            protocol,
            read_timeout: Some(options.timeout),
            connect_timeout: Some(options.timeout),
            ..ClientConfig::default()
        });
        Ok(Remote {
            client,
            auth,
            reference,
            options,
        })
    }

    /// The reference this client was made for.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// `registry/repository`, as signatures name it.
    pub fn repository(&self) -> String {
        format!(
            "{}/{}",
            self.reference.registry(),
            self.reference.repository()
        )
    }

    fn at(&self, tag_or_digest: &str) -> Reference {
        let registry = self.reference.registry().to_string();
        let repository = self.reference.repository().to_string();
        if tag_or_digest.starts_with("sha256:") {
            Reference::with_digest(registry, repository, tag_or_digest.to_string())
        } else {
            Reference::with_tag(registry, repository, tag_or_digest.to_string())
        }
    }

    fn failed(
        &self,
        what: impl Into<String>,
    ) -> impl FnOnce(oci_client::errors::OciDistributionError) -> RemoteError + '_ {
        let what = what.into();
        move |e| {
            let reason = e.to_string();
            if is_unauthorized(&e) {
                RemoteError::Unauthorized {
                    registry: self.reference.registry().to_string(),
                }
            } else if is_not_found(&e) {
                RemoteError::NotFound {
                    reference: self.reference.whole(),
                }
            } else {
                RemoteError::Registry {
                    registry: self.reference.registry().to_string(),
                    what,
                    reason,
                }
            }
        }
    }

    /// The manifest digest the reference names now: the digest itself for
    /// `@sha256:...`, else the tag's (one HEAD request).
    pub async fn resolve(&self) -> Result<String, RemoteError> {
        if let Some(d) = self.reference.digest() {
            return Ok(d.to_string());
        }
        self.client
            .fetch_manifest_digest(&self.reference, &self.auth)
            .await
            .map_err(self.failed("resolving the tag"))
    }

    /// The manifest's bytes by digest (its digest checked by the caller's
    /// [`artifact::unpack`]).
    pub async fn manifest(&self, digest: &str) -> Result<Vec<u8>, RemoteError> {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(&self.at(digest), &self.auth, &[MANIFEST_MEDIA_TYPE])
            .await
            .map_err(self.failed(format!("fetching manifest {digest}")))?;
        if bytes.len() as u64 > self.options.caps.document {
            return Err(ArtifactError::TooLarge {
                what: "the manifest".into(),
                size: bytes.len() as u64,
                limit: self.options.caps.document,
            }
            .into());
        }
        Ok(bytes.to_vec())
    }

    /// Pulls the version `digest` names through `cache` (fetching only the
    /// blobs not already there) and returns its files, checked, with the
    /// bytes fetched from the registry.
    pub async fn pull(
        &self,
        digest: &str,
        cache: &BlobCache,
    ) -> Result<(Unpacked, u64), RemoteError> {
        let manifest = self.manifest(digest).await?;
        let image = artifact::read_manifest(&manifest, digest, self.options.caps)?;
        let mut pulled = 0;
        for d in std::iter::once(&image.config).chain(&image.layers) {
            if cache.get(d).is_none() {
                self.fetch_blob(d, cache).await?;
                pulled += d.size;
            }
        }
        let unpacked = artifact::unpack(&manifest, digest, self.options.caps, |d| cache.read(d))?;
        Ok((unpacked, pulled))
    }

    /// Fetches one blob into the cache unless it is there, resuming a
    /// broken transfer. Content that is wrong fails at once; an
    /// unreachable registry is tried `attempts` times.
    pub async fn fetch_blob(&self, d: &Descriptor, cache: &BlobCache) -> Result<(), RemoteError> {
        if cache.get(d).is_some() {
            return Ok(());
        }
        let mut pause = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match self.fetch_once(d, cache).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() && attempt < self.options.attempts => {
                    tracing::warn!(digest = %d.digest, attempt, error = %e, "blob transfer broke; resuming");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn fetch_once(&self, d: &Descriptor, cache: &BlobCache) -> Result<(), RemoteError> {
        let mut partial = cache.begin(d)?;
        let layer = d.digest.as_str();
        let stream = if partial.have() > 0 {
            match self
                .client
                .pull_blob_stream_partial(&self.reference, &layer, partial.have(), None)
                .await
                .map_err(self.failed(format!("fetching blob {}", d.digest)))?
            {
                oci_client::client::BlobResponse::Partial(s) => s,
                oci_client::client::BlobResponse::Full(s) => {
                    partial.restart().map_err(|e| ArtifactError::Fetch {
                        what: d.digest.clone(),
                        reason: e.to_string(),
                    })?;
                    s
                }
            }
        } else {
            self.client
                .pull_blob_stream(&self.reference, &layer)
                .await
                .map_err(self.failed(format!("fetching blob {}", d.digest)))?
        };
        let mut stream = stream.stream;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => partial.write(&bytes)?,
                // The client's own digest check ends the stream with an
                // error once every byte is in: ours says it better.
                Err(_) if partial.complete() => break,
                Err(e) => {
                    return Err(RemoteError::Registry {
                        registry: self.reference.registry().to_string(),
                        what: format!("fetching blob {}", d.digest),
                        reason: e.to_string(),
                    });
                }
            }
        }
        if !partial.complete() {
            return Err(RemoteError::Registry {
                registry: self.reference.registry().to_string(),
                what: format!("fetching blob {}", d.digest),
                reason: format!(
                    "the transfer ended at {} of {} bytes",
                    partial.have(),
                    d.size
                ),
            });
        }
        partial.finish()?;
        Ok(())
    }

    async fn push_blob(&self, d: &Descriptor, bytes: &[u8]) -> Result<(), RemoteError> {
        let exists = self
            .client
            .blob_exists(&self.reference, &d.digest)
            .await
            .unwrap_or(false);
        if exists {
            return Ok(());
        }
        self.client
            .push_blob(&self.reference, bytes.to_vec(), &d.digest)
            .await
            .map_err(self.failed(format!("pushing blob {}", d.digest)))?;
        Ok(())
    }

    async fn push_manifest(&self, tag_or_digest: &str, manifest: &[u8]) -> Result<(), RemoteError> {
        self.client
            .push_manifest_raw(
                &self.at(tag_or_digest),
                manifest.to_vec(),
                HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
            )
            .await
            .map_err(self.failed(format!("pushing the manifest to {tag_or_digest}")))?;
        Ok(())
    }

    /// Pushes a packed version (blobs the registry already has are not
    /// sent again) by its digest, without moving any tag; returns the
    /// digest. [`Remote::tag`] then points the reference's tag at it, so a
    /// signature can be in place before any node sees the tag move.
    pub async fn push(&self, packed: &Packed) -> Result<String, RemoteError> {
        // Authenticate for pushing first (a registry with token auth
        // hands out push scope only when asked for it).
        self.client
            .auth(&self.reference, &self.auth, RegistryOperation::Push)
            .await
            .map_err(self.failed("authenticating to push"))?;
        for blob in std::iter::once(&packed.config).chain(&packed.layers) {
            self.push_blob(&blob.descriptor, &blob.bytes).await?;
        }
        self.push_manifest(&packed.digest, &packed.manifest).await?;
        Ok(packed.digest.clone())
    }

    /// Points the reference's tag (`latest` without one) at `manifest`.
    pub async fn tag(&self, manifest: &Packed) -> Result<(), RemoteError> {
        let tag = self.reference.tag().unwrap_or("latest").to_string();
        self.push_manifest(&tag, &manifest.manifest).await
    }

    /// The tag cosign keeps `digest`'s signatures under.
    fn signature_tag(digest: &str) -> String {
        digest.replacen(':', "-", 1) + ".sig"
    }

    /// The signature manifest of `digest`, if it has one.
    async fn signature_manifest(&self, digest: &str) -> Result<Option<ImageManifest>, RemoteError> {
        let tag = Self::signature_tag(digest);
        let bytes = match self
            .client
            .pull_manifest_raw(&self.at(&tag), &self.auth, &[MANIFEST_MEDIA_TYPE])
            .await
        {
            Ok((bytes, _)) => bytes,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(self.failed(format!("fetching signatures ({tag})"))(e)),
        };
        if bytes.len() as u64 > self.options.caps.document {
            return Err(ArtifactError::TooLarge {
                what: format!("signature manifest {tag}"),
                size: bytes.len() as u64,
                limit: self.options.caps.document,
            }
            .into());
        }
        let image = serde_json::from_slice(&bytes).map_err(|e| ArtifactError::Malformed {
            what: "the signature manifest",
            reason: e.to_string(),
        })?;
        Ok(Some(image))
    }

    /// Every signature stored for `digest`: (payload, base64 signature).
    pub async fn signatures(
        &self,
        digest: &str,
        cache: &BlobCache,
    ) -> Result<Vec<(Vec<u8>, String)>, RemoteError> {
        let Some(image) = self.signature_manifest(digest).await? else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for layer in image
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE && l.size <= PAYLOAD_CAP)
            .take(SIGNATURES_CAP)
        {
            let Some(sig) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
                continue;
            };
            self.fetch_blob(layer, cache).await?;
            let payload = cache.read(layer).map_err(|reason| ArtifactError::Fetch {
                what: "a signature payload".into(),
                reason,
            })?;
            found.push((payload, sig.clone()));
        }
        Ok(found)
    }

    /// Adds a signature of `digest` (payload and base64 signature) to its
    /// cosign signature manifest, keeping the signatures already there.
    pub async fn push_signature(
        &self,
        digest: &str,
        payload: &[u8],
        signature: &str,
    ) -> Result<(), RemoteError> {
        self.client
            .auth(&self.reference, &self.auth, RegistryOperation::Push)
            .await
            .map_err(self.failed("authenticating to push"))?;
        let mut layers = self
            .signature_manifest(digest)
            .await?
            .map(|m| m.layers)
            .unwrap_or_default();
        let layer = Descriptor {
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
            digest: artifact::digest_of(payload),
            size: payload.len() as u64,
            annotations: [(SIGNATURE_ANNOTATION.to_string(), signature.to_string())].into(),
        };
        if !layers.contains(&layer) {
            layers.push(layer.clone());
        }
        self.push_blob(&layer, payload).await?;
        // cosign's config: an image config whose rootfs lists the layers.
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "", "os": "", "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap_or_default();
        let config_d = Descriptor {
            media_type: OCI_CONFIG_MEDIA_TYPE.to_string(),
            digest: artifact::digest_of(&config),
            size: config.len() as u64,
            annotations: Default::default(),
        };
        self.push_blob(&config_d, &config).await?;
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.to_string()),
            artifact_type: None,
            config: config_d,
            layers,
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| ArtifactError::Malformed {
            what: "the signature manifest",
            reason: e.to_string(),
        })?;
        self.push_manifest(&Self::signature_tag(digest), &bytes)
            .await
    }
}

/// Whether the registry asked for (other) credentials.
fn is_unauthorized(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match e {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => true,
        E::ServerError { code, .. } => *code == 401 || *code == 403,
        E::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            matches!(
                x.code,
                oci_client::errors::OciErrorCode::Unauthorized
                    | oci_client::errors::OciErrorCode::Denied
            )
        }),
        _ => false,
    }
}

/// Whether the registry said "no such manifest or blob".
fn is_not_found(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match e {
        E::ImageManifestNotFoundError(_) => true,
        E::ServerError { code, .. } => *code == 404,
        E::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            matches!(
                x.code,
                oci_client::errors::OciErrorCode::ManifestUnknown
                    | oci_client::errors::OciErrorCode::BlobUnknown
                    | oci_client::errors::OciErrorCode::NameUnknown
            )
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_recognized() {
        for r in [
            "127.0.0.1:5000",
            "localhost:5000",
            "[::1]:5000",
            "127.0.0.1",
            "LOCALHOST",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in [
            "registry.example:5000",
            "10.0.0.1:5000",
            "[fe80::1]:5000",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn references_parse_with_or_without_the_scheme() {
        let r = parse_reference("oci://127.0.0.1:5000/models/iris:canary").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "models/iris");
        assert_eq!(r.tag(), Some("canary"));
        assert!(parse_reference("127.0.0.1:5000/Iris:1").is_err());
        assert!(parse_reference("127.0.0.1:5000/iris:bad tag").is_err());
        assert!(parse_reference("iris:1").is_err(), "no registry");
        assert!(parse_reference("models/iris:1").is_err(), "no registry");
        assert!(parse_reference("127.0.0.1:5000/iris@sha256:abc").is_err());
        let hex = "0123456789abcdef".repeat(4);
        let r = parse_reference(&format!("localhost/iris@sha256:{hex}")).unwrap();
        assert_eq!(r.digest(), Some(format!("sha256:{hex}").as_str()));
        let r = parse_reference("registry.example.com/a/b-c/d_e.f").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("registry.example.com", "a/b-c/d_e.f", Some("latest"))
        );
        assert_eq!(Remote::signature_tag("sha256:abc"), "sha256-abc.sig");
    }
}
