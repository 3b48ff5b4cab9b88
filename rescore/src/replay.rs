//! Replays logged inputs through a candidate component, in the same sandbox
//! as production (the deploy pipeline, limits and all), and compares its
//! answers and latency with what the log holds.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use super::report::{
    Bin, Confusion, Disagreement, Latency, OutputComparison, RescoreReport, Summary,
};
use crate::limits::ModelDefaults;
use crate::protocol::{check_request, decode_request};
use crate::repository::{Manifest, RepoError, load_parts};
use crate::runtime::{LoadedModel, Runtime};
use crate::telemetry::{OutputDiff, compare, element_text, is_label, read_log};
use crate::tensor::{InferenceRequest, InferenceResponse, Tensor};

/// Most distinct labels shown in a confusion matrix.
const MAX_CONFUSION_LABELS: usize = 50;
/// Disagreements kept for the report.
const WORST: usize = 20;
/// Histogram bars.
const BINS: usize = 20;

/// What to replay against what.
#[derive(Clone, Debug)]
pub struct RescoreOptions {
    /// A prediction-log file, or a folder of them.
    pub log: PathBuf,
    /// The candidate component.
    pub candidate: PathBuf,
    /// Its manifest (limits, config, artifacts); defaults when absent.
    pub manifest: Option<PathBuf>,
    /// Which model of the log to replay (needed when it holds several).
    pub model: Option<String>,
    /// Replay at most this many records.
    pub limit: Option<usize>,
    /// Settings for anything the manifest leaves out.
    pub defaults: ModelDefaults,
}

/// A rescore run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RescoreError {
    /// The log cannot be read.
    #[error("cannot read the prediction log {path}: {source}")]
    Log {
        /// The path given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The log holds nothing to replay, or several models.
    #[error("{0}")]
    Selection(String),
    /// The candidate cannot be read or does not load.
    #[error("candidate: {0}")]
    Candidate(String),
}

/// One logged record, decoded.
struct Logged {
    id: String,
    version: String,
    latency_us: f64,
    ok: bool,
    inputs: Option<Value>,
    outputs: Value,
}

fn parse(records: Vec<Value>, model: Option<&str>) -> Result<(String, Vec<Logged>), RescoreError> {
    let primary: Vec<&Value> = records.iter().filter(|r| r["role"] != "shadow").collect();
    let models: BTreeSet<&str> = primary.iter().filter_map(|r| r["model"].as_str()).collect();
    let name = match (model, models.len()) {
        (Some(m), _) if models.contains(m) => m.to_string(),
        (Some(m), _) => {
            return Err(RescoreError::Selection(format!(
                "the log holds no records of model '{m}' (it holds: {})",
                models.iter().copied().collect::<Vec<_>>().join(", ")
            )));
        }
        (None, 1) => models
            .iter()
            .next()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        (None, 0) => return Err(RescoreError::Selection("the log holds no records".into())),
        (None, _) => {
            return Err(RescoreError::Selection(format!(
                "the log holds several models ({}); choose one with --model",
                models.iter().copied().collect::<Vec<_>>().join(", ")
            )));
        }
    };
    let logged = primary
        .into_iter()
        .filter(|r| r["model"].as_str() == Some(&name))
        .map(|r| Logged {
            id: r["id"].as_str().unwrap_or_default().to_string(),
            version: r["version"].as_str().unwrap_or_default().to_string(),
            latency_us: r["latency_us"].as_f64().unwrap_or_default(),
            ok: r["outcome"] == "ok",
            // A record whose tensors were cut for size cannot be replayed.
            inputs: r
                .get("inputs")
                .filter(|_| r.get("cut").is_none_or(Value::is_null))
                .cloned(),
            outputs: r.get("outputs").cloned().unwrap_or(Value::Array(vec![])),
        })
        .collect();
    Ok((name, logged))
}

/// Tensors in the log's JSON form, decoded with the protocol's own decoder.
fn tensors(id: &str, list: &Value) -> Result<Vec<Tensor>, String> {
    let body = serde_json::json!({ "id": id, "inputs": list }).to_string();
    decode_request(&body.into(), None)
        .map(|r| r.inputs)
        .map_err(|e| e.to_string())
}

