//! What a version's manifest asks the node to watch: its prediction log
//! sample and its input drift baseline. Plain data here, read and checked
//! with the rest of the manifest; the node's telemetry acts on it.

use serde::{Deserialize, Serialize};

/// A model's prediction log settings (`[prediction_log]` in its manifest).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Share of requests recorded, 0–1 (0 = off).
    #[serde(default)]
    pub sample: f64,
    /// Whether to record the input tensors (turn off for data that must
    /// never be stored).
    #[serde(default = "yes")]
    pub inputs: bool,
}

fn yes() -> bool {
    true
}

/// One feature's training distribution.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureBaseline {
    /// Feature name (for metrics and status).
    pub name: String,
    /// Column of the input's last dimension.
    pub index: usize,
    /// Inner bin edges, ascending: bin i holds values in
    /// `(edges[i-1], edges[i]]`, the first and last bins are open-ended.
    pub edges: Vec<f64>,
    /// Fraction of training rows in each bin (`edges.len() + 1` values).
    pub expected: Vec<f64>,
}

/// A model's baseline: which input, and its features.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DriftBaseline {
    /// The input tensor the features are columns of.
    pub input: String,
    /// The features.
    pub features: Vec<FeatureBaseline>,
}

impl DriftBaseline {
    /// Checks the shape of the baseline.
    pub fn validate(&self) -> Result<(), String> {
        if self.features.is_empty() {
            return Err("the drift baseline has no features".into());
        }
        for f in &self.features {
            if f.expected.len() != f.edges.len() + 1 {
                return Err(format!(
                    "feature '{}': {} edges need {} expected fractions, not {}",
                    f.name,
                    f.edges.len(),
                    f.edges.len() + 1,
                    f.expected.len()
                ));
            }
            if f.edges.windows(2).any(|w| w[0] > w[1]) || f.edges.iter().any(|e| !e.is_finite()) {
                return Err(format!(
                    "feature '{}': edges must be finite and ascending",
                    f.name
                ));
            }
            let sum: f64 = f.expected.iter().sum();
            if (sum - 1.0).abs() > 0.01 || f.expected.iter().any(|e| *e < 0.0) {
                return Err(format!(
                    "feature '{}': expected fractions must be non-negative and sum to 1 (they sum to {sum})",
                    f.name
                ));
            }
        }
        Ok(())
    }
}

/// The `[drift]` table of a manifest.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DriftSettings {
    /// Baseline file in the version folder (JSON).
    pub baseline: String,
    /// Live rows in the window the score is computed over.
    #[serde(default = "default_window")]
    pub window: u64,
}

fn default_window() -> u64 {
    1000
}
