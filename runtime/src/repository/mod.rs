//! The model repository: a folder per model, a folder per version (numbered,
//! as in Triton), each with a component and a `manifest.toml`.
//!
//! ```text
//! models/
//!   iris/
//!     1/  manifest.toml  model.wasm  smoke.json
//!     2/  manifest.toml  model.wasm
//! ```

mod binding;
mod manifest;
mod monitoring;

use std::path::{Path, PathBuf};

pub use binding::{PolicyBinding, Stage, missing_policy, policies_here};
pub use manifest::{
    Artifacts, DEFAULT_COMPONENT, Kind, MANIFEST_FILE, Manifest, ManifestLimits, ModelSettings,
    RolloutGuard, SmokeTest, plain_file_name,
};
pub use monitoring::{DriftBaseline, DriftSettings, FeatureBaseline, LogSettings};

use crate::limits::ModelDefaults;
use crate::protocol::{check_request, decode_request};
use crate::{LoadError, LoadedModel, Runtime, digest};

/// One version folder found in the repository.
#[derive(Clone, Debug)]
pub struct VersionSource {
    /// Model name (the model folder).
    pub name: String,
    /// Version number (the version folder).
    pub version: u64,
    /// The version folder.
    pub dir: PathBuf,
}

/// Why a version was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The folder layout is wrong.
    #[error("{0}")]
    Layout(String),
    /// The manifest is missing or invalid.
    #[error("manifest: {0}")]
    Manifest(String),
    /// The component file cannot be read.
    #[error("read: {0}")]
    Read(String),
    /// The component's sha256 differs from the manifest's.
    #[error("digest: manifest says sha256 {expected}, component has {actual}")]
    Digest {
        /// From the manifest.
        expected: String,
        /// Of the file.
        actual: String,
    },
    /// Compiling, linking or validating failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The smoke-test request failed.
    #[error("smoke test: {0}")]
    Smoke(String),
}

/// A version that was refused, and why.
#[derive(Debug)]
pub struct Refusal {
    /// `name@version` or the path that was refused.
    pub what: String,
    /// Why.
    pub error: RepoError,
}

/// Whether a name is usable in URLs and folders.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn sorted_dirs(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        out.push((name, entry.path()));
    }
    out.sort();
    Ok(out)
}

/// Lists every version folder; malformed folders are returned as refusals.
pub fn scan(root: &Path) -> Result<(Vec<VersionSource>, Vec<Refusal>), std::io::Error> {
    let mut found = Vec::new();
    let mut refused = Vec::new();
    for (model, model_dir) in sorted_dirs(root)? {
        if !valid_name(&model) {
            refused.push(Refusal {
                what: model_dir.display().to_string(),
                error: RepoError::Layout(format!(
                    "model folder name '{model}' must be letters, digits, '_', '-' or '.'"
                )),
            });
            continue;
        }
        let versions = match sorted_dirs(&model_dir) {
            Ok(v) => v,
            Err(e) => {
                refused.push(Refusal {
                    what: model,
                    error: RepoError::Read(e.to_string()),
                });
                continue;
            }
        };
        if versions.is_empty() {
            refused.push(Refusal {
                what: model_dir.display().to_string(),
                error: RepoError::Layout(format!(
                    "model folder '{model}' has no version folders: put each version in a \
                     numbered folder, e.g. {model}/1/model.wasm with its manifest.toml"
                )),
            });
            continue;
        }
        for (version, dir) in versions {
            match version.parse::<u64>() {
                Ok(v) if v > 0 && !version.starts_with('0') => found.push(VersionSource {
                    name: model.clone(),
                    version: v,
                    dir,
                }),
                _ => refused.push(Refusal {
                    what: dir.display().to_string(),
                    error: RepoError::Layout(format!(
                        "version folder '{version}' of model '{model}' must be a positive integer"
                    )),
                }),
            }
        }
    }
    Ok((found, refused))
}

/// Reads the files named in `[artifacts]` from the version folder (plain
/// file names there, as [`Manifest::check_paths`] made sure); all of them
/// must fit in the version's memory cap (the component copies them in).
fn read_artifacts(
    manifest: &Manifest,
    dir: &Path,
    settings: &ModelSettings,
) -> Result<Artifacts, RepoError> {
    let mut map = std::collections::BTreeMap::new();
    let mut total = 0u64;
    for (name, file) in &manifest.artifacts {
        let path = dir.join(file);
        let bytes = std::fs::read(&path)
            .map_err(|e| RepoError::Read(format!("artifact '{name}': {}: {e}", path.display())))?;
        total += bytes.len() as u64;
        map.insert(name.clone(), std::sync::Arc::from(bytes));
    }
    if total > settings.memory.0 {
        return Err(RepoError::Manifest(format!(
            "artifacts hold {total} bytes, more than the version's memory limit of {}; raise \
             [limits] memory",
            settings.memory
        )));
    }
    Ok(Artifacts::new(map))
}

