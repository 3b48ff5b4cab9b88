//! A model or policy version as an OCI artifact, and back.
//!
//! One image manifest per version:
//! - a config blob of our own media type ([`CONFIG_MEDIA_TYPE`]) holding the
//!   version's `manifest.toml`, the component's world and WIT version, and
//!   the title, digest and size of every layer, so each config is unique to
//!   its content (identical configs made other registries' clients serve
//!   stale content);
//! - the component as an `application/wasm` layer;
//! - every other file of the version folder (smoke test, ONNX graph, drift
//!   baseline) as its own layer, named by `org.opencontainers.image.title`.
//!
//! The CNCF single-layer Wasm artifact (`application/vnd.wasm.config.v0+json`
//! and one `application/wasm` layer, what `wkg oci push` and wasmCloud
//! make) is read too, as a component with an empty manifest.
//!
//! [`unpack`] trusts nothing it is handed: the manifest must have the digest
//! the caller resolved, every blob the digest and size its descriptor
//! names (within the caller's caps), every title must be a plain file name
//! used once, and the config must list exactly the manifest's layers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::repository::{MANIFEST_FILE, Manifest, plain_file_name};

/// Media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of our config blob (and the manifest's `artifactType`).
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.edgeserve.version.config.v1+json";
/// Media type of a WebAssembly component layer.
pub const WASM_MEDIA_TYPE: &str = "application/wasm";
/// Media type of any other file of a version folder.
pub const FILE_MEDIA_TYPE: &str = "application/vnd.edgeserve.version.file.v1";
/// Config media type of the CNCF single-layer Wasm artifact.
pub const CNCF_WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The annotation that names a layer's file.
pub const TITLE: &str = "org.opencontainers.image.title";

/// Why an artifact cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// A document is not the JSON it should be.
    #[error("{what} is not valid: {reason}")]
    Malformed {
        /// Which document.
        what: &'static str,
        /// The parser's words.
        reason: String,
    },
    /// Content does not have the digest it was named by.
    #[error("{what} has digest {got}, not {want}: refused (corrupted in transit or tampered)")]
    Digest {
        /// Which content.
        what: String,
        /// The digest it should have.
        want: String,
        /// The digest it has.
        got: String,
    },
    /// Content is larger than allowed or than its descriptor says.
    #[error("{what} is {size} bytes, over {limit}")]
    TooLarge {
        /// Which content.
        what: String,
        /// Its size.
        size: u64,
        /// The most allowed.
        limit: u64,
    },
    /// The artifact is not a version this node can read.
    #[error("not an edgeserve version: {0}")]
    NotAVersion(String),
    /// A blob could not be fetched.
    #[error("cannot fetch {what}: {reason}")]
    Fetch {
        /// Which blob.
        what: String,
        /// Why.
        reason: String,
    },
}

/// A content descriptor: what a manifest says about one blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Annotations (the layer's title).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest (the fields we write and read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MANIFEST_MEDIA_TYPE`].
    #[serde(default)]
    pub media_type: Option<String>,
    /// [`CONFIG_MEDIA_TYPE`] for ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    pub layers: Vec<Descriptor>,
}

/// Our config blob: the version's manifest and what each layer is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionConfig {
    /// The text of the version's `manifest.toml`.
    pub manifest: String,
    /// `model` or `policy`.
    pub world: String,
    /// The edgeserve WIT version the component targets.
    pub wit_version: String,
    /// Every layer, in the manifest's order.
    pub layers: Vec<LayerRef>,
    /// The version number it was pushed as (a node deploys it as that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

impl VersionConfig {
    /// The config of a version made of `layers` (each titled).
    pub fn of(
        manifest: String,
        world: &str,
        wit_version: &str,
        version: Option<u64>,
        layers: &[Blob],
    ) -> VersionConfig {
        VersionConfig {
            manifest,
            version,
            world: world.to_string(),
            wit_version: wit_version.to_string(),
            layers: layers
                .iter()
                .map(|l| LayerRef {
                    title: l
                        .descriptor
                        .annotations
                        .get(TITLE)
                        .cloned()
                        .unwrap_or_default(),
                    digest: l.descriptor.digest.clone(),
                    size: l.descriptor.size,
                })
                .collect(),
        }
    }
}

/// One layer as the config names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerRef {
    /// Its file name in the version folder.
    pub title: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A blob with its descriptor.