/// Loads the candidate through the deploy pipeline.
async fn load_candidate(
    runtime: &Runtime,
    name: &str,
    opts: &RescoreOptions,
) -> Result<LoadedModel, RescoreError> {
    let bytes = std::fs::read(&opts.candidate).map_err(|e| {
        RescoreError::Candidate(format!("cannot read {}: {e}", opts.candidate.display()))
    })?;
    let (manifest, dir) = match &opts.manifest {
        Some(path) => (
            Manifest::read(path).map_err(RescoreError::Candidate)?,
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        None => (
            Manifest::default(),
            opts.candidate
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        ),
    };
    let version = manifest
        .version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let manifest = Manifest {
        name: None,
        ..manifest
    };
    load_parts(
        runtime,
        name,
        version,
        &manifest,
        &bytes,
        &dir,
        &opts.defaults,
    )
    .await
    .map_err(|e: RepoError| RescoreError::Candidate(e.to_string()))
}

/// Percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Count, mean, p50, p99 and max.
pub fn summarize(values: &[f64]) -> Summary {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    Summary {
        count: v.len(),
        mean: if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        },
        p50: percentile(&v, 50.0),
        p99: percentile(&v, 99.0),
        max: v.last().copied().unwrap_or(0.0),
    }
}

/// Equal-width bars from `lo` to `hi`.
pub fn histogram(values: &[f64], lo: f64, hi: f64) -> Vec<Bin> {
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let width = (hi - lo) / BINS as f64;
    let mut bins: Vec<Bin> = (0..BINS)
        .map(|i| Bin {
            lo: lo + width * i as f64,
            hi: lo + width * (i + 1) as f64,
            count: 0,
        })
        .collect();
    for v in values.iter().filter(|v| v.is_finite()) {
        let i = (((v - lo) / width) as usize).min(BINS - 1);
        if let Some(b) = bins.get_mut(i) {
            b.count += 1;
        }
    }
    bins
}

/// Per-output accumulation.
#[derive(Default)]
struct Acc {
    label: bool,
    compared: usize,
    same: usize,
    mismatched_shape: usize,
    diffs: Vec<f64>,
    pairs: BTreeMap<(String, String), u64>,
}

/// A disagreement with the weight it is ranked by (largest first).
type Ranked = (f64, Disagreement);

/// One output of one replayed record: the logged tensor and the
/// candidate's (when it answered one of that name).
struct Pair<'a> {
    id: &'a str,
    name: &'a str,
    logged: &'a Tensor,
    candidate: Option<&'a Tensor>,
}

impl Pair<'_> {
    /// A disagreement on this output of this record.
    fn disagreement(
        &self,
        logged: String,
        candidate: String,
        abs_diff: Option<f64>,
    ) -> Disagreement {
        Disagreement {
            id: self.id.to_string(),
            output: self.name.to_string(),
            logged,
            candidate,
            abs_diff,
        }
    }
}

impl Acc {
    /// Label output: counts agreement and every (logged, candidate) pair
    /// for the confusion matrix; the first mismatch ranks high.
    fn add_labels(
        &mut self,
        p: &Pair,
        (same, total): (usize, usize),
        first_mismatch: Option<&(String, String)>,
    ) -> Option<Ranked> {
        self.compared += total;
        self.same += same;
        if let Some(c) = p.candidate {
            for i in 0..total {
                *self
                    .pairs
                    .entry((element_text(p.logged, i), element_text(c, i)))
                    .or_default() += 1;
            }
        }
        first_mismatch.map(|(l, c)| (f64::MAX, p.disagreement(l.clone(), c.clone(), None)))
    }

    /// Numeric output: keeps every absolute difference; when they are not
    /// all close, the element that differs most is a disagreement.
    fn add_numbers(&mut self, p: &Pair, diffs: &[f64], close: bool) -> Option<Ranked> {
        self.compared += diffs.len();
        self.diffs.extend_from_slice(diffs);
        if close {
            return None;
        }
        let (i, d) = diffs
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        let candidate = p.candidate.map(|c| element_text(c, i)).unwrap_or_default();
        Some((
            d,
            p.disagreement(element_text(p.logged, i), candidate, Some(d)),
        ))
    }

