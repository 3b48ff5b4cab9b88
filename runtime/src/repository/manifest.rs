//! The per-version manifest (`manifest.toml`) of a model repository.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::limits::{Isolation, ModelDefaults};
use crate::units::{ByteSize, HumanDuration};

/// File name of a version's manifest.
pub const MANIFEST_FILE: &str = "manifest.toml";
/// Component file name used when the manifest does not name one.
pub const DEFAULT_COMPONENT: &str = "model.wasm";

/// What kind of component a version holds.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A model (the `model` world).
    #[default]
    Model,
    /// A policy filter component (the `policy` world).
    Policy,
}

impl Kind {
    /// Lower-case name, as in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Model => "model",
            Kind::Policy => "policy",
        }
    }
}

/// A version's manifest as written.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Model name; must match the folder when given.
    pub name: Option<String>,
    /// Version; must match the folder when given.
    pub version: Option<String>,
    /// Component kind.
    pub kind: Option<Kind>,
    /// One line about the model, shown in listings.
    pub description: Option<String>,
    /// Component file, relative to the version folder.
    pub component: Option<String>,
    /// Expected sha256 of the component (hex); loading fails on mismatch.
    pub sha256: Option<String>,
    /// Isolation mode.
    pub isolation: Option<Isolation>,
    /// Resource limits.
    #[serde(default)]
    pub limits: ManifestLimits,
    /// Key/value configuration handed to the component.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// A request that must succeed before the version serves.
    pub smoke_test: Option<SmokeTest>,
    /// Automatic rollback bounds while this version is a canary or a new
    /// primary.
    pub rollout: Option<RolloutGuard>,
    /// Prediction log sampling for this version.
    pub prediction_log: Option<super::LogSettings>,
    /// Whether callers must present a valid identity (overrides the
    /// server's `[auth] required`).
    pub require_auth: Option<bool>,
    /// This model's policy chain, run after the server's global chain.
    #[serde(default)]
    pub policies: Vec<crate::repository::PolicyBinding>,
    /// Files of the version folder the component may read through the
    /// `artifacts` import: artifact name → file name.
    #[serde(default)]
    pub artifacts: BTreeMap<String, String>,
    /// Input drift monitoring against a training baseline.
    pub drift: Option<super::DriftSettings>,
}

/// The artifacts of a loaded version, shared by all its instances.
#[derive(Clone, Default, PartialEq)]
pub struct Artifacts(std::sync::Arc<BTreeMap<String, std::sync::Arc<[u8]>>>);

impl Artifacts {
    /// Artifacts from name → bytes.
    pub fn new(map: BTreeMap<String, std::sync::Arc<[u8]>>) -> Self {
        Artifacts(std::sync::Arc::new(map))
    }

    /// The bytes of `name`.
    pub fn get(&self, name: &str) -> Option<&std::sync::Arc<[u8]>> {
        self.0.get(name)
    }

    /// Declared names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// Total size in bytes.
    pub fn total_bytes(&self) -> usize {
        self.0.values().map(|b| b.len()).sum()
    }
}

impl std::fmt::Debug for Artifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| (k, format!("{} bytes", v.len()))),
            )
            .finish()
    }
}

/// Bounds on a new version's behaviour; breaching one rolls it back.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RolloutGuard {
    /// Highest tolerated share of failed (5xx) calls, 0–1.
    pub max_error_rate: Option<f64>,
    /// Highest tolerated 99th-percentile latency.
    pub max_p99: Option<HumanDuration>,
    /// Traffic window the bounds are judged over.
    #[serde(default = "default_window")]
    pub window: HumanDuration,
    /// Fewest calls in the window before a judgement is made.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// How long a new primary stays watched after it was promoted.
    #[serde(default = "default_watch")]
    pub watch: HumanDuration,
}

fn default_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_min_requests() -> u64 {
    20
}

fn default_watch() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}

/// Resource limits in a manifest; unset ones come from the server defaults.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    /// Linear memory cap per instance.
    pub memory: Option<ByteSize>,
    /// Wall-clock deadline per call.
    pub deadline: Option<HumanDuration>,
    /// Warm instances kept (pooled isolation).
    pub pool_size: Option<u32>,
    /// Calls after which a warm instance is replaced.
    pub max_uses: Option<u32>,
    /// Requests run at once; more get 503.
    pub max_concurrency: Option<u32>,
    /// Largest answer the component may hand the host in one call.
    pub max_response: Option<ByteSize>,
}

