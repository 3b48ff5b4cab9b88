//! The WebAssembly side: one engine, loaded versions, sandboxed calls.

mod aot;
mod bindings;
mod engine;
mod error;
mod host_state;
mod loaded;
mod pool;
mod stats;

pub use aot::{AotCache, AotOutcome};
pub use bindings::{MODEL_EXPORT, WIT_VERSION};
pub use engine::{EngineError, Runtime};
pub use error::{InvokeError, LoadError, ModelErrorKind};
pub use loaded::check_world;
pub use loaded::{LoadedModel, digest, live_versions};
pub use stats::{VersionStats, WindowSummary};
