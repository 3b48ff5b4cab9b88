//! `edgeserve build`: a model project → `<out>/<name>/<version>/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{ScaffoldError, WIT, io, tools};

/// The ONNX runner's operator table and graph check: the very file the
/// runner itself uses, so `build` and the runner cannot disagree.
#[path = "../../../runners/onnx/graph/src/operators.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    reason = "shared with the runner, which uses all of it; build uses the check"
)]
mod onnx_operators;

/// What a project is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProjectKind {
    /// A Rust crate (`Cargo.toml`, `crate-type = ["cdylib"]`) using the guest SDK.
    Rust,
    /// A Python module (`app.py` by default) implementing the `model` world.
    Python,
    /// An ONNX graph (`model.onnx`), served by the prebuilt ONNX runner.
    Onnx,
}

/// What to build and where.
#[derive(Clone, Debug)]
pub(crate) struct BuildOptions {
    /// The project folder, or a single `.onnx` / `.py` file.
    pub(crate) project: PathBuf,
    /// The model repository (or any folder) to write `<name>/<version>/` into.
    pub(crate) out: PathBuf,
    /// Model name; default: the folder name (or the file's stem).
    pub(crate) name: Option<String>,
    /// Version folder.
    pub(crate) version: u64,
    /// The ONNX runner component (ONNX projects); see [`tools::onnx_runner`].
    pub(crate) runner: Option<PathBuf>,
    /// The Python module (Python projects); default `app`.
    pub(crate) module: Option<String>,
}

/// A built version folder.
#[derive(Clone, Debug)]
pub(crate) struct Built {
    /// What the project was.
    pub(crate) kind: ProjectKind,
    /// Model name.
    pub(crate) name: String,
    /// `<out>/<name>/<version>`.
    pub(crate) dir: PathBuf,
    /// The files written there.
    pub(crate) files: Vec<String>,
}

/// Says what a project is, from its files.
pub(crate) fn detect(project: &Path) -> Result<ProjectKind, ScaffoldError> {
    if project.is_file() {
        return match project.extension().and_then(|e| e.to_str()) {
            Some("onnx") => Ok(ProjectKind::Onnx),
            Some("py") => Ok(ProjectKind::Python),
            _ => Err(ScaffoldError::Project(format!(
                "{}: expected a folder, an .onnx file or a .py file",
                project.display()
            ))),
        };
    }
    if project.join("Cargo.toml").is_file() {
        Ok(ProjectKind::Rust)
    } else if project.join("model.onnx").is_file() {
        Ok(ProjectKind::Onnx)
    } else if project.join("app.py").is_file() {
        Ok(ProjectKind::Python)
    } else if std::fs::read_to_string(project.join("manifest.toml"))
        .is_ok_and(|m| m.contains("model.onnx"))
    {
        // `edgeserve new model --lang onnx` made it; the graph is not in yet.
        Err(ScaffoldError::Project(format!(
            "{} has no model.onnx yet: put your ONNX graph there as model.onnx (from \
             scikit-learn: skl2onnx's to_onnx; from PyTorch: torch.onnx.export), then run this \
             again",
            project.display()
        )))
    } else {
        Err(ScaffoldError::Project(format!(
            "{} is not a model project: expected Cargo.toml (Rust), app.py (Python) or \
             model.onnx (ONNX); `edgeserve new model --lang rust|python|onnx NAME` makes one",
            project.display()
        )))
    }
}

/// A name the model repository accepts.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Builds a project into `<out>/<name>/<version>/`.
pub(crate) fn build(opts: &BuildOptions) -> Result<Built, ScaffoldError> {
    let kind = detect(&opts.project)?;
    let (dir, file) = if opts.project.is_file() {
        let parent = opts
            .project
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (parent.to_path_buf(), Some(opts.project.clone()))
    } else {
        (opts.project.clone(), None)
    };
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned());
    let default_name = match &file {
        Some(f) if kind == ProjectKind::Onnx => stem(f),
        _ => std::fs::canonicalize(&dir)
            .ok()
            .and_then(|d| d.file_name().map(|s| s.to_string_lossy().into_owned())),
    };
    let name = opts
        .name
        .clone()
        .or(default_name)
        .unwrap_or_default()
        .to_lowercase()
        .replace(' ', "-");
    if !valid_name(&name) {
        return Err(ScaffoldError::Project(format!(
            "model name '{name}' is not valid (lowercase letters, digits, '-' and '_'); pass \
             --name"
        )));
    }
    let out = opts.out.join(&name).join(opts.version.to_string());
    std::fs::create_dir_all(&out).map_err(io(format!("create {}", out.display())))?;
    let component = out.join("model.wasm");
    let mut files = vec!["model.wasm".to_string()];
    match kind {
        ProjectKind::Rust => build_rust(&dir, &component)?,
        ProjectKind::Python => {
            let module = opts
                .module
                .clone()
                .or_else(|| file.as_deref().and_then(stem))
                .unwrap_or_else(|| "app".into());
            build_python(&dir, &module, &out, &component)?;
        }
        ProjectKind::Onnx => {
            let graph = file.clone().unwrap_or_else(|| dir.join("model.onnx"));
            // An operator the runner cannot run is found now, in one line,
            // not as a refused version at check or deploy time.
            let bytes = std::fs::read(&graph).map_err(io(format!("read {}", graph.display())))?;
            onnx_operators::check(&bytes)
                .map_err(|e| ScaffoldError::Project(format!("{}: {e}", graph.display())))?;
            let runner = tools::onnx_runner(opts.runner.as_deref())?;
            copy(&runner, &component)?;
            copy(&graph, &out.join("model.onnx"))?;
            files.push("model.onnx".into());
        }
    }
    files.extend(write_manifest(kind, &dir, file.is_some(), &out)?);
    Ok(Built {
        kind,
        name,
        dir: out,
        files,
    })
}