/// A smoke-test request: an OIP JSON infer request, in a file or inline.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeTest {
    /// Path of a JSON file, relative to the version folder.
    pub request: Option<String>,
    /// The JSON request itself.
    pub inline: Option<String>,
}

/// Limits and behaviour of one loaded version, fully resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSettings {
    /// Isolation mode.
    pub isolation: Isolation,
    /// Linear memory cap per instance, in bytes.
    pub memory: ByteSize,
    /// Wall-clock deadline per call.
    pub deadline: Duration,
    /// Warm instances kept (pooled isolation).
    pub pool_size: u32,
    /// Calls after which a warm instance is replaced.
    pub max_uses: u32,
    /// Requests run at once.
    pub max_concurrency: u32,
    /// Largest answer the component may hand the host in one call.
    pub max_response: ByteSize,
    /// Configuration handed to the component.
    pub config: BTreeMap<String, String>,
    /// Automatic rollback bounds.
    pub rollout: Option<RolloutGuard>,
    /// Prediction log sampling (off when `None`).
    pub log: Option<super::LogSettings>,
    /// Whether callers must present a valid identity (`None`: the server's
    /// default).
    pub require_auth: Option<bool>,
    /// The model's own policy chain.
    pub policies: Vec<crate::repository::PolicyBinding>,
    /// Files the component may read (filled in when the version loads).
    pub artifacts: Artifacts,
    /// The drift baseline and window (read when the version loads).
    pub drift: Option<(super::DriftBaseline, u64)>,
}

impl ModelSettings {
    /// Server defaults alone.
    pub fn from_defaults(d: &ModelDefaults) -> Self {
        ModelSettings {
            isolation: d.isolation,
            memory: d.memory,
            deadline: d.deadline.0,
            pool_size: d.pool_size,
            max_uses: d.max_uses.max(1),
            max_concurrency: d.max_concurrency.max(1),
            max_response: d.max_response,
            config: BTreeMap::new(),
            rollout: None,
            log: None,
            require_auth: None,
            policies: Vec::new(),
            artifacts: Artifacts::default(),
            drift: None,
        }
    }
}

