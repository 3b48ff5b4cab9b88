//! The prediction log: per model, a sampled JSON Lines record of each
//! inference (request id, time, model, version, inputs, outputs, latency,
//! outcome), written by a background thread fed through a queue bounded in
//! records and in bytes, so the request path never waits and never touches
//! a file, and a burst of large requests cannot pile up in memory. A full
//! queue drops the record and counts it. A record keeps at most
//! `max_record_tensors` bytes of tensors: inputs or outputs past that are
//! left out, and the record says how many bytes were cut. Files rotate by
//! size and old ones are deleted past a retention count. A torn last line
//! (a crash mid-write) is skipped on read.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::protocol::write_tensor_json;
use crate::tensor::{Tensor, TensorData};
use crate::units::ByteSize;

/// Server-wide prediction log settings (`[prediction_log]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PredictionLogConfig {
    /// Folder of the logs; `<state-dir>/predictions` when unset.
    pub dir: Option<PathBuf>,
    /// A file is rotated when it would grow past this size.
    pub max_file_size: ByteSize,
    /// Rotated files kept per model (older ones are deleted).
    pub max_files: usize,
    /// Records that may wait for the writer; more are dropped and counted.
    pub queue: usize,
    /// Bytes of records that may wait for the writer; more are dropped and
    /// counted.
    pub queue_bytes: ByteSize,
    /// Most tensor bytes (inputs and outputs together) one record keeps;
    /// tensors past it are left out of the record, which says how many
    /// bytes were cut.
    pub max_record_tensors: ByteSize,
}

impl Default for PredictionLogConfig {
    fn default() -> Self {
        PredictionLogConfig {
            dir: None,
            max_file_size: ByteSize(64 << 20),
            max_files: 10,
            queue: 10_000,
            queue_bytes: ByteSize(64 << 20),
            max_record_tensors: ByteSize(1 << 20),
        }
    }
}

pub use crate::repository::LogSettings;

/// Whether the request numbered `n` falls in a `rate` sample (0–1), spread
/// evenly over request numbers.
pub fn sampled(n: u64, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    if rate >= 1.0 {
        return true;
    }
    // Golden-ratio stride: any window of requests is sampled close to `rate`.
    let frac = (n as f64 * 0.618_033_988_749_895).fract();
    frac < rate
}

/// One inference, as logged.
#[derive(Debug)]
pub struct Record {
    /// Request id.
    pub id: String,
    /// When the request arrived.
    pub time: SystemTime,
    /// Model name.
    pub model: String,
    /// Version that answered.
    pub version: String,
    /// Time in the model call.
    pub latency: Duration,
    /// HTTP status of the answer.
    pub status: u16,
    /// Error message, when the call failed.
    pub error: Option<String>,
    /// Inputs, unless the model's settings keep them out.
    pub inputs: Option<Vec<Tensor>>,
    /// Outputs, when the call succeeded.
    pub outputs: Vec<Tensor>,
    /// The caller's tenant, when known.
    pub tenant: Option<String>,
    /// Set on the record of a shadow call: how it compared with the primary.
    pub shadow: Option<ShadowRecord>,
    /// Tensor bytes left out of the record (set when it is queued).
    pub cut: Option<Cut>,
}

/// Tensors left out of a record for its size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cut {
    /// Bytes of inputs left out (all inputs, or none, are kept).
    pub inputs_bytes: usize,
    /// Bytes of outputs left out (all outputs, or none, are kept).
    pub outputs_bytes: usize,
}

fn tensor_bytes(ts: &[Tensor]) -> usize {
    ts.iter().map(|t| t.data.byte_len()).sum()
}

/// A copy of a tensor that owns its data: a logged tensor must not keep
/// alive the whole request body it was a slice of.
fn detached(t: &Tensor) -> Tensor {
    Tensor {
        name: t.name.clone(),
        datatype: t.datatype,
        shape: t.shape.clone(),
        data: match &t.data {
            TensorData::Raw(b) => TensorData::Raw(bytes::Bytes::copy_from_slice(b)),
            TensorData::Strings(s) => TensorData::Strings(s.iter().collect()),
        },
    }
}

