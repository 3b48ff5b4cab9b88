//! Limits: the WebAssembly engine's (set once per node) and each model's
//! defaults (laid under what a version's manifest sets). Plain data read
//! from the `[runtime]` and `[model_defaults]` sections of the node's
//! configuration file.

use std::time::Duration;

use serde::Deserialize;

use crate::units::{ByteSize, HumanDuration};

/// The WebAssembly engine.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Use the pooling instance allocator (fast instantiation).
    pub pooling: bool,
    /// Instances that may exist at once across all models (pool slots).
    pub instance_slots: u32,
    /// The largest memory any model may be given.
    pub max_memory: ByteSize,
    /// Address space reserved for each linear memory in the pool (at least
    /// `max_memory`). At 4 GiB, compiled code needs no bounds checks on
    /// memory accesses; lower it only where address space is scarce: the
    /// pool reserves `instance_slots` x 2 x (this + 32 MiB) at start.
    pub memory_reservation: ByteSize,
    /// The largest table any model may grow.
    pub max_table_elements: u32,
    /// Epoch tick; deadlines are checked at this granularity.
    pub epoch_tick: HumanDuration,
    /// Longest a component may take to compile (`serve` compiles in a
    /// child process, killed at this limit).
    pub compile_timeout: HumanDuration,
    /// Writable memory the compiling child process may map.
    pub compile_memory: ByteSize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            pooling: true,
            instance_slots: 1000,
            max_memory: ByteSize(1 << 30),
            memory_reservation: ByteSize(4 << 30),
            max_table_elements: 100_000,
            epoch_tick: HumanDuration(Duration::from_millis(2)),
            compile_timeout: HumanDuration(Duration::from_secs(300)),
            compile_memory: ByteSize(4 << 30),
        }
    }
}

/// How a model's instances live.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// A new store and instance for every request.
    Fresh,
    /// A bounded pool of warm instances reused across requests.
    Pooled,
}

/// Limits for models whose manifest does not set them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelDefaults {
    /// Isolation mode.
    pub isolation: Isolation,
    /// Linear memory cap per instance.
    pub memory: ByteSize,
    /// Wall-clock deadline per call.
    pub deadline: HumanDuration,
    /// Warm instances kept per version (pooled isolation).
    pub pool_size: u32,
    /// Calls after which a warm instance is replaced.
    pub max_uses: u32,
    /// Requests a version runs at once; more get 503.
    pub max_concurrency: u32,
    /// Largest answer a model may hand the host (wasmtime's hostcall fuel:
    /// host memory spent lifting it); a bigger one fails the call.
    pub max_response: ByteSize,
}

impl Default for ModelDefaults {
    fn default() -> Self {
        ModelDefaults {
            isolation: Isolation::Pooled,
            memory: ByteSize(128 << 20),
            deadline: HumanDuration(Duration::from_secs(2)),
            pool_size: 16,
            max_uses: 10_000,
            max_concurrency: 256,
            max_response: ByteSize(64 << 20),
        }
    }
}