/// Reads and checks a drift baseline file of the version folder.
fn read_baseline(dir: &Path, file: &str) -> Result<DriftBaseline, RepoError> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| RepoError::Read(format!("drift baseline {}: {e}", path.display())))?;
    let baseline: DriftBaseline = serde_json::from_str(&text)
        .map_err(|e| RepoError::Manifest(format!("drift baseline {}: {e}", path.display())))?;
    baseline
        .validate()
        .map_err(|e| RepoError::Manifest(format!("drift baseline {}: {e}", path.display())))?;
    Ok(baseline)
}

/// Loads one version folder: manifest, digest check, compile, world check,
/// pre-instantiation, metadata and smoke test.
pub async fn load_version(
    runtime: &Runtime,
    src: &VersionSource,
    defaults: &ModelDefaults,
) -> Result<LoadedModel, RepoError> {
    let manifest = Manifest::read(&src.dir.join(MANIFEST_FILE)).map_err(RepoError::Manifest)?;
    let path = src.dir.join(manifest.component_file());
    let bytes =
        std::fs::read(&path).map_err(|e| RepoError::Read(format!("{}: {e}", path.display())))?;
    let mut model = load_parts(
        runtime,
        &src.name,
        src.version,
        &manifest,
        &bytes,
        &src.dir,
        defaults,
    )
    .await?;
    model.source = src.dir.display().to_string();
    Ok(model)
}

/// The deploy pipeline for a version whose manifest and component are in
/// hand: name/version check, digest check, compile (or AOT load), world
/// check, pre-instantiation, metadata, and the smoke test (whose request
/// file, if any, is read from `dir`).
pub async fn load_parts(
    runtime: &Runtime,
    name: &str,
    version: u64,
    manifest: &Manifest,
    bytes: &[u8],
    dir: &Path,
    defaults: &ModelDefaults,
) -> Result<LoadedModel, RepoError> {
    let version_str = version.to_string();
    // Every file below is read from `dir` by a name the manifest gives.
    manifest.check_paths().map_err(RepoError::Manifest)?;
    if manifest.name.as_deref().is_some_and(|n| n != name) {
        return Err(RepoError::Manifest(format!(
            "name '{}' does not match the model '{name}'",
            manifest.name.as_deref().unwrap_or_default(),
        )));
    }
    if manifest
        .version
        .as_deref()
        .is_some_and(|v| v != version_str)
    {
        return Err(RepoError::Manifest(format!(
            "version '{}' does not match '{version_str}'",
            manifest.version.as_deref().unwrap_or_default()
        )));
    }
    if let Some(expected) = &manifest.sha256 {
        let actual = digest(bytes);
        if !expected.eq_ignore_ascii_case(&actual) {
            return Err(RepoError::Digest {
                expected: expected.clone(),
                actual,
            });
        }
    }
    let mut settings = manifest.settings(defaults);
    Manifest::check_limits(&settings).map_err(RepoError::Manifest)?;
    settings.artifacts = read_artifacts(manifest, dir, &settings)?;
    if let Some(d) = &manifest.drift {
        settings.drift = Some((read_baseline(dir, &d.baseline)?, d.window.max(2)));
    }
    let model = LoadedModel::load(runtime, name, &version_str, bytes, settings).await?;
    if let Some(kind) = manifest.kind
        && kind != model.kind
    {
        return Err(RepoError::Manifest(format!(
            "the manifest says kind = \"{}\" but the component is a {}",
            kind.as_str(),
            model.kind.as_str()
        )));
    }
    if model.kind == Kind::Policy
        && (manifest.smoke_test.is_some() || !manifest.policies.is_empty())
    {
        return Err(RepoError::Manifest(
            "a policy takes no [smoke_test] and no [[policies]] of its own".into(),
        ));
    }
    if let Some(smoke) = &manifest.smoke_test {
        run_smoke_test(&model, smoke, dir).await?;
    }
    Ok(model)
}

async fn run_smoke_test(
    model: &LoadedModel,
    smoke: &SmokeTest,
    dir: &Path,
) -> Result<(), RepoError> {
    let text = match (&smoke.request, &smoke.inline) {
        // Named by the manifest's own words: the folder may be a staging
        // folder of the node's, which means nothing to whoever deploys.
        (Some(file), None) => std::fs::read(dir.join(file)).map_err(|e| {
            RepoError::Smoke(if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "the manifest's [smoke_test] request = \"{file}\" is not in the version \
                     folder: put it there (deploying with --component: upload it with --file \
                     {file})"
                )
            } else {
                format!("cannot read [smoke_test] request = \"{file}\": {e}")
            })
        })?,
        (None, Some(inline)) => inline.as_bytes().to_vec(),
        _ => {
            return Err(RepoError::Manifest(
                "[smoke_test] needs exactly one of `request` (a file) or `inline`".into(),
            ));
        }
    };
    let req = decode_request(&text.into(), None).map_err(|e| RepoError::Smoke(e.to_string()))?;
    check_request(&model.name, &model.metadata, &req)
        .map_err(|e| RepoError::Smoke(e.to_string()))?;
    model
        .infer(&req, "smoke-test")
        .await
        .map_err(|e| RepoError::Smoke(e.to_string()))?;
    Ok(())
}