/// How a shadow's answer compared with the primary's.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ShadowRecord {
    /// The primary version that answered the client.
    pub primary_version: String,
    /// Whether the answers agree (labels equal, numbers within 1e-5).
    pub agree: bool,
    /// Largest absolute difference over numeric outputs.
    pub max_abs_diff: Option<f64>,
    /// Fraction of label elements that are equal.
    pub label_agreement: Option<f64>,
}

impl Record {
    /// Keeps inputs, then outputs, while they fit in `max` bytes of tensor
    /// data; what does not fit is left out (nothing copied) and noted in
    /// `cut`.
    fn bound(&mut self, max: usize) {
        let mut cut = Cut::default();
        let mut room = max;
        if let Some(inputs) = &self.inputs {
            let bytes = tensor_bytes(inputs);
            if bytes > room {
                cut.inputs_bytes = bytes;
                self.inputs = None;
            } else {
                room -= bytes;
            }
        }
        let bytes = tensor_bytes(&self.outputs);
        if bytes > room {
            cut.outputs_bytes = bytes;
            self.outputs.clear();
        }
        self.cut = (cut != Cut::default()).then_some(cut);
    }

    /// Copies the kept tensors out of the request body they may point
    /// into, so a queued record never keeps a whole body alive.
    fn detach(&mut self) {
        if let Some(inputs) = &mut self.inputs {
            *inputs = inputs.iter().map(detached).collect();
        }
        self.outputs = self.outputs.iter().map(detached).collect();
    }

    /// Memory the record takes while it waits for the writer (its tensors
    /// as [`Record::detach`] copies them).
    fn memory(&self) -> u64 {
        let text = self.id.len() + self.model.len() + self.version.len();
        let text = text + self.error.as_ref().map_or(0, String::len);
        let tensors: usize = self
            .inputs
            .iter()
            .flatten()
            .chain(&self.outputs)
            .map(|t| 64 + t.name.len() + 8 * t.shape.len() + t.data.memory())
            .sum();
        (256 + text + tensors) as u64
    }

    fn to_line(&self) -> Vec<u8> {
        let ms = self
            .time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(256);
        let head = serde_json::json!({
            "id": self.id,
            "time_ms": ms,
            "model": self.model,
            "version": self.version,
            "latency_us": self.latency.as_micros() as u64,
            "status": self.status,
            "outcome": if self.error.is_none() { "ok" } else { "error" },
            "error": self.error,
            "tenant": self.tenant,
            "role": if self.shadow.is_some() { "shadow" } else { "primary" },
            "shadow": self.shadow,
            "cut": self.cut,
        })
        .to_string();
        out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
        let tensors = |out: &mut Vec<u8>, key: &str, ts: &[Tensor]| {
            out.extend_from_slice(format!(",\"{key}\":[").as_bytes());
            for (i, t) in ts.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_tensor_json(out, t);
            }
            out.push(b']');
        };
        if let Some(inputs) = &self.inputs {
            tensors(&mut out, "inputs", inputs);
        }
        // Cut outputs are left out, not written empty: a reader must not
        // take "no outputs" for the model's answer.
        if self.cut.is_none_or(|c| c.outputs_bytes == 0) {
            tensors(&mut out, "outputs", &self.outputs);
        }
        out.extend_from_slice(b"}\n");
        out
    }
}

/// What the writer thread receives.
#[allow(
    clippy::large_enum_variant,
    reason = "almost every message is a record; boxing would add an allocation per record"
)]
enum Message {
    /// A record to write, and the memory it holds in the queue.
    Record(Record, u64),
    /// Write everything queued before this, flush, then acknowledge.
    Flush(SyncSender<()>),
}