    /// Missing output or another shape or datatype: always a disagreement.
    fn add_mismatch(&mut self, p: &Pair, why: &str) -> Ranked {
        self.mismatched_shape += 1;
        let logged = format!("{} {:?}", p.logged.datatype, p.logged.shape);
        (f64::MAX, p.disagreement(logged, why.to_string(), None))
    }
}

/// What the replay has gathered so far.
#[derive(Default)]
struct Run {
    versions: BTreeSet<String>,
    replayed: usize,
    logged_errors: usize,
    candidate_errors: usize,
    /// Per output, by name; `order` keeps the order they were first seen.
    outputs: BTreeMap<String, Acc>,
    order: Vec<String>,
    logged_lat: Vec<f64>,
    cand_lat: Vec<f64>,
    worst: Vec<Ranked>,
}

impl Run {
    /// Replays one record and records how the candidate's answer compares.
    async fn replay(&mut self, candidate: &LoadedModel, rec: &Logged) {
        self.versions.insert(rec.version.clone());
        self.replayed += 1;
        self.logged_lat.push(rec.latency_us);
        if !rec.ok {
            self.logged_errors += 1;
        }
        match self.call(candidate, rec).await {
            Ok(answer) if rec.ok => self.record_answer(rec, &answer),
            Ok(_) => {}
            Err(e) => self.candidate_failed(rec, e),
        }
    }

    /// Calls the candidate with the record's inputs, timing the call.
    async fn call(
        &mut self,
        candidate: &LoadedModel,
        rec: &Logged,
    ) -> Result<InferenceResponse, String> {
        let inputs = rec.inputs.as_ref().unwrap_or(&Value::Null);
        let inputs =
            tensors(&rec.id, inputs).map_err(|e| format!("logged inputs do not decode: {e}"))?;
        let req = InferenceRequest {
            id: Some(rec.id.clone()),
            inputs,
            ..Default::default()
        };
        check_request(&candidate.name, &candidate.metadata, &req).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let r = candidate.infer(&req, &rec.id).await;
        self.cand_lat.push(started.elapsed().as_secs_f64() * 1e6);
        r.map_err(|e| e.to_string())
    }

    /// The candidate failed where the log may not have: ranks above every
    /// difference.
    fn candidate_failed(&mut self, rec: &Logged, error: String) {
        self.candidate_errors += 1;
        self.worst.push((
            f64::INFINITY,
            Disagreement {
                id: rec.id.clone(),
                output: "error".into(),
                logged: if rec.ok { "ok".into() } else { "error".into() },
                candidate: error,
                abs_diff: None,
            },
        ));
    }

    /// Compares every output of the logged answer with the candidate's.
    fn record_answer(&mut self, rec: &Logged, answer: &InferenceResponse) {
        let reference = InferenceResponse {
            outputs: tensors(&rec.id, &rec.outputs).unwrap_or_default(),
            ..Default::default()
        };
        let cmp = compare(&reference, answer);
        for ((name, diff), logged) in cmp.outputs.iter().zip(&reference.outputs) {
            let pair = Pair {
                id: &rec.id,
                name,
                logged,
                candidate: answer.outputs.iter().find(|t| &t.name == name),
            };
            self.record_output(&pair, diff);
        }
    }

    /// Adds one output's comparison to its accumulation.
    fn record_output(&mut self, p: &Pair, diff: &OutputDiff) {
        if !self.outputs.contains_key(p.name) {
            self.order.push(p.name.to_string());
        }
        let acc = self.outputs.entry(p.name.to_string()).or_default();
        acc.label = is_label(p.logged.datatype);
        let ranked = match diff {
            OutputDiff::Labels {
                same,
                total,
                first_mismatch,
            } => acc.add_labels(p, (*same, *total), first_mismatch.as_ref()),
            OutputDiff::Numbers { diffs, close } => acc.add_numbers(p, diffs, *close),
            OutputDiff::Mismatch(why) => Some(acc.add_mismatch(p, why)),
        };
        self.worst.extend(ranked);
    }

