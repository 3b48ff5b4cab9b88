//! Where components are compiled: in this process, or in a short-lived
//! child process (`edgeserve compile-worker`) under a memory and a time
//! limit.
//!
//! `edgeserve serve` compiles in a child. Cranelift's code and the compile
//! threads' heaps then never become resident in the server, so a node that
//! compiled its models at start idles at the same RSS as one that loaded
//! them from the AOT cache; and a component made to send the compiler
//! running away (a huge function, deep nesting) hits the child's limits
//! and fails only its own load. The child hands back the serialized
//! artifact, which the server loads exactly as it loads one from the AOT
//! cache, and trusts on the same terms: the server runs the very program
//! it is (`/proc/self/exe`, not a path that may have been replaced), gives
//! the child a one-time key on standard input ahead of the component, and
//! loads the artifact only when it comes back sealed with that key over
//! the component's sha256 and the server's own engine key.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use super::aot::{artifact_key, engine_key, open_artifact, seal_artifact};

use wasmtime::component::Component;
use wasmtime::{Config, Engine, OptLevel};

use super::error::LoadError;
use crate::limits::RuntimeConfig;
use crate::units::ByteSize;

/// The exit code of a worker whose input is not a valid component.
const EXIT_INVALID: i32 = 3;
/// Bytes of the one-time key a worker reads before the component.
const WORKER_KEY_LEN: usize = 32;
/// The most of a worker's standard error kept for the error message.
const STDERR_KEPT: usize = 4096;

/// The engine settings that shape compiled code. The server's engine and a
/// compile worker's engine are built from the same settings, so an artifact
/// from one loads in the other (wasmtime checks it again when loading).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileSettings {
    /// Address space reserved per linear memory, and its guard, when the
    /// pooling allocator is on (it changes the bounds checks compiled in).
    pub pooled_memory: Option<u64>,
}

/// The guard region after each pooled linear memory.
pub(crate) const POOLED_GUARD: u64 = 32 << 20;

impl CompileSettings {
    /// The settings of a server configured by `cfg`.
    pub fn for_runtime(cfg: &RuntimeConfig) -> CompileSettings {
        CompileSettings {
            pooled_memory: cfg
                .pooling
                .then_some(cfg.memory_reservation.0.max(cfg.max_memory.0)),
        }
    }

    /// A wasmtime configuration with these settings and no allocator choice
    /// (the instance allocator does not change compiled code).
    pub(crate) fn config(&self) -> Config {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            .parallel_compilation(true);
        if let Some(reservation) = self.pooled_memory {
            // A 4 GiB reservation (the default) covers every 32-bit address,
            // so with the guard after it cranelift drops the bounds check
            // on each load and store: ONNX tree ensembles ran 1.4-1.7x
            // faster than with a 1 GiB reservation. The address space is
            // only reserved, never committed.
            config.memory_reservation(reservation);
            config.memory_guard_size(POOLED_GUARD);
        }
        config
    }
}

/// Limits on one compile in a child process.
#[derive(Clone, Copy, Debug)]
pub struct CompileLimits {
    /// Wall-clock time for the whole compile.
    pub timeout: Duration,
    /// Writable memory the child may map (`RLIMIT_DATA`).
    pub memory: ByteSize,
}

impl CompileLimits {
    /// The `compile_timeout` and `compile_memory` of `cfg`.
    pub fn for_runtime(cfg: &RuntimeConfig) -> CompileLimits {
        CompileLimits {
            timeout: cfg.compile_timeout.0,
            memory: cfg.compile_memory,
        }
    }
}

/// How this process compiles components.
#[derive(Clone, Debug)]
pub(crate) enum Compiler {
    /// With the server's own engine, on the calling thread.
    InProcess,
    /// In a child process running `exe compile-worker`.
    Child {
        /// This program's executable.
        exe: PathBuf,
        /// Its limits.
        limits: CompileLimits,
    },
}

