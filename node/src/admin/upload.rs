//! A deploy request's files: decoded from an upload, or named by a folder
//! on the node (read later, by the deployer, within the upload cap).

use base64::Engine as _;

use crate::contract::DeployRequest;
use crate::deploy::DeployError;
use crate::repository::{MANIFEST_FILE, Manifest};

/// Where a deploy's files come from.
pub(super) enum DeploySource {
    /// A version folder on this node.
    Path(String),
    /// Uploaded files by name: the manifest, the component, the rest.
    Files(Vec<(String, Vec<u8>)>),
    /// An OCI reference the node pulls.
    Registry(String),
}

/// The files of a deploy request: either `{"path"}` or an upload.
pub(super) fn deploy_files(body: DeployRequest) -> Result<DeploySource, DeployError> {
    let bad = |m: String| DeployError::BadRequest(m);
    if let Some(reference) = body.from {
        if body.path.is_some() || body.component.is_some() || !body.files.is_empty() {
            return Err(bad(
                "send {\"from\": REFERENCE} alone, without files or a path".into(),
            ));
        }
        return Ok(DeploySource::Registry(reference));
    }
    match (body.path, body.component) {
        (Some(path), None) if body.manifest.is_none() && body.files.is_empty() => {
            Ok(DeploySource::Path(path))
        }
        (None, Some(component)) => {
            let b64 = base64::engine::general_purpose::STANDARD;
            let manifest_text = body.manifest.unwrap_or_default();
            let manifest = Manifest::parse(&manifest_text)
                .map_err(|e| bad(format!("invalid manifest: {e}")))?;
            let mut files = vec![(MANIFEST_FILE.to_string(), manifest_text.into_bytes())];
            let bytes = b64
                .decode(component.as_bytes())
                .map_err(|e| bad(format!("component is not valid base64: {e}")))?;
            files.push((manifest.component_file().to_string(), bytes));
            for (name, data) in body.files {
                let bytes = b64
                    .decode(data.as_bytes())
                    .map_err(|e| bad(format!("file {name} is not valid base64: {e}")))?;
                files.push((name, bytes));
            }
            Ok(DeploySource::Files(files))
        }
        _ => Err(bad(
            "send {\"path\": DIR}, {\"from\": \"oci://REGISTRY/REPOSITORY:TAG\"} or {\"component\": BASE64, \"manifest\": TOML, \"files\": {...}}".into(),
        )),
    }
}
