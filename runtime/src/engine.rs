//! The one wasmtime [`Engine`] of the process: component model, cranelift,
//! pooling allocator, epoch interruption driven by a ticker thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::{v1, v2};
use super::compiler::{CompileLimits, CompileSettings, Compiler, POOLED_GUARD};
use super::host_state::HostState;
use crate::limits::RuntimeConfig;

/// The shared engine, the linker with every host import, and the ticker
/// that advances the epoch for deadlines.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    ticker_stop: Arc<AtomicBool>,
    /// The largest memory cap a model may ask for.
    pub(crate) max_memory: u64,
    /// Compiled artifacts on disk, when enabled.
    pub(crate) aot: Option<super::AotCache>,
    /// The last few components compiled in this process, by sha256: one
    /// runner component (such as the ONNX runner, tens of seconds to
    /// compile) deployed under many models is compiled once.
    recent: Mutex<VecDeque<(String, wasmtime::component::Component)>>,
    /// The settings compiled code depends on.
    settings: CompileSettings,
    /// In this process or in a child.
    compiler: Compiler,
}

/// How many compiled components [`Runtime::compile`] keeps for reuse.
const RECENT_COMPONENTS: usize = 4;

/// A cause from wasmtime (its `anyhow`-style error, kept as a source).
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// The engine could not be built with the given settings; the cause is
/// kept as the error's source.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Wasmtime refused the settings.
    #[error("cannot configure the WebAssembly engine")]
    Wasmtime(#[source] Cause),
    /// The instance pool cannot reserve its address space.
    #[error(
        "cannot configure the WebAssembly engine: the instance pool reserves {reserved} of \
         address space (instance_slots x 2 x (memory_reservation + {guard})); lower either"
    )]
    Pool {
        /// Address space the pool asked for.
        reserved: crate::units::ByteSize,
        /// The guard region after each memory.
        guard: crate::units::ByteSize,
        /// Wasmtime's error.
        #[source]
        source: Cause,
    },
    /// The epoch ticker thread cannot start.
    #[error("cannot start the epoch ticker")]
    Ticker(#[source] std::io::Error),
}

impl Runtime {
    /// Builds the engine and linker and starts the epoch ticker thread.
    pub fn new(cfg: &RuntimeConfig) -> Result<Runtime, EngineError> {
        let err = |e: wasmtime::Error| EngineError::Wasmtime(e.into());
        let settings = CompileSettings::for_runtime(cfg);
        let mut config = settings.config();
        // For profiling only: name guest functions for `perf` in
        // /tmp/perf-<pid>.map (see BENCHMARKS.md, "Where the time goes").
        if std::env::var_os("EDGESERVE_PERF_MAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if cfg.pooling {
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(cfg.instance_slots)
                .total_core_instances(cfg.instance_slots.saturating_mul(4))
                .total_memories(cfg.instance_slots.saturating_mul(2))
                .total_tables(cfg.instance_slots.saturating_mul(4))
                .total_stacks(cfg.instance_slots)
                .max_core_instances_per_component(64)
                .max_memories_per_component(8)
                .max_tables_per_component(16)
                .max_memory_size(cfg.max_memory.as_usize())
                .table_elements(cfg.max_table_elements as usize)
                .max_component_instance_size(1 << 20)
                .max_core_instance_size(1 << 20)
                // Reset a freed instance's memory by rewriting only the pages
                // it dirtied (PAGEMAP_SCAN, Linux 6.7+; a no-op elsewhere)
                // up to 4 MiB, and batch the madvise calls beyond that: a
                // fresh instance then costs no page faults and few TLB
                // shootdowns. 4 MiB covers a small model's stack, data and
                // heap (1 MiB left Iris's heap to page faults: 12.2 ->
                // 11.6 µs per fresh instance); only pages a guest touched
                // stay resident.
                .pagemap_scan(wasmtime::Enabled::Auto)
                .linear_memory_keep_resident(4 << 20)
                .table_keep_resident(64 * 1024)
                .decommit_batch_size(16);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(|e| match settings.pooled_memory {
            // The pool reserves its address space up front.
            Some(reservation) => EngineError::Pool {
                reserved: crate::units::ByteSize(
                    u64::from(cfg.instance_slots)
                        .saturating_mul(2)
                        .saturating_mul(reservation.saturating_add(POOLED_GUARD)),
                ),
                guard: crate::units::ByteSize(POOLED_GUARD),
                source: e.into(),
            },
            None => err(e),
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(err)?;
        // Both WIT series: 0.1 components keep running beside 0.2 ones.
        v1::Model::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(err)?;
        v2::Model::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(err)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let tick = cfg.epoch_tick.0.max(Duration::from_micros(100));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("edgeserve-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(EngineError::Ticker)?;
        }
        Ok(Runtime {
            engine,
            linker,

            ticker_stop,
            max_memory: cfg.max_memory.0,
            aot: None,
            recent: Mutex::new(VecDeque::new()),
            settings,
            compiler: Compiler::InProcess,
        })
    }

    /// Compiles from now on in child processes running `exe compile-worker`
    /// (`exe` must be the `edgeserve` program) under `limits`.
    pub fn compile_in_child(&mut self, exe: std::path::PathBuf, limits: CompileLimits) {
        self.compiler = Compiler::Child { exe, limits };
    }

    /// Keeps compiled components in `dir` and loads them from there,
    /// authenticated with the node's `secret`.
    pub fn enable_aot_cache(
        &mut self,
        dir: std::path::PathBuf,
        secret: &[u8],
    ) -> Result<(), String> {
        self.aot = Some(super::AotCache::new(dir, &self.engine, secret)?);
        Ok(())
    }

    /// Compiles a component, through the AOT cache when there is one.
    /// `what` names it (`iris@1`) in the log line said before compiling,
    /// the one step that can take seconds.
    pub fn compile(
        &self,
        bytes: &[u8],
        digest: &str,
        what: &str,
    ) -> Result<(wasmtime::component::Component, super::AotOutcome), super::LoadError> {
        let shared = self
            .recent()
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, c)| c.clone());
        if let Some(component) = shared {
            return Ok((component, super::AotOutcome::Shared));
        }
        let compile = |want_artifact| {
            let size = format!("{:.1} MB", bytes.len() as f64 / 1e6);
            if self.aot.is_some() {
                tracing::info!(
                    "compiling {what} ({size}, sha256 {}) — first time only: the AOT cache \
                     keeps it for later starts",
                    &digest[..digest.len().min(12)]
                );
            } else {
                tracing::info!("compiling {what} ({size}); no AOT cache, so every start compiles");
            }
            self.compiler
                .compile(&self.engine, self.settings, bytes, digest, want_artifact)
        };
        let (component, outcome) = match &self.aot {
            Some(cache) => cache.load_or_compile(&self.engine, digest, compile)?,
            None => (compile(false)?.0, super::AotOutcome::NoCache),
        };
        if !matches!(outcome, super::AotOutcome::Hit) {
            crate::allocator::release_freed();
        }
        let mut recent = self.recent();
        if recent.len() >= RECENT_COMPONENTS {
            recent.pop_front();
        }
        recent.push_back((digest.to_string(), component.clone()));
        Ok((component, outcome))
    }

    fn recent(
        &self,
    ) -> std::sync::MutexGuard<'_, VecDeque<(String, wasmtime::component::Component)>> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