/// How long the writer lets records gather between batches.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// The log: a bounded queue and its writer thread.
pub struct PredictionLog {
    tx: SyncSender<Message>,
    dir: PathBuf,
    /// Records written to disk.
    pub written: Arc<AtomicU64>,
    /// Records dropped because the queue was full (or writing failed).
    pub dropped: Arc<AtomicU64>,
    /// Records written with tensors left out for their size.
    pub truncated: AtomicU64,
    /// Bytes of records waiting for the writer.
    queued: Arc<AtomicU64>,
    /// The most bytes that may wait.
    queue_bytes: u64,
    /// The most tensor bytes one record keeps.
    max_record_tensors: usize,
    counter: AtomicU64,
}

impl std::fmt::Debug for PredictionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

struct Writer {
    dir: PathBuf,
    max_size: u64,
    max_files: usize,
    open: HashMap<String, (std::io::BufWriter<std::fs::File>, u64)>,
    written: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    queued: Arc<AtomicU64>,
}

impl Writer {
    fn current(&self, model: &str) -> PathBuf {
        self.dir.join(model).join("predictions.jsonl")
    }

    fn rotate(&mut self, model: &str) -> std::io::Result<()> {
        if let Some((mut w, _)) = self.open.remove(model) {
            w.flush()?;
        }
        let dir = self.dir.join(model);
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or_default();
        std::fs::rename(
            self.current(model),
            dir.join(format!("predictions-{stamp:020}.jsonl")),
        )?;
        let mut rotated: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("predictions-") && n.ends_with(".jsonl"))
            })
            .collect();
        rotated.sort();
        while rotated.len() > self.max_files {
            std::fs::remove_file(rotated.remove(0))?;
        }
        Ok(())
    }

    fn write(&mut self, record: &Record) -> std::io::Result<()> {
        let line = record.to_line();
        let model = record.model.as_str();
        if !self.open.contains_key(model) {
            let path = self.current(model);
            crate::fsutil::create_private_dir_all(&self.dir.join(model))?;
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            // Logged inputs can be personal data: the node's own, 0600.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(&path)?;
            let size = file.metadata()?.len();
            self.open
                .insert(model.to_string(), (std::io::BufWriter::new(file), size));
        }
        let size = self.open.get(model).map_or(0, |(_, s)| *s);
        if size > 0 && size + line.len() as u64 > self.max_size {
            self.rotate(model)?;
            return self.write(record);
        }
        if let Some((w, s)) = self.open.get_mut(model) {
            w.write_all(&line)?;
            *s += line.len() as u64;
        }
        Ok(())
    }

    fn flush(&mut self) {
        for (w, _) in self.open.values_mut() {
            let _ = w.flush();
        }
    }

    fn write_counted(&mut self, record: &Record) {
        match self.write(record) {
            Ok(()) => {
                self.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(model = %record.model, error = %e, "prediction log write failed");
            }
        }
    }

    /// Writes records as they come, batching while more are queued and
    /// flushing to the OS as soon as the queue is empty.
    fn run(mut self, rx: Receiver<Message>) {
        while let Ok(msg) = rx.recv() {
            let mut acks = Vec::new();
            let mut handle = |w: &mut Self, msg| match msg {
                Message::Record(record, size) => {
                    w.write_counted(&record);
                    drop(record);
                    w.queued.fetch_sub(size, Ordering::Relaxed);
                }
                Message::Flush(ack) => acks.push(ack),
            };
            handle(&mut self, msg);
            while let Ok(msg) = rx.try_recv() {
                handle(&mut self, msg);
            }
            self.flush();
            for ack in acks {
                let _ = ack.send(());
            }
            // Let records gather before the next wake-up: while this thread
            // sleeps, senders queue without waking it, so a busy server pays
            // one wake-up and one write per batch instead of per request.
            std::thread::sleep(BATCH_WINDOW);
        }
    }
}