fn copy(from: &Path, to: &Path) -> Result<(), ScaffoldError> {
    std::fs::copy(from, to).map(|_| ()).map_err(io(format!(
        "copy {} to {}",
        from.display(),
        to.display()
    )))
}

/// `cargo build --release --target wasm32-wasip2`, then the crate's `.wasm`.
fn build_rust(dir: &Path, component: &Path) -> Result<(), ScaffoldError> {
    let cargo = tools::cargo_for_wasm()?;
    let output = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(io("cannot run cargo"))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stdout);
        if text.contains("wasm32-wasip2") && text.contains("target may not be installed") {
            return Err(tools::missing_wasm_target());
        }
        return Err(ScaffoldError::ToolFailed {
            tool: "cargo build --target wasm32-wasip2".into(),
            status: output.status.to_string(),
        });
    }
    // The last cdylib artifact of the crate: Cargo's JSON messages say where.
    let wasm = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["crate_types"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "cdylib"))
        })
        .filter_map(|m| {
            m["filenames"].as_array().and_then(|f| {
                f.iter()
                    .filter_map(|f| f.as_str())
                    .find(|f| f.ends_with(".wasm"))
                    .map(PathBuf::from)
            })
        })
        .next_back()
        .ok_or_else(|| {
            ScaffoldError::Project(format!(
                "{} built no component: its Cargo.toml needs [lib] crate-type = [\"cdylib\"]",
                dir.display()
            ))
        })?;
    copy(&wasm, component)
}

/// `componentize-py` against the embedded WIT, world `model`.
fn build_python(
    dir: &Path,
    module: &str,
    out: &Path,
    component: &Path,
) -> Result<(), ScaffoldError> {
    if !dir.join(format!("{module}.py")).is_file() {
        return Err(ScaffoldError::Project(format!(
            "no {module}.py in {}; pass --module NAME for another module",
            dir.display()
        )));
    }
    let tool = tools::componentize_py()?;
    let wit_dir = out.join(".wit");
    std::fs::create_dir_all(&wit_dir).map_err(io("write the WIT files"))?;
    std::fs::write(wit_dir.join("edgeserve.wit"), WIT).map_err(io("write the WIT files"))?;
    let result = tools::run(
        Command::new(tool)
            .arg("-d")
            .arg(&wit_dir)
            .args(["-w", "model", "componentize", module, "-p"])
            .arg(dir)
            .arg("-o")
            .arg(component),
        "componentize-py",
    );
    let _ = std::fs::remove_dir_all(&wit_dir);
    result
}

/// Writes `manifest.toml` (the project's, or a default for its kind) and
/// copies the files it names. Returns the files written.
fn write_manifest(
    kind: ProjectKind,
    dir: &Path,
    single_file: bool,
    out: &Path,
) -> Result<Vec<String>, ScaffoldError> {
    let own = dir.join("manifest.toml");
    let mut written = vec!["manifest.toml".to_string()];
    let text = if !single_file && own.is_file() {
        std::fs::read_to_string(&own).map_err(io(format!("read {}", own.display())))?
    } else {
        default_manifest(kind, dir.join("smoke.json").is_file() && !single_file)
    };
    let value: toml::Table = text
        .parse()
        .map_err(|e| ScaffoldError::Project(format!("{}: not valid TOML: {e}", own.display())))?;
    if value
        .get("component")
        .and_then(|c| c.as_str())
        .is_some_and(|c| c != "model.wasm")
    {
        return Err(ScaffoldError::Project(format!(
            "{}: `build` writes the component as model.wasm; remove `component` or set it to \
             \"model.wasm\"",
            own.display()
        )));
    }
    let artifacts = value.get("artifacts").and_then(|a| a.as_table());
    if kind == ProjectKind::Onnx && artifacts.and_then(|a| a.get("model")).is_none() {
        return Err(ScaffoldError::Project(format!(
            "{}: an ONNX project's manifest needs [artifacts] model = \"model.onnx\"",
            own.display()
        )));
    }
    // Files the manifest names (smoke test, artifacts) come along.
    let smoke = value
        .get("smoke_test")
        .and_then(|s| s.get("request"))
        .and_then(|r| r.as_str());
    let named = smoke.into_iter().chain(
        artifacts
            .into_iter()
            .flat_map(|a| a.values().filter_map(|v| v.as_str())),
    );
    for file in named {
        let target = out.join(file);
        if target.exists() {
            continue;
        }
        let source = dir.join(file);
        if !source.is_file() || Path::new(file).components().count() != 1 {
            return Err(ScaffoldError::Project(format!(
                "the manifest names {file}, which is not a file in {}",
                dir.display()
            )));
        }
        copy(&source, &target)?;
        written.push(file.to_string());
    }
    std::fs::write(out.join("manifest.toml"), text).map_err(io("write manifest.toml"))?;
    Ok(written)
}

/// A manifest for a project that has none.
pub(crate) fn default_manifest(kind: ProjectKind, smoke: bool) -> String {
    let mut m = String::from("component = \"model.wasm\"\n");
    match kind {
        ProjectKind::Rust => {}
        // CPython and its standard library live in linear memory.
        ProjectKind::Python => m.push_str("\n[limits]\nmemory = \"64MiB\"\n"),
        ProjectKind::Onnx => m.push_str(
            "\n[limits]\nmemory = \"64MiB\"\ndeadline = \"1s\"\n\n[artifacts]\nmodel = \
             \"model.onnx\"\n",
        ),
    }
    if smoke {
        m.push_str("\n[smoke_test]\nrequest = \"smoke.json\"\n");
    }
    m
}
