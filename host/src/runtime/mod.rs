//! The WebAssembly side: one engine, loaded versions, sandboxed calls.

mod aot;
mod bindings;
mod compiler;
mod engine;
mod error;
mod host_state;
mod loaded;
mod pool;
mod stats;

pub use aot::{AotCache, AotOutcome, ArtifactError, artifact_key, open_artifact, seal_artifact};
pub use bindings::{MODEL_EXPORT, POLICY_EXPORT, WIT_VERSION};

/// The WIT-side request and response, and their conversions, for the
/// policy chain.
pub(crate) mod wit_abi {
    pub(crate) use super::bindings::wit::{InferenceRequest, InferenceResponse};
    pub(crate) use super::bindings::{
        apply_request_rewrite, request_bytes, request_copy_to_wit as request_copy, response_bytes,
        response_from_wit as response_from, response_to_wit as response_copy,
    };
}

/// The `filter` interface's types (policy context and decisions).
pub(crate) mod policy_abi {
    pub(crate) use super::bindings::policy::filter::{
        AuthMethod, Header, RequestContext, RequestDecision, ResponseDecision,
    };
}
pub use compiler::{CompileLimits, CompileSettings, WorkerError, run_compile_worker};
pub use engine::{EngineError, Runtime};
pub use error::{InvokeError, LoadError, ModelErrorKind};
pub use loaded::check_world;
pub use loaded::{CallTiming, LoadedModel, digest, live_versions};
pub use stats::{VersionStats, WindowSummary};
