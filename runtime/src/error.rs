//! Errors of loading a component and of running one call.

use crate::units::ByteSize;

/// Why a component could not be loaded; names the phase that failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest asks for limits this host does not allow.
    #[error("limits: {0}")]
    Limits(String),
    /// The file is not a WebAssembly component at all (another file, or a
    /// core module); says what it is and how to make a component.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// The bytes are not a valid component for this engine.
    #[error("compile: {0}")]
    Compile(String),
    /// The component targets another world or WIT version.
    #[error("world check: {0}")]
    World(String),
    /// The component's imports cannot be satisfied.
    #[error("link: {0}")]
    Link(String),
    /// `metadata` failed or returned something unusable.
    #[error("metadata: {0}")]
    Metadata(String),
}

/// The kind of a model-reported error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelErrorKind {
    /// The request is wrong for the model.
    InvalidInput,
    /// The model failed.
    Internal,
    /// The model cannot answer now.
    Unavailable,
}

/// Why one call did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The call ran past its deadline and was interrupted.
    #[error("model {model} exceeded its deadline of {deadline:?}")]
    Deadline {
        /// `name@version`.
        model: String,
        /// The deadline.
        deadline: std::time::Duration,
    },
    /// The guest tried to grow memory past its cap.
    #[error("model {model} exceeded its memory limit of {limit}")]
    MemoryLimit {
        /// `name@version`.
        model: String,
        /// The cap.
        limit: ByteSize,
    },
    /// The guest handed the host more data in one call than its
    /// `max_response` allows (an answer, a log line, a rewrite).
    #[error(
        "model {model} handed the host more than its max_response of {limit} in one call \
         ([limits] max_response)"
    )]
    TooLarge {
        /// `name@version`.
        model: String,
        /// The limit.
        limit: ByteSize,
    },
    /// The guest trapped (a panic, an unreachable, a bad access...).
    #[error("model {model} trapped: {}", trap_text(.message, .said.as_deref()))]
    Trap {
        /// `name@version`.
        model: String,
        /// The trap.
        message: String,
        /// The guest's last output line before it (a Rust panic's
        /// message): the cause a user can act on.
        said: Option<String>,
    },
    /// The model returned an error value.
    #[error("model {model}: {message}")]
    Model {
        /// `name@version`.
        model: String,
        /// The kind the model gave.
        kind: ModelErrorKind,
        /// The model's message.
        message: String,
    },
    /// The model's answer does not fit its own declared shapes.
    #[error("model {model} returned a malformed response: {message}")]
    BadOutput {
        /// `name@version`.
        model: String,
        /// What is wrong.
        message: String,
    },
    /// A policy rewrote a request or response into tensors that do not fit
    /// their own shapes.
    #[error("policy {policy} answered with a rewrite that does not fit its shape: {message}")]
    BadRewrite {
        /// `name@version`.
        policy: String,
        /// What is wrong.
        message: String,
    },
    /// Too many requests are running on this version, or no instance slot
    /// is free.
    #[error("model {model} is at capacity ({reason}); retry later")]
    Busy {
        /// `name@version`.
        model: String,
        /// Which limit.
        reason: String,
    },
    /// A new instance could not be created.
    #[error("model {model} could not be instantiated: {message}")]
    Instantiate {
        /// `name@version`.
        model: String,
        /// Why.
        message: String,
    },
}

/// A trap as a user reads it: what the guest said last, then the trap.
fn trap_text(trap: &str, said: Option<&str>) -> String {
    match said {
        Some(line) => format!("{line} (then: {trap})"),
        None => trap.to_string(),
    }
}
