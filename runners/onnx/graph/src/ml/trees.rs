//! Tree ensembles (scikit-learn's decision trees, random forests, gradient
//! boosting and histogram gradient boosting): `TreeEnsembleClassifier` and
//! `TreeEnsembleRegressor`, computed as onnxruntime computes them.
//!
//! The trees are flattened once when the graph loads ([`ensemble`]); a call
//! walks them with a tight loop and allocates only its output tensors.
//! Scores are summed in single precision, tree after tree, as onnxruntime
//! does for one row.

mod classifier;
mod ensemble;
mod regressor;
#[cfg(test)]
mod tests;

use tract_onnx::tract_hir::internal::*;

pub(super) use classifier::classifier;
use ensemble::Ensemble;
pub(super) use regressor::regressor;

/// A score no leaf has added to yet. onnxruntime remembers per column
/// whether any leaf reached it (an unreached class cannot win, an unreached
/// column reads 0); starting a sum at -0.0 keeps that in the sum itself:
/// `-0.0 + w` is `w` exactly, and no sum of weights is -0.0 again unless
/// every weight is (weights of -0.0 are read as +0.0).
const NO_SCORE: f32 = -0.0;

/// Refuses rows narrower than the features the trees read (before any
/// row is walked, so that the walk itself needs no check).
fn check_width(width: usize, trees: &Ensemble) -> TractResult<()> {
    ensure!(
        width >= trees.width,
        "the input has {width} features, the trees read feature {}",
        trees.width.saturating_sub(1)
    );
    Ok(())
}

/// The `n` rows of row-major data `width` values wide.
fn rows(x: &[f32], n: usize, width: usize) -> impl Iterator<Item = &[f32]> {
    (0..n).map(move |r| x.get(r * width..(r + 1) * width).unwrap_or(&[]))
}
