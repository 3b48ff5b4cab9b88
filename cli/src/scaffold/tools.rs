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

/// The ONNX runner component: `--runner`, `$EDGESERVE_ONNX_RUNNER`, or
/// `onnx-runner.wasm` beside the `edgeserve` binary.
pub(crate) fn onnx_runner(given: Option<&Path>) -> Result<PathBuf, ScaffoldError> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("onnx-runner.wasm")));
    let candidate = given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("EDGESERVE_ONNX_RUNNER").map(PathBuf::from))
        .or(beside);
    match candidate {
        Some(p) if p.is_file() => Ok(p),
        other => Err(ScaffoldError::MissingTool {
            tool: format!(
                "the ONNX runner component{}",
                other.map_or(String::new(), |p| format!(
                    " (not found at {})",
                    p.display()
                ))
            ),
            install: "build it once from the edgeserve repository with: cargo build --release \
                      --target wasm32-wasip2 --manifest-path runners/onnx/Cargo.toml, then pass \
                      --runner target/wasm32-wasip2/release/onnx_runner.wasm (or set \
                      EDGESERVE_ONNX_RUNNER, or copy it beside the edgeserve binary as \
                      onnx-runner.wasm)"
                .into(),
        }),
    }
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
