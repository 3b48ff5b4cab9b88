//! Per-store host state: an empty WASI context (nothing ambient), the
//! memory limiter, the call deadline, guest output capture and the
//! `logging` / `config` imports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Most bytes of guest stdout+stderr kept per call; the rest is dropped.
const OUTPUT_CAP: usize = 16 * 1024;
/// Most lines of guest output logged per call.
const MAX_LINES: usize = 64;
/// Most bytes of `logging.log` messages forwarded per call.
const LOG_BUDGET: usize = 16 * 1024;

/// The resource limit a guest ran into, recorded so the error can say so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitHit {
    /// Linear memory would have grown past the cap.
    Memory,
    /// A table would have grown past the cap.
    Table,
}

/// Raised (as a trap) when a guest passes its deadline.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
pub(crate) struct DeadlineExceeded;

/// Raised (as a trap) when a guest grows memory or a table past its cap.
#[derive(Debug, thiserror::Error)]
#[error("resource limit exceeded: {0:?}")]
pub(crate) struct LimitExceeded(pub(crate) LimitHit);

/// Memory and table caps of one store (one instance): the memory cap is on
/// the sum of all its linear memories, not on each one.
pub(crate) struct Limits {
    memory_bytes: usize,
    table_elements: usize,
    memory_used: usize,
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_used
            .saturating_add(desired.saturating_sub(current));
        if total > self.memory_bytes {
            return Err(LimitExceeded(LimitHit::Memory).into());
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(LimitExceeded(LimitHit::Table).into());
        }
        Ok(true)
    }
}

/// Captured guest stdout/stderr: shared by the stream handles of one store,
/// capped, drained into the host log after each call.
#[derive(Clone, Default)]
pub(crate) struct GuestOutput {
    inner: Arc<Mutex<OutputBuf>>,
}

#[derive(Default)]
struct OutputBuf {
    bytes: Vec<u8>,
    dropped: usize,
}

impl GuestOutput {
    fn append(&self, data: &[u8]) {
        let mut buf = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let room = OUTPUT_CAP.saturating_sub(buf.bytes.len());
        let take = room.min(data.len());
        buf.bytes.extend_from_slice(&data[..take]);
        buf.dropped += data.len() - take;
    }

    /// Takes what was written since the last drain, and how many bytes were
    /// dropped over the cap.
    pub(crate) fn drain(&self) -> (Vec<u8>, usize) {
        let mut buf = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (
            std::mem::take(&mut buf.bytes),
            std::mem::take(&mut buf.dropped),
        )
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always accept: output over the cap is dropped, never an error, so a
        // chatty guest is not made to fail.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// The data of every store edgeserve creates.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: Limits,
    /// When the current call must end.
    pub(crate) deadline: Instant,
    /// `name@version`, for log lines.
    label: Arc<str>,
    config: Arc<BTreeMap<String, String>>,
    artifacts: crate::repository::Artifacts,
    pub(crate) output: GuestOutput,
    log_budget: usize,
}

impl HostState {
    /// A fresh state with nothing ambient: no preopened directories, no
    /// environment, no arguments, no network.
    pub(crate) fn new(
        label: Arc<str>,
        config: Arc<BTreeMap<String, String>>,
        artifacts: crate::repository::Artifacts,
        memory_bytes: usize,
        table_elements: usize,
    ) -> Self {
        let output = GuestOutput::default();
        let wasi = WasiCtx::builder()
            .stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limits: Limits {
                memory_bytes,
                table_elements,
                memory_used: 0,
            },
            deadline: Instant::now(),
            label,
            config,
            artifacts,
            output,
            log_budget: LOG_BUDGET,
        }
    }

    /// Makes a retired store's state fit for a new store of the same
    /// version: nothing of the old instance stays (its resources, memory
    /// count and output are dropped). The WASI context is kept: building
    /// one (clocks, seeded random generators, stdio) was a tenth of a fresh
    /// instance's cost, and it holds no instance state.
    pub(crate) fn reset(&mut self) {
        self.table = ResourceTable::new();
        self.limits.memory_used = 0;
        self.log_budget = LOG_BUDGET;
        let _ = self.output.drain();
    }

    /// Prepares for the next call.
    pub(crate) fn begin_call(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.log_budget = LOG_BUDGET;
    }

