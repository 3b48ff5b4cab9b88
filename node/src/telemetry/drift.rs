//! Input drift: a model's manifest may carry a baseline of its training
//! inputs (per-feature bins cut at training quantiles, with the training
//! fraction in each; `scripts/drift-baseline` makes one from a CSV or NumPy
//! file). The host bins live inputs over a rolling window and publishes the
//! population stability index (PSI) of each feature against the baseline:
//! below 0.1 is usually read as stable, above 0.25 as a significant shift.

use std::sync::{Mutex, PoisonError};

use super::shadow::element_f64;
pub use crate::repository::{DriftBaseline, DriftSettings, FeatureBaseline};
use crate::tensor::{DataType, InferenceRequest};

/// Smallest fraction used in the PSI sum, so an empty bin stays finite.
const EPSILON: f64 = 1e-4;
/// Rows needed in the window before a score is published.
const MIN_ROWS: u64 = 50;

pub use crate::contract::FeatureScore;

#[derive(Default)]
struct Windows {
    /// Per feature, per bin: rows in the current half window.
    current: Vec<Vec<u64>>,
    current_rows: u64,
    /// The previous half window.
    previous: Vec<Vec<u64>>,
    previous_rows: u64,
}

/// Bins live inputs of one version and scores them.
pub struct DriftMonitor {
    baseline: DriftBaseline,
    half: u64,
    windows: Mutex<Windows>,
}

impl std::fmt::Debug for DriftMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriftMonitor")
            .field("input", &self.baseline.input)
            .finish_non_exhaustive()
    }
}

/// PSI of observed bin counts against expected fractions.
pub fn psi(counts: &[u64], expected: &[f64]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 || counts.len() != expected.len() {
        return None;
    }
    Some(
        counts
            .iter()
            .zip(expected)
            .map(|(&c, &e)| {
                let a = (c as f64 / total as f64).max(EPSILON);
                let e = e.max(EPSILON);
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

impl DriftMonitor {
    /// A monitor over `window` rows (kept as two halves, so the score always
    /// covers between half and all of the window).
    pub fn new(baseline: DriftBaseline, window: u64) -> Self {
        let half = (window / 2).max(1);
        let empty: Vec<Vec<u64>> = baseline
            .features
            .iter()
            .map(|f| vec![0; f.expected.len()])
            .collect();
        DriftMonitor {
            windows: Mutex::new(Windows {
                current: empty.clone(),
                previous: empty,
                ..Default::default()
            }),
            baseline,
            half,
        }
    }

    /// The input watched.
    pub fn input(&self) -> &str {
        &self.baseline.input
    }

    /// Bins the rows of the watched input of `req` (ignored when absent or
    /// not numeric).
    pub fn observe(&self, req: &InferenceRequest) {
        let Some(t) = req.inputs.iter().find(|t| t.name == self.baseline.input) else {
            return;
        };
        let Some(count) = t.element_count() else {
            return;
        };
        let width = match t.shape.len() {
            0 | 1 => 1,
            _ => t.shape.last().copied().unwrap_or(1).max(1) as usize,
        };
        let rows = count / width.max(1);
        if rows == 0 || t.datatype == DataType::Bytes {
            return;
        }
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        for row in 0..rows {
            for (fi, f) in self.baseline.features.iter().enumerate() {
                if f.index >= width {
                    continue;
                }
                let Some(v) = element_f64(t, row * width + f.index) else {
                    continue;
                };
                let bin = if v.is_nan() {
                    f.edges.len()
                } else {
                    f.edges.partition_point(|&e| e < v)
                };
                if let Some(c) = w.current.get_mut(fi).and_then(|b| b.get_mut(bin)) {
                    *c += 1;
                }
            }
            w.current_rows += 1;
            if w.current_rows >= self.half {
                let w = &mut *w;
                std::mem::swap(&mut w.previous, &mut w.current);
                w.previous_rows = w.current_rows;
                w.current_rows = 0;
                w.current
                    .iter_mut()
                    .for_each(|b| b.iter_mut().for_each(|c| *c = 0));
            }
        }
    }

    /// Each feature's PSI over the window.
    pub fn scores(&self) -> Vec<FeatureScore> {
        let w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let rows = w.current_rows + w.previous_rows;
        self.baseline
            .features
            .iter()
            .enumerate()
            .map(|(fi, f)| {
                let counts: Vec<u64> = match (w.current.get(fi), w.previous.get(fi)) {
                    (Some(a), Some(b)) => a.iter().zip(b).map(|(x, y)| x + y).collect(),
                    _ => Vec::new(),
                };
                FeatureScore {
                    name: f.name.clone(),
                    psi: (rows >= MIN_ROWS)
                        .then(|| psi(&counts, &f.expected))
                        .flatten(),
                    rows,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_is_zero_for_the_same_distribution_and_grows_with_shift() {
        assert!(psi(&[25, 25, 25, 25], &[0.25; 4]).unwrap().abs() < 1e-12);
        let shifted = psi(&[0, 0, 10, 90], &[0.25; 4]).unwrap();
        assert!(shifted > 1.0, "{shifted}");
        assert_eq!(psi(&[0, 0], &[0.5, 0.5]), None);
    }

    #[test]
    fn baseline_validation() {
        let mut b = DriftBaseline {
            input: "x".into(),
            features: vec![FeatureBaseline {
                name: "a".into(),
                index: 0,
                edges: vec![1.0, 2.0],
                expected: vec![0.3, 0.4, 0.3],
            }],
        };
        assert!(b.validate().is_ok());
        b.features[0].expected.pop();
        assert!(b.validate().is_err());
    }
}
