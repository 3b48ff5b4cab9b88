//! `edgeserve inspect`: what a component is, what it imports and exports,
//! which WIT version it was built for, and its metadata.

use serde::Serialize;

use crate::limits::ModelDefaults;
use crate::repository::Kind;
use crate::repository::ModelSettings;
use crate::{
    LoadError, LoadedModel, MODEL_EXPORT, POLICY_EXPORT, Runtime, WIT_VERSIONS_RUN, classify,
    digest,
};

/// Everything `inspect` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    /// sha256 of the file, hex.
    pub sha256: String,
    /// File size in bytes.
    pub size: usize,
    /// `model` or `policy` when it targets one of our worlds, else
    /// `unknown`.
    pub world: String,
    /// The edgeserve WIT versions named in its imports and exports.
    pub wit_versions: Vec<String>,
    /// Whether this host can run it.
    pub compatible: bool,
    /// Why not, when it cannot.
    pub problem: Option<String>,
    /// Imported interfaces.
    pub imports: Vec<String>,
    /// Exported interfaces.
    pub exports: Vec<String>,
    /// The model's metadata, when it could be read.
    pub metadata: Option<serde_json::Value>,
}

/// A component's imports, each with whether it is an interface (an
/// instance), and its exports.
type Names = (Vec<(String, bool)>, Vec<String>);

/// The top-level imports and exports of a component, read from its binary
/// without compiling it.
fn interface_names(bytes: &[u8]) -> Result<Names, LoadError> {
    use wasmparser::{ComponentTypeRef, Parser, Payload};
    let bad = |e: wasmparser::BinaryReaderError| LoadError::Compile(e.to_string());
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    // Nested modules and components carry their own imports and exports:
    // only the outermost ones are the component's.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(bad)? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(bad)?;
                    let instance = matches!(import.ty, ComponentTypeRef::Instance(_));
                    imports.push((import.name.name.to_string(), instance));
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    exports.push(export.map_err(bad)?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// Inspects component bytes. Names, world and WIT version are read from
/// the binary without compiling; a model's metadata is read by loading it,
/// unless it reads artifacts (an ONNX runner's graph), which only its
/// version folder has (`edgeserve check` shows that model's inputs and
/// outputs).
pub async fn inspect(runtime: &Runtime, bytes: &[u8]) -> Result<Report, LoadError> {
    crate::check_component_bytes(bytes)?;
    let (imports, exports) = interface_names(bytes)?;
    let mut wit_versions: Vec<String> = imports
        .iter()
        .map(|(n, _)| n)
        .chain(&exports)
        .filter(|n| n.starts_with("edgeserve:ml/"))
        .filter_map(|n| n.split_once('@').map(|(_, v)| v.to_string()))
        .collect();
    wit_versions.sort();
    wit_versions.dedup();
    let checked = classify(&exports, &imports);
    let world = match &checked {
        Ok(kind) => kind.as_str(),
        Err(_) => "unknown",
    };
    let mut problem = checked.as_ref().err().map(ToString::to_string);
    let reads_artifacts = imports
        .iter()
        .any(|(n, _)| n.starts_with("edgeserve:ml/artifacts@"));
    let metadata = match (&checked, reads_artifacts) {
        (Ok(Kind::Model), true) => Some(serde_json::json!({
            "note": "read from its artifacts when a version folder is loaded: run `edgeserve \
                     check` on the model repository for its inputs and outputs"
        })),
        (Ok(kind), false) => {
            let settings = ModelSettings::from_defaults(&ModelDefaults::default());
            match LoadedModel::load(runtime, "inspected", "1", bytes, settings).await {
                Ok(m) if *kind == Kind::Model => Some(serde_json::json!({
                    "name": m.metadata.name,
                    "version": m.metadata.version,
                    "platform": m.metadata.platform,
                    "inputs": specs(&m.metadata.inputs),
                    "outputs": specs(&m.metadata.outputs),
                })),
                // What a policy reads decides what the host copies into it.
                Ok(m) => Some(serde_json::json!({
                    "name": m.metadata.name,
                    "version": m.metadata.version,
                    "reads": m.reads.names(),
                })),
                Err(e) => {
                    // The names looked right, but the types or the
                    // metadata call did not: the host cannot run it.
                    problem = Some(e.to_string());
                    None
                }
            }
        }
        _ => None,
    };
    Ok(Report {
        sha256: digest(bytes),
        size: bytes.len(),
        world: world.to_string(),
        wit_versions,
        compatible: problem.is_none(),
        problem,
        imports: imports.into_iter().map(|(n, _)| n).collect(),
        exports,
        metadata,
    })
}

fn specs(specs: &[edgeserve_oip::tensor::TensorSpec]) -> Vec<serde_json::Value> {
    specs
        .iter()
        .map(|s| serde_json::json!({"name": s.name, "datatype": s.datatype.as_str(), "shape": s.shape}))
        .collect()
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "sha256:       {}", self.sha256)?;
        writeln!(f, "size:         {} bytes", self.size)?;
        writeln!(f, "world:        {}", self.world)?;
        writeln!(
            f,
            "wit version:  {} (this host runs edgeserve:ml {WIT_VERSIONS_RUN}: models built \
             today export {MODEL_EXPORT}, policies {POLICY_EXPORT})",
            if self.wit_versions.is_empty() {
                "none".to_string()
            } else {
                self.wit_versions.join(", ")
            }
        )?;
        match &self.problem {
            None => writeln!(f, "compatible:   yes")?,
            Some(why) => writeln!(f, "compatible:   no: {why}")?,
        }
        writeln!(f, "imports:")?;
        for i in &self.imports {
            writeln!(f, "  {i}")?;
        }
        writeln!(f, "exports:")?;
        for e in &self.exports {
            writeln!(f, "  {e}")?;
        }
        if let Some(m) = &self.metadata {
            writeln!(f, "metadata:")?;
            let pretty = serde_json::to_string_pretty(m).unwrap_or_default();
            for line in pretty.lines() {
                writeln!(f, "  {line}")?;
            }
        }
        Ok(())
    }
}