    /// Forwards captured stdout/stderr to the host log, a line per event,
    /// and returns the last non-empty line (it often says why a guest
    /// trapped, e.g. a Rust panic message).
    pub(crate) fn flush_output(&self) -> Option<String> {
        let (bytes, dropped) = self.output.drain();
        if bytes.is_empty() && dropped == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(&bytes);
        let lines = text.lines().count();
        // Guest text is only ever a quoted, escaped field: it cannot end
        // the log line or pose as one of the host's own.
        for line in text.lines().take(MAX_LINES) {
            tracing::info!(target: "edgeserve::guest", model = &*self.label, output = line, "guest output");
        }
        if lines > MAX_LINES {
            tracing::warn!(target: "edgeserve::guest", model = &*self.label, skipped = lines - MAX_LINES, "guest printed more than {MAX_LINES} lines in one call; the rest were not logged");
        }
        if dropped > 0 {
            tracing::warn!(target: "edgeserve::guest", model = &*self.label, dropped, "guest output over the {OUTPUT_CAP}-byte cap was dropped");
        }
        last_words(&text)
    }
}

/// What a guest's output says about how it ended: a Rust panic's location
/// and message when there is one, otherwise the last meaningful line.
fn last_words(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    let said = match lines.iter().rposition(|l| l.contains(" panicked at ")) {
        Some(i) => match lines.get(i + 1) {
            Some(msg) => format!("{} {msg}", lines[i]),
            None => lines[i].to_string(),
        },
        None => lines.last()?.to_string(),
    };
    Some(crate::text::bounded(&said, 300))
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HostState {
    /// A guest's log line: bounded by the call's budget, escaped, and
    /// logged as a quoted field, so a guest cannot write a line that looks
    /// like the host's (an audit record, say).
    fn guest_log(&mut self, level: tracing::Level, message: &str) {
        if self.log_budget == 0 {
            return;
        }
        let take = message.len().min(self.log_budget);
        self.log_budget -= take;
        let msg = crate::text::bounded(message, take);
        let label = &*self.label;
        match level {
            tracing::Level::TRACE => {
                tracing::trace!(target: "edgeserve::guest", model = label, text = msg.as_str(), "guest log")
            }
            tracing::Level::DEBUG => {
                tracing::debug!(target: "edgeserve::guest", model = label, text = msg.as_str(), "guest log")
            }
            tracing::Level::INFO => {
                tracing::info!(target: "edgeserve::guest", model = label, text = msg.as_str(), "guest log")
            }
            tracing::Level::WARN => {
                tracing::warn!(target: "edgeserve::guest", model = label, text = msg.as_str(), "guest log")
            }
            tracing::Level::ERROR => {
                tracing::error!(target: "edgeserve::guest", model = label, text = msg.as_str(), "guest log")
            }
        }
    }
}

/// The `logging`, `config` and `artifacts` imports of one WIT series: the
/// same for every series, each with its own generated traits.
macro_rules! imports {
    ($($ml:tt)+) => {
        impl $($ml)+::logging::Host for HostState {
            async fn log(&mut self, level: $($ml)+::logging::Level, message: String) {
                use $($ml)+::logging::Level;
                let level = match level {
                    Level::Trace => tracing::Level::TRACE,
                    Level::Debug => tracing::Level::DEBUG,
                    Level::Info => tracing::Level::INFO,
                    Level::Warn => tracing::Level::WARN,
                    Level::Error => tracing::Level::ERROR,
                };
                self.guest_log(level, &message);
            }
        }

        impl $($ml)+::config::Host for HostState {
            async fn get(&mut self, key: String) -> Option<String> {
                self.config.get(&key).cloned()
            }

            async fn keys(&mut self) -> Vec<String> {
                self.config.keys().cloned().collect()
            }
        }

        impl $($ml)+::artifacts::Host for HostState {
            async fn get(&mut self, name: String) -> Option<Vec<u8>> {
                self.artifacts.get(&name).map(|b| b.to_vec())
            }

            async fn names(&mut self) -> Vec<String> {
                self.artifacts.names()
            }
        }

        impl $($ml)+::types::Host for HostState {}
    };
}

imports!(super::bindings::v1::edgeserve::ml);
imports!(super::bindings::v2::edgeserve::ml);

#[cfg(test)]
mod tests {
    use super::last_words;

    #[test]
    fn finds_the_panic_message() {
        let out = "starting\nthread '<unnamed>' panicked at src/lib.rs:40:24:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            last_words(out).unwrap(),
            "thread '<unnamed>' panicked at src/lib.rs:40:24: boom"
        );
        assert_eq!(last_words("a\nb\n\n").unwrap(), "b");
        assert_eq!(
            last_words("thread 'x' panicked at a.rs:1:1:\nfake\u{1b}[0m").unwrap(),
            "thread 'x' panicked at a.rs:1:1: fake\\u{1b}[0m"
        );
        assert_eq!(last_words(""), None);
    }
}
