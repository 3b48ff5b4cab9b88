//! `TreeEnsembleRegressor`, as onnxruntime computes it. With one target,
//! each tree adds its leaf's first weight to one single-precision sum; the
//! sum is divided by the number of trees for `AVERAGE`, the base value
//! added, and only `PROBIT` applies (onnxruntime ignores the other post
//! transforms for one target). With several targets, each leaf's weights
//! add to their targets, targets no leaf reached stay 0, and the post
//! transform applies to the row.

use std::sync::Arc;

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::super::{Attrs, Kernel, Post, probit, regressor_rules, rows_f32, slice, tensor};
use super::{Ensemble, NO_SCORE, check_width, rows};

#[derive(Debug)]
struct Regressor {
    trees: Ensemble,
    targets: usize,
    /// Base values: empty (none), or one per target.
    base: Vec<f32>,
    average: bool,
    post: Post,
}

/// Builds the kernel of a `TreeEnsembleRegressor` node.
pub(in crate::ml) fn regressor(node: &NodeProto) -> TractResult<Arc<dyn Kernel>> {
    let attrs = Attrs(node);
    let average = match attrs.string("aggregate_function").as_deref() {
        None | Some("SUM") => false,
        Some("AVERAGE") => true,
        Some(other) => bail!("aggregate_function {other} is not supported"),
    };
    let targets = usize::try_from(attrs.int("n_targets").unwrap_or(1))
        .ok()
        .filter(|&t| t > 0)
        .context("n_targets must be positive")?;
    let base = attrs.floats("base_values");
    ensure!(
        base.is_empty() || base.len() == targets,
        "base_values has {} values for {targets} targets",
        base.len()
    );
    Ok(Arc::new(Regressor {
        trees: Ensemble::parse(&attrs, "target_", targets)?,
        targets,
        base,
        average,
        post: Post::parse_with_probit(&attrs)?,
    }))
}

impl Regressor {
    /// One target: the sum of each leaf's first weight.
    fn one(&self, x: &[f32]) -> f32 {
        let mut score = 0f32;
        self.trees.for_each_leaf(x, |leaf| {
            if let Some(w) = self.trees.weights(leaf).first() {
                score += w.value;
            }
        });
        if self.average {
            score /= self.trees.trees() as f32;
        }
        score += self.base.first().copied().unwrap_or(0.0);
        if self.post == Post::Probit {
            probit(score)
        } else {
            score
        }
    }

    /// Several targets, into `out` (the row of the output).
    fn many(&self, x: &[f32], out: &mut [f32]) {
        out.fill(NO_SCORE);
        self.trees.for_each_leaf(x, |leaf| {
            for w in self.trees.weights(leaf) {
                if let Some(s) = out.get_mut(w.column as usize) {
                    *s += w.value;
                }
            }
        });
        let n = self.trees.trees() as f32;
        for (i, s) in out.iter_mut().enumerate() {
            // onnxruntime adds the base value, then writes 0 for a target
            // no leaf gave a weight.
            *s = if s.to_bits() == NO_SCORE.to_bits() {
                0.0
            } else {
                let v = if self.average { *s / n } else { *s };
                v + self.base.get(i).copied().unwrap_or(0.0)
            };
        }
        self.post.apply(out);
    }
}

impl Kernel for Regressor {
    fn name(&self) -> &'static str {
        "TreeEnsembleRegressor"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        regressor_rules(s, inputs, outputs, self.targets)
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs
            .first()
            .and_then(|f| f.shape.iter().next())
            .cloned()
            .unwrap_or_else(|| 1.into());
        Ok(tvec!(f32::fact(&[n, self.targets.into()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.first().context("no input")?;
        let (x, n, width) = rows_f32(input)?;
        check_width(width, &self.trees)?;
        let x = slice::<f32>(&x)?;
        let t = self.targets;
        let mut out = vec![0f32; n * t];
        for (row, y) in rows(x, n, width).zip(out.chunks_exact_mut(t)) {
            if t == 1 {
                y[0] = self.one(row);
            } else {
                self.many(row, y);
            }
        }
        Ok(tvec!(tensor(&[n, t], out)?))
    }
}