#[derive(Clone, Debug)]
pub struct Blob {
    /// What the manifest says about it.
    pub descriptor: Descriptor,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A version ready to push: the manifest (as the exact bytes its digest
/// covers), the config and the layers.
#[derive(Clone, Debug)]
pub struct Packed {
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// `sha256:<hex>` of those bytes: the version's identity.
    pub digest: String,
    /// The config blob.
    pub config: Blob,
    /// The layers, the component first.
    pub layers: Vec<Blob>,
}

/// `sha256:<hex>` of some bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn blob(media_type: &str, bytes: Vec<u8>, title: Option<&str>) -> Blob {
    let mut annotations = BTreeMap::new();
    if let Some(t) = title {
        annotations.insert(TITLE.to_string(), t.to_string());
    }
    Blob {
        descriptor: Descriptor {
            media_type: media_type.to_string(),
            digest: digest_of(&bytes),
            size: bytes.len() as u64,
            annotations,
        },
        bytes,
    }
}

/// Packs a version folder's files (`manifest.toml`, the component it
/// names, every other file) into an artifact. `world` and `wit_version`
/// say what the component is (from `inspect`); `version` is the number
/// nodes deploy it as.
pub fn pack(
    files: &[(String, Vec<u8>)],
    world: &str,
    wit_version: &str,
    version: Option<u64>,
) -> Result<Packed, ArtifactError> {
    let not = |m: String| ArtifactError::NotAVersion(m);
    let manifest_text = files
        .iter()
        .find(|(n, _)| n == MANIFEST_FILE)
        .map(|(_, b)| String::from_utf8(b.clone()))
        .transpose()
        .map_err(|_| not(format!("{MANIFEST_FILE} is not UTF-8")))?
        .unwrap_or_default();
    let manifest =
        Manifest::parse(&manifest_text).map_err(|e| not(format!("{MANIFEST_FILE}: {e}")))?;
    let component = manifest.component_file();
    let mut layers = Vec::new();
    let (wasm, rest): (Vec<_>, Vec<_>) = files
        .iter()
        .filter(|(n, _)| n != MANIFEST_FILE)
        .partition(|(n, _)| n == component);
    let Some((name, bytes)) = wasm.first() else {
        return Err(not(format!(
            "no component file '{component}' among the files"
        )));
    };
    layers.push(blob(WASM_MEDIA_TYPE, bytes.clone(), Some(name)));
    for (name, bytes) in rest {
        if !plain_file_name(name) {
            return Err(not(format!("'{name}' is not a plain file name")));
        }
        layers.push(blob(FILE_MEDIA_TYPE, bytes.clone(), Some(name)));
    }
    let config = VersionConfig::of(manifest_text, world, wit_version, version, &layers);
    let config = blob(
        CONFIG_MEDIA_TYPE,
        serde_json::to_vec(&config).map_err(|e| ArtifactError::Malformed {
            what: "the config",
            reason: e.to_string(),
        })?,
        None,
    );
    let image = ImageManifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.to_string()),
        artifact_type: Some(CONFIG_MEDIA_TYPE.to_string()),
        config: config.descriptor.clone(),
        layers: layers.iter().map(|l| l.descriptor.clone()).collect(),
    };
    let manifest = serde_json::to_vec(&image).map_err(|e| ArtifactError::Malformed {
        what: "the manifest",
        reason: e.to_string(),
    })?;
    Ok(Packed {
        digest: digest_of(&manifest),
        manifest,
        config,
        layers,
    })
}

/// Caps on what [`unpack`] accepts.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    /// Largest manifest or config, in bytes.
    pub document: u64,
    /// Largest version (all layers together), in bytes.
    pub total: u64,
}

/// A version folder's files, `manifest.toml` first.
pub type Files = Vec<(String, Vec<u8>)>;

/// What [`unpack`] read: the files, and the version number they were
/// pushed as (none for a CNCF Wasm artifact, or one pushed without).
#[derive(Clone, Debug)]
pub struct Unpacked {
    /// The version number.
    pub version: Option<u64>,
    /// The files, `manifest.toml` first.
    pub files: Files,
}

/// Checks a manifest before anything it names is fetched: its digest is
/// the one the caller resolved, it is an image manifest, and its config
/// and layers fit the caps (a hostile manifest's sizes cannot overflow
/// the sum).
pub fn read_manifest(
    manifest: &[u8],
    digest: &str,
    caps: Caps,
) -> Result<ImageManifest, ArtifactError> {
    check_size("the manifest", manifest.len() as u64, caps.document)?;
    check_digest("the manifest", manifest, digest)?;
    let image: ImageManifest =
        serde_json::from_slice(manifest).map_err(|e| ArtifactError::Malformed {
            what: "the manifest",
            reason: e.to_string(),
        })?;
    if image.schema_version != 2 {
        return Err(ArtifactError::NotAVersion(format!(
            "schemaVersion {}",
            image.schema_version
        )));
    }
    let total = image
        .layers
        .iter()
        .fold(0u64, |sum, l| sum.saturating_add(l.size));
    check_size("the layers", total, caps.total)?;
    check_size("the config", image.config.size, caps.document)?;
    Ok(image)
}