impl PredictionLog {
    /// Starts the writer thread.
    pub fn start(cfg: &PredictionLogConfig, dir: PathBuf) -> std::io::Result<PredictionLog> {
        crate::fsutil::create_private_dir_all(&dir)?;
        let (tx, rx) = sync_channel(cfg.queue.max(1));
        let written = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let queued = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            dir: dir.clone(),
            max_size: cfg.max_file_size.0.max(1024),
            max_files: cfg.max_files,
            open: HashMap::new(),
            written: written.clone(),
            dropped: dropped.clone(),
            queued: queued.clone(),
        };
        std::thread::Builder::new()
            .name("edgeserve-predlog".into())
            .spawn(move || writer.run(rx))?;
        Ok(PredictionLog {
            tx,
            dir,
            written,
            dropped,
            truncated: AtomicU64::new(0),
            queued,
            queue_bytes: cfg.queue_bytes.0,
            max_record_tensors: cfg.max_record_tensors.as_usize(),
            counter: AtomicU64::new(0),
        })
    }

    /// The folder of the logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether to record this request, given the model's rate.
    pub fn should_sample(&self, rate: f64) -> bool {
        rate > 0.0 && sampled(self.counter.fetch_add(1, Ordering::Relaxed), rate)
    }

    /// Writes every record queued so far to the files and waits (up to
    /// `timeout`) until they are flushed: for shutdown, so a stopping server
    /// loses none of the records it accepted.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (ack, done) = sync_channel(1);
        let deadline = std::time::Instant::now() + timeout;
        let mut msg = Message::Flush(ack);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if std::time::Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return false,
            }
        }
        done.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .is_ok()
    }

    /// Queues a record, its tensors bounded by `max_record_tensors`;
    /// never blocks (a queue full of records or of bytes drops and counts
    /// it).
    pub fn submit(&self, mut record: Record) {
        record.bound(self.max_record_tensors);
        if record.cut.is_some() {
            self.truncated.fetch_add(1, Ordering::Relaxed);
        }
        let size = record.memory();
        let before = self.queued.fetch_add(size, Ordering::Relaxed);
        if before + size > self.queue_bytes {
            self.queued.fetch_sub(size, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Copied only once it has room in the queue.
        record.detach();
        if self.tx.try_send(Message::Record(record, size)).is_err() {
            self.queued.fetch_sub(size, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Bytes of records waiting for the writer now.
    pub fn queued_bytes(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }
}

/// Reads a log file or every log file of a folder (oldest first). Lines
/// that do not parse (a torn last line after a crash) are skipped and
/// counted.
pub fn read_log(path: &Path) -> std::io::Result<(Vec<serde_json::Value>, usize)> {
    let mut files = Vec::new();
    if path.is_dir() {
        for entry in std::fs::read_dir(path)?.flatten() {
            let p = entry.path();
            if p.is_dir() {
                for e in std::fs::read_dir(&p)?.flatten() {
                    files.push(e.path());
                }
            } else {
                files.push(p);
            }
        }
        files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
        // Rotated files (predictions-<time>) before the current one.
        files.sort_by_key(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                p.parent().map(Path::to_path_buf),
                name == "predictions.jsonl",
                name,
            )
        });
    } else {
        files.push(path.to_path_buf());
    }
    let mut records = Vec::new();
    let mut skipped = 0;
    for f in files {
        let text = std::fs::read(&f)?;
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice(line) {
                Ok(v) => records.push(v),
                Err(_) => skipped += 1,
            }
        }
    }
    Ok((records, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_even() {
        let hits = (0..10_000).filter(|&n| sampled(n, 0.25)).count();
        assert!((2400..=2600).contains(&hits), "{hits}");
        assert_eq!((0..100).filter(|&n| sampled(n, 0.0)).count(), 0);
        assert_eq!((0..100).filter(|&n| sampled(n, 1.0)).count(), 100);
    }
}