impl Compiler {
    /// Compiles `bytes` (whose sha256 is `digest`); also returns the
    /// serialized artifact when `want_artifact` (a child always returns
    /// it).
    pub(crate) fn compile(
        &self,
        engine: &Engine,
        settings: CompileSettings,
        bytes: &[u8],
        digest: &str,
        want_artifact: bool,
    ) -> Result<(Component, Option<Vec<u8>>), LoadError> {
        match self {
            Compiler::InProcess => {
                let component = Component::new(engine, bytes)
                    .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
                let artifact = if want_artifact {
                    component
                        .serialize()
                        .inspect_err(
                            |e| tracing::warn!(error = %e, "cannot serialize compiled component"),
                        )
                        .ok()
                } else {
                    None
                };
                Ok((component, artifact))
            }
            Compiler::Child { exe, limits } => {
                let mut key = [0u8; WORKER_KEY_LEN];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
                    .map_err(|_| LoadError::Compile("the system's random source failed".into()))?;
                let sealed = compile_in_child(exe, *limits, settings, &key, bytes)?;
                let opened =
                    open_artifact(&artifact_key(&key), &engine_key(engine), digest, &sealed)
                        .map_err(|e| e.to_string());
                // SAFETY: the artifact came back sealed with this call's
                // one-time key over this component's sha256 and this
                // engine's key: it is `Component::serialize` output of this
                // same program, for these bytes and these settings, just as
                // if compiled here. wasmtime checks its header again.
                #[allow(
                    unsafe_code,
                    reason = "loading our own compile worker's sealed artifact"
                )]
                let loaded = opened.and_then(|a| {
                    unsafe { Component::deserialize(engine, a) }
                        .map(|c| (c, a.to_vec()))
                        .map_err(|e| format!("{e:#}"))
                });
                match loaded {
                    Ok((component, artifact)) => Ok((component, Some(artifact))),
                    // The child saw another CPU than this process (only under
                    // an emulator such as valgrind), so its engine key and
                    // code differ. The component compiled within the child's
                    // limits, so compiling it here again is bounded, and gives
                    // code that fits this process.
                    Err(e) => {
                        tracing::warn!(error = %e, "the compile worker's artifact does not fit this process; compiling in-process");
                        Compiler::InProcess.compile(engine, settings, bytes, digest, want_artifact)
                    }
                }
            }
        }
    }
}

/// The program a compile worker runs: this very executable, by the
/// kernel's handle on it, so a binary replaced on disk since the server
/// started is never run as its worker.
fn worker_program(exe: &std::path::Path) -> PathBuf {
    let own = std::path::Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && own.exists() {
        own.to_path_buf()
    } else {
        exe.to_path_buf()
    }
}

/// Runs `exe compile-worker` on `bytes` (after the one-time `key`) and
/// returns its sealed artifact.
fn compile_in_child(
    exe: &std::path::Path,
    limits: CompileLimits,
    settings: CompileSettings,
    key: &[u8; WORKER_KEY_LEN],
    bytes: &[u8],
) -> Result<Vec<u8>, LoadError> {
    let mut cmd = Command::new(worker_program(exe));
    cmd.arg("compile-worker");
    if let Some(reservation) = settings.pooled_memory {
        cmd.arg("--pooled-memory").arg(reservation.to_string());
    }
    cmd.env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    limit_child(&mut cmd, limits.memory);
    let mut child = cmd.spawn().map_err(|e| {
        LoadError::Compile(format!(
            "cannot start the compile worker {}: {e}",
            exe.display()
        ))
    })?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(LoadError::Compile("the compile worker has no pipes".into()));
    };
    std::thread::scope(|scope| {
        // The child reads all of its input before it writes anything, but a
        // child that dies early must not leave this side blocked: the
        // writer and both readers get their own threads, and this one
        // waits for the artifact no longer than the time limit.
        scope.spawn(move || {
            let _ = stdin.write_all(key).and_then(|()| stdin.write_all(bytes));
        });
        let errors = scope.spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut stderr)
                .take(STDERR_KEPT as u64)
                .read_to_end(&mut kept);
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            String::from_utf8_lossy(&kept).trim().to_string()
        });
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        scope.spawn(move || {
            let mut artifact = Vec::new();
            let read = stdout.read_to_end(&mut artifact).map(|_| artifact);
            let _ = done_tx.send(read);
        });
        let output = done_rx.recv_timeout(limits.timeout);
        if output.is_err() {
            let _ = child.kill();
        }
        let status = child.wait();
        let stderr = errors.join().unwrap_or_default();
        match (output, status) {
            (Err(_), _) => Err(LoadError::Compile(format!(
                "compiling took longer than the {:?} limit ([runtime] compile_timeout)",
                limits.timeout
            ))),
            (Ok(Ok(artifact)), Ok(status)) if status.success() && !artifact.is_empty() => {
                Ok(artifact)
            }
            (_, Ok(status)) if status.code() == Some(EXIT_INVALID) => {
                Err(LoadError::Compile(stderr))
            }
            (_, Ok(status)) => Err(LoadError::Compile(worker_failure(status, limits, &stderr))),
            (_, Err(e)) => Err(LoadError::Compile(format!(
                "cannot wait for the compile worker: {e}"
            ))),
        }
    })
}