impl Manifest {
    /// Reads and parses a manifest file (see [`Manifest::parse`]).
    pub fn read(path: &Path) -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Manifest::parse(&text).map_err(|e| format!("invalid {}: {e}", path.display()))
    }

    /// Parses manifest text; unknown keys are errors, and so is a file name
    /// that leaves the version folder ([`Manifest::check_paths`]).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        manifest.check_paths()?;
        Ok(manifest)
    }

    /// Resolves limits against the server defaults.
    pub fn settings(&self, d: &ModelDefaults) -> ModelSettings {
        let l = &self.limits;
        ModelSettings {
            isolation: self.isolation.unwrap_or(d.isolation),
            memory: l.memory.unwrap_or(d.memory),
            deadline: l.deadline.unwrap_or(d.deadline).0,
            pool_size: l.pool_size.unwrap_or(d.pool_size),
            max_uses: l.max_uses.unwrap_or(d.max_uses).max(1),
            max_concurrency: l.max_concurrency.unwrap_or(d.max_concurrency).max(1),
            max_response: l.max_response.unwrap_or(d.max_response),
            config: self.config.clone(),
            rollout: self.rollout.clone(),
            log: self.prediction_log.clone(),
            require_auth: self.require_auth,
            policies: self.policies.clone(),
            artifacts: Artifacts::default(),
            drift: None,
        }
    }

    /// Checks that resolved limits are within what a host can honour.
    pub fn check_limits(settings: &ModelSettings) -> Result<(), String> {
        if settings.pool_size > 4096 {
            return Err(format!("pool_size {} is above 4096", settings.pool_size));
        }
        if settings.max_concurrency > 65_536 {
            return Err(format!(
                "max_concurrency {} is above 65536",
                settings.max_concurrency
            ));
        }
        if settings.max_response.0 < 1024 || settings.max_response.0 > 4 << 30 {
            return Err(format!(
                "max_response {} must be within 1KiB and 4GiB",
                settings.max_response
            ));
        }
        if settings.deadline.is_zero() || settings.deadline > Duration::from_secs(3600) {
            return Err(format!(
                "deadline {:?} must be above 0 and at most 1h",
                settings.deadline
            ));
        }
        if settings
            .log
            .as_ref()
            .is_some_and(|log| !(0.0..=1.0).contains(&log.sample))
        {
            return Err("prediction_log sample must be within 0-1".into());
        }
        if settings
            .rollout
            .as_ref()
            .and_then(|g| g.max_error_rate)
            .is_some_and(|r| !(0.0..=1.0).contains(&r))
        {
            return Err("rollout max_error_rate must be within 0-1".into());
        }
        Ok(())
    }

    /// The component file name.
    pub fn component_file(&self) -> &str {
        self.component.as_deref().unwrap_or(DEFAULT_COMPONENT)
    }

    /// Every file of the version folder this manifest names, each with the
    /// key that names it: the component, the smoke-test request, the
    /// artifacts and the drift baseline.
    pub fn referenced_files(&self) -> Vec<(String, &str)> {
        let mut files = vec![("component".to_string(), self.component_file())];
        if let Some(file) = self.smoke_test.as_ref().and_then(|s| s.request.as_deref()) {
            files.push(("[smoke_test] request".to_string(), file));
        }
        for (name, file) in &self.artifacts {
            files.push((format!("[artifacts] {name}"), file.as_str()));
        }
        if let Some(d) = &self.drift {
            files.push(("[drift] baseline".to_string(), d.baseline.as_str()));
        }
        files
    }

    /// Checks that every file the manifest names is a plain file name in
    /// the version folder: no path separators, no `..`, nothing absolute,
    /// not the manifest itself. A manifest can then never make the host
    /// read a file outside its version folder.
    pub fn check_paths(&self) -> Result<(), String> {
        for (key, file) in self.referenced_files() {
            if !plain_file_name(file) || file == MANIFEST_FILE {
                return Err(format!(
                    "{key}: '{}' must be a file name in the version folder (no '/', '\\' or \
                     '..', and not {MANIFEST_FILE})",
                    file.escape_debug()
                ));
            }
        }
        Ok(())
    }
}

/// Whether `name` names a file directly inside a folder: not empty, at
/// most 255 bytes, no path separator or NUL, and not `.` or `..`.
pub fn plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves() {
        let m: Manifest = toml::from_str(
            r#"
            isolation = "fresh"
            [limits]
            memory = "32MiB"
            deadline = "100ms"
            [config]
            threshold = "0.5"
            [smoke_test]
            request = "smoke.json"
            "#,
        )
        .unwrap();
        let s = m.settings(&ModelDefaults::default());
        assert_eq!(s.isolation, Isolation::Fresh);
        assert_eq!(s.memory.0, 32 << 20);
        assert_eq!(s.deadline, Duration::from_millis(100));
        assert_eq!(s.pool_size, ModelDefaults::default().pool_size);
        assert_eq!(s.config["threshold"], "0.5");
        assert_eq!(m.component_file(), "model.wasm");
        assert!(toml::from_str::<Manifest>("colour = 1").is_err());
        m.check_paths().expect("plain names");
    }

    #[test]
    fn files_outside_the_version_folder_are_refused() {
        for text in [
            "component = \"/etc/hostname\"",
            "component = \"../other/model.wasm\"",
            "[smoke_test]\nrequest = \"/etc/shadow\"",
            "[smoke_test]\nrequest = \"..\"",
            "[artifacts]\nblob = \"sub/blob.bin\"",
            "[artifacts]\nblob = \"manifest.toml\"",
            "[drift]\nbaseline = \"..\\\\secrets\"",
            "component = \"\"",
        ] {
            let m: Manifest = toml::from_str(text).expect(text);
            let err = m.check_paths().expect_err(text);
            assert!(err.contains("must be a file name"), "{text}: {err}");
        }
        assert!(plain_file_name("model.wasm"));
        assert!(plain_file_name(".hidden"));
        assert!(!plain_file_name("a\0b"));
    }
}