/// Reads an artifact back into a version folder's files (`manifest.toml`
/// first), checking everything on the way (see the module's notes).
/// `digest` is the manifest digest the caller resolved (from a tag or a
/// pinned reference); `fetch` returns a blob's bytes by descriptor.
pub fn unpack(
    manifest: &[u8],
    digest: &str,
    caps: Caps,
    mut fetch: impl FnMut(&Descriptor) -> Result<Vec<u8>, String>,
) -> Result<Unpacked, ArtifactError> {
    let image = read_manifest(manifest, digest, caps)?;
    match image.config.media_type.as_str() {
        CONFIG_MEDIA_TYPE => version_files(&image, &mut fetch),
        CNCF_WASM_CONFIG => cncf_files(&image, &mut fetch),
        other => Err(ArtifactError::NotAVersion(format!(
            "config media type {other}; expected {CONFIG_MEDIA_TYPE} (edgeserve push) or \
             {CNCF_WASM_CONFIG} (a single Wasm component)"
        ))),
    }
}

/// One blob, which must have its descriptor's size and digest.
fn fetch_checked(
    fetch: &mut impl FnMut(&Descriptor) -> Result<Vec<u8>, String>,
    d: &Descriptor,
    what: String,
) -> Result<Vec<u8>, ArtifactError> {
    let bytes = fetch(d).map_err(|reason| ArtifactError::Fetch {
        what: what.clone(),
        reason,
    })?;
    if bytes.len() as u64 != d.size {
        return Err(ArtifactError::TooLarge {
            what: format!("{what} (its descriptor says {} bytes)", d.size),
            size: bytes.len() as u64,
            limit: d.size,
        });
    }
    check_digest(&what, &bytes, &d.digest)?;
    Ok(bytes)
}

/// Ours: the config (which must list exactly the manifest's layers), then
/// each layer under its title.
fn version_files(
    image: &ImageManifest,
    fetch: &mut impl FnMut(&Descriptor) -> Result<Vec<u8>, String>,
) -> Result<Unpacked, ArtifactError> {
    let not = |m: String| ArtifactError::NotAVersion(m);
    let config = fetch_checked(fetch, &image.config, "the config".into())?;
    let config: VersionConfig =
        serde_json::from_slice(&config).map_err(|e| ArtifactError::Malformed {
            what: "the config",
            reason: e.to_string(),
        })?;
    let named = image.layers.iter().map(|l| (l.digest.as_str(), l.size));
    let listed = config.layers.iter().map(|l| (l.digest.as_str(), l.size));
    if !named.eq(listed) {
        return Err(not("the config does not list the manifest's layers".into()));
    }
    let mut files = vec![(MANIFEST_FILE.to_string(), config.manifest.into_bytes())];
    for (layer, listed) in image.layers.iter().zip(&config.layers) {
        let title = layer.annotations.get(TITLE).unwrap_or(&listed.title);
        if title != &listed.title {
            return Err(not(format!(
                "layer title '{title}' is not the config's '{}'",
                listed.title
            )));
        }
        if !plain_file_name(title) || title == MANIFEST_FILE {
            return Err(not(format!(
                "layer title '{title}' is not a usable file name"
            )));
        }
        if files.iter().any(|(n, _)| n == title) {
            return Err(not(format!("two layers are named '{title}'")));
        }
        let bytes = fetch_checked(fetch, layer, format!("layer '{title}'"))?;
        files.push((title.clone(), bytes));
    }
    Ok(Unpacked {
        version: config.version,
        files,
    })
}

/// The CNCF single-layer Wasm artifact: a component, no manifest.
fn cncf_files(
    image: &ImageManifest,
    fetch: &mut impl FnMut(&Descriptor) -> Result<Vec<u8>, String>,
) -> Result<Unpacked, ArtifactError> {
    let not = |m: String| ArtifactError::NotAVersion(m);
    let [layer] = image.layers.as_slice() else {
        return Err(not(format!(
            "a CNCF Wasm artifact has one layer, this one {}",
            image.layers.len()
        )));
    };
    if layer.media_type != WASM_MEDIA_TYPE {
        return Err(not(format!(
            "its layer is {}, not {WASM_MEDIA_TYPE}",
            layer.media_type
        )));
    }
    let bytes = fetch_checked(fetch, layer, "the component".into())?;
    Ok(Unpacked {
        version: None,
        files: vec![
            (MANIFEST_FILE.to_string(), Vec::new()),
            ("model.wasm".to_string(), bytes),
        ],
    })
}

fn check_size(what: &str, size: u64, limit: u64) -> Result<(), ArtifactError> {
    if size > limit {
        return Err(ArtifactError::TooLarge {
            what: what.to_string(),
            size,
            limit,
        });
    }
    Ok(())
}

fn check_digest(what: &str, bytes: &[u8], want: &str) -> Result<(), ArtifactError> {
    let got = digest_of(bytes);
    if got != want {
        return Err(ArtifactError::Digest {
            what: what.to_string(),
            want: want.to_string(),
            got,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