/// Describes a worker that failed other than by refusing its input.
fn worker_failure(status: ExitStatus, limits: CompileLimits, stderr: &str) -> String {
    let first = stderr.lines().map(str::trim).find(|l| !l.is_empty());
    let what = first.unwrap_or("no message");
    if what.starts_with("memory allocation of") {
        format!(
            "the compile worker ran out of its memory limit of {} ([runtime] compile_memory): {what}",
            limits.memory
        )
    } else {
        format!("the compile worker failed ({status}): {what}")
    }
}

/// Applies the memory limit to the child and has the kernel kill it when
/// the server dies, so a `kill -9` of the server leaves no compile running.
#[cfg(target_os = "linux")]
fn limit_child(cmd: &mut Command, memory: ByteSize) {
    use std::os::unix::process::CommandExt;
    let limit = libc::rlimit {
        rlim_cur: memory.0 as libc::rlim_t,
        rlim_max: memory.0 as libc::rlim_t,
    };
    // SAFETY: runs in the forked child before exec; setrlimit and prctl are
    // async-signal-safe, allocate nothing, and take only this stack value.
    #[allow(unsafe_code, reason = "async-signal-safe limits in the forked child")]
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Elsewhere only the time limit applies.
#[cfg(not(target_os = "linux"))]
fn limit_child(_cmd: &mut Command, _memory: ByteSize) {}

/// Why a compile worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The input is not a component this engine can compile.
    #[error("{0}")]
    Invalid(String),
    /// The worker itself failed (engine, pipes).
    #[error("{0}")]
    Failed(String),
}

impl WorkerError {
    /// The exit code the server reads.
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerError::Invalid(_) => EXIT_INVALID,
            WorkerError::Failed(_) => 1,
        }
    }
}

/// The child side: reads a one-time key and a component on standard input
/// and writes the component's serialized artifact, sealed with that key
/// over the component's sha256 and this engine's key, to standard output.
pub fn run_compile_worker(settings: CompileSettings) -> Result<(), WorkerError> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| WorkerError::Failed(format!("cannot read the component: {e}")))?;
    if input.len() < WORKER_KEY_LEN {
        return Err(WorkerError::Failed("no key before the component".into()));
    }
    let (key, bytes) = input.split_at(WORKER_KEY_LEN);
    let engine = Engine::new(&settings.config())
        .map_err(|e| WorkerError::Failed(format!("cannot configure the engine: {e:#}")))?;
    let artifact = Component::new(&engine, bytes)
        .and_then(|c| c.serialize())
        .map_err(|e| WorkerError::Invalid(format!("{e:#}")))?;
    let artifact = seal_artifact(
        &artifact_key(key),
        &engine_key(&engine),
        &super::digest(bytes),
        &artifact,
    );
    drop(input);
    let mut out = std::io::stdout().lock();
    out.write_all(&artifact)
        .and_then(|()| out.flush())
        .map_err(|e| WorkerError::Failed(format!("cannot write the artifact: {e}")))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn the_reservation_covers_max_memory_and_only_the_pool_sets_it() {
        let mut cfg = RuntimeConfig::default();
        assert_eq!(
            CompileSettings::for_runtime(&cfg).pooled_memory,
            Some(4 << 30)
        );
        cfg.memory_reservation = ByteSize(64 << 20);
        cfg.max_memory = ByteSize(256 << 20);
        assert_eq!(
            CompileSettings::for_runtime(&cfg).pooled_memory,
            Some(256 << 20)
        );
        cfg.pooling = false;
        assert_eq!(CompileSettings::for_runtime(&cfg).pooled_memory, None);
    }

    #[test]
    fn a_failed_worker_is_described_by_its_first_line() {
        let limits = CompileLimits {
            timeout: Duration::from_secs(1),
            memory: ByteSize(96 << 20),
        };
        let abort = ExitStatus::from_raw(libc::SIGABRT);
        let oom = worker_failure(
            abort,
            limits,
            "memory allocation of 4194304 bytes failed\nstack backtrace:\n",
        );
        assert_eq!(
            oom,
            "the compile worker ran out of its memory limit of 96MiB ([runtime] compile_memory): \
             memory allocation of 4194304 bytes failed"
        );
        let other = worker_failure(ExitStatus::from_raw(1 << 8), limits, "\n  boom\n");
        assert!(other.ends_with("): boom"), "{other}");
        assert!(worker_failure(abort, limits, "").ends_with("no message"));
    }
}