    /// Writes what was gathered into the report.
    fn fill(mut self, report: &mut RescoreReport) {
        report.replayed = self.replayed;
        report.logged_errors = self.logged_errors;
        report.candidate_errors = self.candidate_errors;
        report.logged_versions = self.versions.into_iter().collect();
        report.outputs = self
            .order
            .into_iter()
            .filter_map(|name| self.outputs.remove(&name).map(|acc| finish(name, acc)))
            .collect();
        self.worst.sort_by(|a, b| b.0.total_cmp(&a.0));
        report.worst = self.worst.into_iter().take(WORST).map(|(_, d)| d).collect();
        report.latency = latency(&self.logged_lat, &self.cand_lat);
    }
}

/// Both sides' latency summaries and histograms, on the same edges.
fn latency(logged: &[f64], candidate: &[f64]) -> Latency {
    let hi = logged.iter().chain(candidate).copied().fold(0.0, f64::max);
    Latency {
        logged_us: summarize(logged),
        candidate_us: summarize(candidate),
        logged_histogram: histogram(logged, 0.0, hi),
        candidate_histogram: histogram(candidate, 0.0, hi),
    }
}

/// Reads the log: its records and how many torn lines were skipped.
fn read_records(opts: &RescoreOptions) -> Result<(Vec<Value>, usize), RescoreError> {
    read_log(&opts.log).map_err(|source| RescoreError::Log {
        path: opts.log.display().to_string(),
        source,
    })
}

/// Replays the log through the candidate. `progress` is called after each
/// record with (done, total).
pub async fn rescore(
    runtime: &Runtime,
    opts: &RescoreOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<RescoreReport, RescoreError> {
    let (records, torn) = read_records(opts)?;
    let total_records = records.len();
    let (name, logged) = parse(records, opts.model.as_deref())?;
    let candidate = load_candidate(runtime, &name, opts).await?;
    let mut report = RescoreReport {
        log: opts.log.display().to_string(),
        candidate: opts.candidate.display().to_string(),
        candidate_sha256: candidate.digest.clone(),
        models: vec![name],
        records: total_records,
        torn_lines: torn,
        skipped_without_inputs: logged.iter().filter(|r| r.inputs.is_none()).count(),
        ..Default::default()
    };
    let replayable: Vec<&Logged> = logged
        .iter()
        .filter(|r| r.inputs.is_some())
        .take(opts.limit.unwrap_or(usize::MAX))
        .collect();
    let total = replayable.len();
    let mut run = Run::default();
    for (done, rec) in replayable.into_iter().enumerate() {
        run.replay(&candidate, rec).await;
        progress(done + 1, total);
    }
    run.fill(&mut report);
    Ok(report)
}

/// One output's accumulation as the report shows it.
fn finish(name: String, acc: Acc) -> OutputComparison {
    let labels: BTreeSet<&String> = acc.pairs.keys().flat_map(|(a, b)| [a, b]).collect();
    let confusion =
        (acc.label && !labels.is_empty() && labels.len() <= MAX_CONFUSION_LABELS).then(|| {
            let labels: Vec<String> = labels.into_iter().cloned().collect();
            let index = |l: &String| labels.iter().position(|x| x == l).unwrap_or(0);
            let mut counts = vec![vec![0u64; labels.len()]; labels.len()];
            for ((a, b), n) in &acc.pairs {
                counts[index(a)][index(b)] += n;
            }
            Confusion { labels, counts }
        });
    let summary = (!acc.label).then(|| summarize(&acc.diffs));
    let histogram = match &summary {
        Some(s) => histogram(&acc.diffs, 0.0, s.max),
        None => Vec::new(),
    };
    OutputComparison {
        name,
        kind: if acc.label { "labels" } else { "numbers" }.into(),
        compared: acc.compared,
        mismatched_shape: acc.mismatched_shape,
        agreement: acc
            .label
            .then(|| acc.same as f64 / acc.compared.max(1) as f64),
        abs_diff: summary,
        histogram,
        confusion,
    }
}

/// The report as a terminal table.
pub fn table(r: &RescoreReport) -> String {
    let mut out = String::new();
    run_lines(&mut out, r);
    outputs_table(&mut out, r);
    latency_table(&mut out, &r.latency);
    worst_table(&mut out, r);
    out
}

/// What was replayed against what, and the record counts.
fn run_lines(out: &mut String, r: &RescoreReport) {
    let sha = r.candidate_sha256.get(..12).unwrap_or(&r.candidate_sha256);
    let _ = writeln!(
        out,
        "rescore of {} ({}) against candidate {} (sha256 {sha}…)",
        r.log,
        r.models.join(", "),
        r.candidate
    );
    let _ = writeln!(
        out,
        "records {}  replayed {}  without inputs {}  torn lines {}  logged versions {}",
        r.records,
        r.replayed,
        r.skipped_without_inputs,
        r.torn_lines,
        r.logged_versions.join(", ")
    );
    let _ = writeln!(
        out,
        "errors: logged {}  candidate {}\n",
        r.logged_errors, r.candidate_errors
    );
}

/// One line per output: agreement for labels, differences for numbers.
fn outputs_table(out: &mut String, r: &RescoreReport) {
    let _ = writeln!(
        out,
        "{:<20} {:<8} {:>9} {:>10} {:>11} {:>11} {:>11}",
        "output", "kind", "compared", "agreement", "mean |Δ|", "p99 |Δ|", "max |Δ|"
    );
    for o in &r.outputs {
        let agreement = o
            .agreement
            .map_or("-".to_string(), |a| format!("{:.2}%", a * 100.0));
        let (mean, p99, max) =
            o.abs_diff
                .as_ref()
                .map_or(("-".to_string(), "-".to_string(), "-".to_string()), |s| {
                    (
                        format!("{:.3e}", s.mean),
                        format!("{:.3e}", s.p99),
                        format!("{:.3e}", s.max),
                    )
                });
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:>9} {:>10} {:>11} {:>11} {:>11}",
            o.name, o.kind, o.compared, agreement, mean, p99, max
        );
    }
}

