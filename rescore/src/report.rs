//! What a rescore run found: the data behind the terminal table, the JSON
//! and the HTML report.

use serde::Serialize;

/// Percentiles and extremes of a set of values.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    /// How many values.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// One bar of a histogram: values in `[lo, hi)` (the last bar includes
/// `hi`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Bin {
    /// Lower edge.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Values in the bin.
    pub count: u64,
}

/// Labels seen in the log (rows) against the candidate's (columns).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Confusion {
    /// Every label seen on either side, sorted.
    pub labels: Vec<String>,
    /// `counts[i][j]`: logged label `labels[i]`, candidate label `labels[j]`.
    pub counts: Vec<Vec<u64>>,
}

/// How one output compares, over every replayed record.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OutputComparison {
    /// Output name.
    pub name: String,
    /// `labels` (BYTES, integer or boolean outputs) or `numbers` (floats).
    pub kind: String,
    /// Elements compared.
    pub compared: usize,
    /// Records where the candidate's output is missing or its shape or
    /// datatype differs from the logged one.
    pub mismatched_shape: usize,
    /// Labels: fraction of elements equal (0-1).
    pub agreement: Option<f64>,
    /// Numbers: absolute differences per element.
    pub abs_diff: Option<Summary>,
    /// Numbers: histogram of the absolute differences.
    pub histogram: Vec<Bin>,
    /// Labels: the confusion matrix (for at most 50 distinct labels).
    pub confusion: Option<Confusion>,
}

/// A record where logged and candidate answers differ most.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Disagreement {
    /// Request id from the log.
    pub id: String,
    /// The output that differs (or `error` when the candidate failed).
    pub output: String,
    /// The logged value (first differing element, as text).
    pub logged: String,
    /// The candidate's value.
    pub candidate: String,
    /// Largest absolute difference in that output (numbers only).
    pub abs_diff: Option<f64>,
}

/// Latency of the logged production calls and of the candidate's replays.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Logged latencies, µs.
    pub logged_us: Summary,
    /// Candidate latencies, µs.
    pub candidate_us: Summary,
    /// Logged latency histogram (µs).
    pub logged_histogram: Vec<Bin>,
    /// Candidate latency histogram (µs), same edges as `logged_histogram`.
    pub candidate_histogram: Vec<Bin>,
}

/// The whole comparison.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct RescoreReport {
    /// The log file or folder replayed.
    pub log: String,
    /// The candidate component.
    pub candidate: String,
    /// Its sha256.
    pub candidate_sha256: String,
    /// The model name(s) in the log.
    pub models: Vec<String>,
    /// The logged versions replayed.
    pub logged_versions: Vec<String>,
    /// Records read.
    pub records: usize,
    /// Records replayed through the candidate.
    pub replayed: usize,
    /// Records without inputs (logged with `inputs = false`): not replayable.
    pub skipped_without_inputs: usize,
    /// Records whose logged call had failed (replayed; not compared).
    pub logged_errors: usize,
    /// Replays where the candidate failed.
    pub candidate_errors: usize,
    /// Unreadable lines skipped (a torn last line after a crash).
    pub torn_lines: usize,
    /// Per-output comparisons.
    pub outputs: Vec<OutputComparison>,
    /// Latency side by side.
    pub latency: Latency,
    /// The worst disagreements (largest difference first), at most 20.
    pub worst: Vec<Disagreement>,
}
