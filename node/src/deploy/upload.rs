//! Deploying a version from its files (an upload, or a node folder read
//! into memory): checked, stored in the state folder, loaded through the
//! whole pipeline outside the control-plane lock, then added to the table
//! and persisted in one step. A version that fails anywhere leaves
//! nothing behind.

use std::sync::Arc;
use std::time::Instant;

use super::{DEPLOYED, DeployError, Deployer, kind_conflict, parse_version, promote, sync_traffic};
use crate::contract::{Change, VersionId};
use crate::registry::ModelTable;
use crate::repository::{
    MANIFEST_FILE, Manifest, RepoError, load_parts, policies_here, valid_name,
};
use crate::runtime::LoadedModel;
use crate::served::ServedVersion;

impl Deployer {
    /// Deploys a new version from its files (the manifest as
    /// `manifest.toml`, the component under the name the manifest gives,
    /// and any smoke-test file). It serves only after the whole pipeline
    /// passed; it becomes primary when `promote` is set or the model is
    /// new.
    pub async fn deploy(
        &self,
        name: &str,
        version: &str,
        mut files: Vec<(String, Vec<u8>)>,
        promote_it: bool,
    ) -> Result<Change, DeployError> {
        let v = check_upload(name, version, &files)?;
        let id = VersionId::new(name, v);
        if self.is_loaded(name, v) {
            return Err(already(&id));
        }
        // Compiling and checking happen outside the control-plane lock:
        // traffic changes and rollbacks do not wait for a slow compile.
        let Some(_slot) = self.loading.reserve(name, v) else {
            return Err(DeployError::Conflict(format!(
                "a deploy of {id} is already in progress"
            )));
        };
        let (model, ready_ms) = self.load_upload(&id, &mut files).await?;
        let sha256 = model.digest.chars().take(16).collect();
        let compile = format!("{:?}", model.aot);
        let primary = match self.add_deployed(&id, model, promote_it).await {
            Ok(primary) => primary,
            Err(e) => {
                self.store.delete_version(name, v);
                return Err(e);
            }
        };
        let change = Change::Deployed {
            id,
            sha256,
            ready_ms,
            compile,
            primary,
        };
        self.record(name, change.to_string());
        Ok(change)
    }

    /// Stores the files in the state folder and loads the version through
    /// the pipeline, timing the load (milliseconds); on failure the stored
    /// files are deleted.
    async fn load_upload(
        &self,
        id: &VersionId,
        files: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<(LoadedModel, u64), DeployError> {
        let refused = |error| DeployError::Refused {
            what: id.to_string(),
            error,
        };
        let manifest_text = files
            .iter()
            .find(|(n, _)| n == MANIFEST_FILE)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let manifest =
            Manifest::parse(&manifest_text).map_err(|e| refused(RepoError::Manifest(e)))?;
        if !files.iter().any(|(n, _)| n == MANIFEST_FILE) {
            files.push((MANIFEST_FILE.to_string(), Vec::new()));
        }
        let Some((_, bytes)) = files.iter().find(|(n, _)| n == manifest.component_file()) else {
            return Err(DeployError::BadRequest(format!(
                "no component file '{}' in the upload",
                manifest.component_file()
            )));
        };
        let (name, v) = (id.model.as_str(), id.version);
        let dir = self.store.store_version(name, v, files)?;
        let started = Instant::now();
        let loaded = load_parts(
            &self.runtime,
            name,
            v,
            &manifest,
            bytes,
            &dir,
            &self.defaults,
        );
        match loaded.await {
            Ok(mut m) => {
                m.source = DEPLOYED.to_string();
                Ok((m, started.elapsed().as_millis() as u64))
            }
            Err(error) => {
                self.store.delete_version(name, v);
                Err(refused(error))
            }
        }
    }

    /// Adds a loaded version to the table and the persisted state, as the
    /// primary when `promote_it` or the model is new. Returns whether it
    /// is the primary now.
    async fn add_deployed(
        &self,
        id: &VersionId,
        model: LoadedModel,
        promote_it: bool,
    ) -> Result<bool, DeployError> {
        let (name, v) = (id.model.as_str(), id.version);
        let mut state = self.state.lock().await;
        if self.is_loaded(name, v) {
            // Checked again where the table changes (every path that adds
            // a version holds its loading slot, so this is only a
            // backstop).
            return Err(already(id));
        }
        let mut table = (*self.registry.snapshot()).clone();
        let entry = table.models.entry(name.to_string()).or_default();
        if let Some(conflict) = kind_conflict(entry, &model) {
            return Err(DeployError::Conflict(conflict));
        }
        if let Some(dangling) = dangling_binding(&table, id, &model) {
            return Err(DeployError::Conflict(dangling));
        }
        let entry = table.models.entry(name.to_string()).or_default();
        let first = entry.versions.is_empty();
        let before = entry.primary_version();
        entry
            .versions
            .insert(v, Arc::new(ServedVersion::new(model)));
        // An implicit primary (the highest version) was `before` until this
        // insert: pin it, so `promote` records it for rollback and a new,
        // higher version does not take over by being the highest.
        entry.primary = before;
        if promote_it || first {
            promote(entry, v);
        }
        let mut new_state = state.clone();
        let ms = new_state.models.entry(name.to_string()).or_default();
        ms.deployed.retain(|&d| d != v);
        ms.deployed.push(v);
        ms.removed.retain(|&r| r != v);
        sync_traffic(entry, ms);
        let after = entry.primary_version();
        self.store.save(&new_state)?;
        self.registry.publish(table);
        *state = new_state;
        drop(state);
        self.note_promotion(name, before, after);
        Ok(after == Some(v))
    }
}

/// Why a version cannot join the table when one of its policy bindings
/// names no deployed policy: a model's bindings apply whichever of its
/// versions answers, so it would refuse every request to the model.
fn dangling_binding(table: &ModelTable, id: &VersionId, model: &LoadedModel) -> Option<String> {
    let policies = table.policy_names();
    let b = model
        .settings
        .policies
        .iter()
        .find(|b| !policies.contains(&b.policy.as_str()))?;
    let here = policies_here(&policies);
    Some(format!(
        "{id} binds policy '{}', which is not deployed ({here}); a model's bindings apply \
         whichever version answers, so deploying it would refuse every request to {} (503): \
         deploy policy '{}' first, or fix the binding's name",
        b.policy, id.model, b.policy
    ))
}

/// The refusal for a version that is loaded already.
fn already(id: &VersionId) -> DeployError {
    DeployError::Conflict(format!(
        "{id} is already deployed; remove it first or deploy a new version number"
    ))
}

/// Checks an upload's names: the model's, the version number, and each
/// file's (no paths, no duplicates). Returns the version number.
fn check_upload(
    name: &str,
    version: &str,
    files: &[(String, Vec<u8>)],
) -> Result<u64, DeployError> {
    if !valid_name(name) {
        return Err(DeployError::BadRequest(format!(
            "model name '{name}' must be letters, digits, '_', '-' or '.'"
        )));
    }
    let v = parse_version(version)?;
    for (i, (file, _)) in files.iter().enumerate() {
        if !valid_name(file) {
            return Err(DeployError::BadRequest(format!(
                "file name '{file}' is not allowed"
            )));
        }
        if files[..i].iter().any(|(f, _)| f == file) {
            return Err(DeployError::BadRequest(format!(
                "file '{file}' is in the upload twice"
            )));
        }
    }
    Ok(v)
}
