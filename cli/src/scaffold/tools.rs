//! The external tools `build` runs, and how to install each when missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{COMPONENTIZE_PY_VERSION, ScaffoldError};

/// The first `name` on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `cargo`, with the `wasm32-wasip2` target installed (checked through
/// `rustup` when there is one).
pub(crate) fn cargo_for_wasm() -> Result<PathBuf, ScaffoldError> {
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| which("cargo"))
        .ok_or_else(|| ScaffoldError::MissingTool {
            tool: "cargo (the Rust toolchain)".into(),
            install: "install rustup (https://rustup.rs), then run: rustup target add \
                      wasm32-wasip2"
                .into(),
        })?;
    if let Some(rustup) = which("rustup") {
        let installed = Command::new(rustup)
            .args(["target", "list", "--installed"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"))
            .unwrap_or(true);
        if !installed {
            return Err(missing_wasm_target());
        }
    }
    Ok(cargo)
}

/// The message for a toolchain without the `wasm32-wasip2` target.
pub(crate) fn missing_wasm_target() -> ScaffoldError {
    ScaffoldError::MissingTool {
        tool: "the wasm32-wasip2 Rust target".into(),
        install: "run: rustup target add wasm32-wasip2".into(),
    }
}

/// `componentize-py`: `$EDGESERVE_COMPONENTIZE_PY`, or on `PATH`.
pub(crate) fn componentize_py() -> Result<PathBuf, ScaffoldError> {
    std::env::var_os("EDGESERVE_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| which("componentize-py"))
        .ok_or_else(|| ScaffoldError::MissingTool {
            tool: "componentize-py".into(),
            install: format!(
                "install it with: pip install componentize-py=={COMPONENTIZE_PY_VERSION} \
                 (or set EDGESERVE_COMPONENTIZE_PY to its path)"
            ),
        })
}

/// The ONNX runner's file name, wherever it is (Cargo's name for the
/// `onnx-runner` crate's component).
pub(crate) const ONNX_RUNNER_FILE: &str = "onnx_runner.wasm";

/// Where `scripts/build-examples` (and the test suite) builds the runner,
/// relative to the folder of the `edgeserve` binary (`target/release` or
/// `target/debug`).
const ONNX_RUNNER_BUILT: &str = "../guests/wasm32-wasip2/release";

/// The ONNX runner component: `--runner`, else `$EDGESERVE_ONNX_RUNNER`,
/// else `onnx_runner.wasm` beside the `edgeserve` binary (an install), else
/// where the checkout's build puts it (`target/guests/...`, found from
/// `target/release/edgeserve` without any flag).
pub(crate) fn onnx_runner(given: Option<&Path>) -> Result<PathBuf, ScaffoldError> {
    let explicit = given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("EDGESERVE_ONNX_RUNNER").map(PathBuf::from));
    let looked: Vec<PathBuf> = match explicit {
        Some(p) => vec![p],
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .map(|d| {
                vec![
                    d.join(ONNX_RUNNER_FILE),
                    d.join(ONNX_RUNNER_BUILT).join(ONNX_RUNNER_FILE),
                ]
            })
            .unwrap_or_default(),
    };
    if let Some(found) = looked.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let places: Vec<String> = looked
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .map(|p| p.display().to_string())
        .collect();
    Err(ScaffoldError::MissingTool {
        tool: format!(
            "the ONNX runner component (looked for {})",
            if places.is_empty() {
                ONNX_RUNNER_FILE.to_string()
            } else {
                places.join(" and ")
            }
        ),
        install: format!(
            "build it once in the edgeserve checkout with scripts/build-examples (it puts \
             {ONNX_RUNNER_FILE} in target/guests/wasm32-wasip2/release, where \
             target/release/edgeserve finds it), or copy {ONNX_RUNNER_FILE} beside the edgeserve \
             binary, or pass --runner PATH (or set EDGESERVE_ONNX_RUNNER)"
        ),
    })
}

/// Runs a command with inherited output; an error unless it succeeds.
pub(crate) fn run(cmd: &mut Command, tool: &str) -> Result<(), ScaffoldError> {
    let status = cmd
        .status()
        .map_err(super::io(format!("cannot run {tool}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(ScaffoldError::ToolFailed {
            tool: tool.to_string(),
            status: status.to_string(),
        })
    }
}
