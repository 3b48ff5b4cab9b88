//! edgeserve's WebAssembly runtime: one wasmtime engine for the node, model
//! and policy components loaded from a model repository with their limits,
//! and sandboxed calls (memory cap, deadline, no ambient file, network or
//! environment access). Nothing here speaks HTTP; the node (`edgeserve-node`)
//! builds on it.
//!
//! - [`Runtime`]: the engine, its linker and AOT cache; [`LoadedModel`]: a
//!   compiled, linked, validated version and its instance pool;
//! - [`repository`]: the model repository and its manifests; [`limits`]:
//!   the engine's and each model's limits;
//! - [`inspect`]: what a component is (world, WIT version, exports);
//! - [`policy_abi`]: what a policy filter is handed and answers;
//! - [`budget`], [`allocator`], [`fsutil`], [`units`], [`text`]: the small
//!   pieces the node shares with the runtime.

pub mod allocator;
pub mod budget;
pub mod fsutil;
pub mod inspect;
pub mod limits;
pub mod policy_abi;
pub mod repository;
pub mod text;
pub mod units;

use edgeserve_oip::{protocol, tensor};

mod aot;
#[allow(
    missing_docs,
    reason = "the generated WIT bindings; wit/edgeserve.wit documents them"
)]
mod bindings;
mod compiler;
mod engine;
mod error;
mod host_state;
mod loaded;
mod pool;
mod stats;

pub use aot::{AotCache, AotOutcome, ArtifactError, artifact_key, open_artifact, seal_artifact};
pub use bindings::{Abi, MODEL_EXPORT, POLICY_EXPORT, WIT_VERSION, WIT_VERSIONS_RUN};
pub use compiler::{CompileLimits, CompileSettings, WorkerError, run_compile_worker};
pub use engine::{EngineError, Runtime};
pub use error::{InvokeError, LoadError, ModelErrorKind};
pub use loaded::{CallTiming, LoadedModel, digest, live_versions};
pub use loaded::{check_component_bytes, check_world, classify};
pub use stats::{VersionStats, WindowSummary};
