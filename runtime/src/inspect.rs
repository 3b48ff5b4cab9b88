//! `edgeserve inspect`: what a component is, what it imports and exports,
//! which WIT version it was built for, and its metadata.

use serde::Serialize;
use wasmtime::component::Component;

use crate::limits::ModelDefaults;
use crate::repository::Kind;
use crate::repository::ModelSettings;
use crate::{
    LoadError, LoadedModel, MODEL_EXPORT, POLICY_EXPORT, Runtime, WIT_VERSION, check_world, digest,
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

/// Inspects component bytes.
pub async fn inspect(runtime: &Runtime, bytes: &[u8]) -> Result<Report, LoadError> {
    let engine = runtime.engine();
    let component =
        Component::new(engine, bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let mut wit_versions: Vec<String> = imports
        .iter()
        .chain(&exports)
        .filter(|n| n.starts_with("edgeserve:ml/"))
        .filter_map(|n| n.split_once('@').map(|(_, v)| v.to_string()))
        .collect();
    wit_versions.sort();
    wit_versions.dedup();
    let checked = check_world(engine, &component);
    let world = match &checked {
        Ok(kind) => kind.as_str(),
        Err(_) => "unknown",
    };
    let problem = checked.as_ref().err().map(ToString::to_string);
    let metadata = if problem.is_none() {
        let settings = ModelSettings::from_defaults(&ModelDefaults::default());
        match LoadedModel::load(runtime, "inspected", "1", bytes, settings).await {
            Ok(m) if m.kind == Kind::Policy => None,
            Ok(m) => Some(serde_json::json!({
                "name": m.metadata.name,
                "version": m.metadata.version,
                "platform": m.metadata.platform,
                "inputs": m.metadata.inputs.iter().map(|s| serde_json::json!({"name": s.name, "datatype": s.datatype.as_str(), "shape": s.shape})).collect::<Vec<_>>(),
                "outputs": m.metadata.outputs.iter().map(|s| serde_json::json!({"name": s.name, "datatype": s.datatype.as_str(), "shape": s.shape})).collect::<Vec<_>>(),
            })),
            Err(e) => Some(serde_json::json!({ "error": e.to_string() })),
        }
    } else {
        None
    };
    Ok(Report {
        sha256: digest(bytes),
        size: bytes.len(),
        world: world.to_string(),
        wit_versions,
        compatible: problem.is_none(),
        problem,
        imports,
        exports,
        metadata,
    })
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "sha256:       {}", self.sha256)?;
        writeln!(f, "size:         {} bytes", self.size)?;
        writeln!(f, "world:        {}", self.world)?;
        writeln!(
            f,
            "wit version:  {} (this host runs edgeserve:ml 0.1.0 to {WIT_VERSION}: models export \
             {MODEL_EXPORT}, policies {POLICY_EXPORT})",
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