/// Logged against candidate latency percentiles.
fn latency_table(out: &mut String, l: &Latency) {
    let _ = writeln!(
        out,
        "\n{:<20} {:>9} {:>9} {:>9}",
        "latency (µs)", "p50", "p99", "max"
    );
    for (who, s) in [("logged", &l.logged_us), ("candidate", &l.candidate_us)] {
        let _ = writeln!(
            out,
            "{:<20} {:>9.0} {:>9.0} {:>9.0}",
            who, s.p50, s.p99, s.max
        );
    }
}

/// The worst disagreements, each field cut to 20 characters.
fn worst_table(out: &mut String, r: &RescoreReport) {
    if r.worst.is_empty() {
        let _ = writeln!(out, "\nno disagreements");
        return;
    }
    let _ = writeln!(out, "\nworst disagreements:");
    let _ = writeln!(
        out,
        "{:<24} {:<16} {:<20} {:<20} {:>10}",
        "request id", "output", "logged", "candidate", "|Δ|"
    );
    let cut = |s: &str| s.chars().take(20).collect::<String>();
    for d in &r.worst {
        let _ = writeln!(
            out,
            "{:<24} {:<16} {:<20} {:<20} {:>10}",
            cut(&d.id),
            cut(&d.output),
            cut(&d.logged),
            cut(&d.candidate),
            d.abs_diff.map_or("-".to_string(), |x| format!("{x:.3e}"))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_and_histograms() {
        let s = summarize(&[1.0, 2.0, 3.0, 4.0, f64::NAN]);
        assert_eq!(s.count, 4);
        assert_eq!(s.p50, 2.0);
        assert_eq!(s.max, 4.0);
        assert!((s.mean - 2.5).abs() < 1e-12);
        let h = histogram(&[0.0, 0.5, 1.0], 0.0, 1.0);
        assert_eq!(h.len(), BINS);
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 3);
        assert_eq!(h.last().map(|b| b.count), Some(1));
    }
}
