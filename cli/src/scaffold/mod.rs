//! From a model project to a deployable version folder, for data
//! scientists: `edgeserve new model` scaffolds a project, `edgeserve build`
//! turns one into `<out>/<name>/<version>/{manifest.toml, model.wasm, ...}`,
//! ready for a model repository or `edgeserve deploy --path`.
//!
//! - [`new`]: project templates (Rust crate, Python module, ONNX file);
//! - [`build`]: detects the project kind and runs the right tool
//!   (`cargo` for `wasm32-wasip2`, `componentize-py`, or the prebuilt ONNX
//!   runner plus an `[artifacts]` manifest);
//! - [`tools`]: finding those tools, with install instructions when they
//!   are missing.

pub(crate) mod build;
pub(crate) mod new;
pub(crate) mod tools;

pub(crate) use build::{BuildOptions, build};
pub(crate) use new::{Lang, new_model};

/// The `componentize-py` release the Python path is tested with.
pub(crate) const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The WIT package models are built against, embedded for componentize-py.
pub(crate) const WIT: &str = include_str!("../../../wit/edgeserve.wit");

/// Why scaffolding or building failed; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScaffoldError {
    /// A tool is missing; the message says how to install it.
    #[error("{tool} is needed: {install}")]
    MissingTool {
        /// The tool.
        tool: String,
        /// How to install it.
        install: String,
    },
    /// The project is not one `build` knows.
    #[error("{0}")]
    Project(String),
    /// A tool ran and failed.
    #[error("{tool} failed ({status}); its output is above")]
    ToolFailed {
        /// The command.
        tool: String,
        /// Its exit status.
        status: String,
    },
    /// Reading or writing files failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Wraps an I/O error with what was being done.
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ScaffoldError {
    let what = what.into();
    move |source| ScaffoldError::Io { what, source }
}
