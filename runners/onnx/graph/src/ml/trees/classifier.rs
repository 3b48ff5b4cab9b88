//! `TreeEnsembleClassifier`, as onnxruntime computes it: each tree adds its
//! leaf's weights to their classes (single precision, tree after tree),
//! then base values, the label and the post transform. The ONNX schema has
//! no `aggregate_function` for the classifier: the trees always add up.
//!
//! - More than two classes: base values added, the label is the first
//!   class with the highest score among the classes some leaf (or a base
//!   value) reached, then the post transform on the row.
//! - Two classes with one score column (every leaf votes for one class, as
//!   scikit-learn's gradient boosting exports): the score `s` (plus the
//!   base value) becomes `[1 - s, s]` when all weights are positive (label
//!   `s > 0.5`), else `[-s, s]`, or `[logistic(-s), logistic(s)]` with
//!   `LOGISTIC` (label `s > 0`).
//! - Two classes with two score columns: as onnxruntime, including its
//!   quirks (with two base values only the second counts; without the
//!   single-column case the label is the integer 1 or 0 itself).

use std::sync::Arc;

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::super::{Attrs, Kernel, Post, logistic, probit, rows_f32, slice, tensor};
use super::{Ensemble, NO_SCORE, check_width, rows};

/// Class labels: integers (the label codes themselves) or strings.
#[derive(Debug)]
enum Labels {
    Ints,
    Strings(Vec<String>),
}

/// The label output being filled, row after row.
enum LabelColumn<'a> {
    Ints(Vec<i64>),
    Strings(Vec<String>, &'a [String]),
}

impl LabelColumn<'_> {
    /// Appends the label onnxruntime's integer `code` stands for: the
    /// label itself for integer labels, an index into string labels.
    fn push(&mut self, code: i64) {
        match self {
            LabelColumn::Ints(v) => v.push(code),
            LabelColumn::Strings(v, labels) => v.push(
                usize::try_from(code)
                    .ok()
                    .and_then(|i| labels.get(i))
                    .cloned()
                    .unwrap_or_default(),
            ),
        }
    }

    fn tensor(self) -> TractResult<TValue> {
        match self {
            LabelColumn::Ints(v) => tensor(&[v.len()], v),
            LabelColumn::Strings(v, _) => tensor(&[v.len()], v),
        }
    }
}

#[derive(Debug)]
struct Classifier {
    trees: Ensemble,
    labels: Labels,
    /// onnxruntime's label codes: the integer labels, or `0..k` for string
    /// labels.
    codes: Vec<i64>,
    /// Base values: none, one per class, or (as onnxruntime reads them)
    /// fewer.
    base: Vec<f32>,
    post: Post,
    /// Two classes and every weight for the same one: one score column.
    binary: bool,
    /// No weight is negative (the binary label is then `s > 0.5`).
    all_positive: bool,
}

/// Builds the kernel of a `TreeEnsembleClassifier` node.
pub(in crate::ml) fn classifier(node: &NodeProto) -> TractResult<Arc<dyn Kernel>> {
    let attrs = Attrs(node);
    let strings = attrs.strings("classlabels_strings");
    let ints = attrs.ints("classlabels_int64s");
    let (labels, codes) = match (strings.is_empty(), ints.is_empty()) {
        (false, true) => {
            let codes = (0..strings.len() as i64).collect();
            (Labels::Strings(strings), codes)
        }
        (true, false) => (Labels::Ints, ints),
        _ => bail!("needs exactly one of classlabels_int64s and classlabels_strings"),
    };
    let classes = codes.len();
    ensure!(classes >= 2, "needs at least two class labels");
    let base = attrs.floats("base_values");
    ensure!(
        base.len() <= classes,
        "base_values has {} values for {classes} classes",
        base.len()
    );
    let class_ids = attrs.ints("class_ids");
    let binary = classes == 2
        && class_ids
            .first()
            .is_some_and(|c| class_ids.iter().all(|d| d == c));
    Ok(Arc::new(Classifier {
        trees: Ensemble::parse(&attrs, "class_", classes)?,
        labels,
        codes,
        base,
        post: Post::parse_with_probit(&attrs)?,
        binary,
        // As onnxruntime: no weight below 0 (NaN is not).
        all_positive: attrs
            .floats("class_weights")
            .iter()
            .all(|&w| w >= 0.0 || w.is_nan()),
    }))
}

/// A sum and whether any leaf (or base value) reached it; a sum nothing
/// reached reads 0.
fn read(s: f32) -> (f32, bool) {
    if s.to_bits() == NO_SCORE.to_bits() {
        (0.0, false)
    } else {
        (s, true)
    }
}

impl Classifier {
    fn classes(&self) -> usize {
        self.codes.len()
    }

    /// The element type of the labels.
    fn datum(&self) -> DatumType {
        match self.labels {
            Labels::Ints => DatumType::I64,
            Labels::Strings(_) => DatumType::String,
        }
    }

    /// One row: its scores into `out` (the row of the output, one column
    /// per class) and its label code.
    fn row(&self, x: &[f32], out: &mut [f32]) -> i64 {
        out.fill(NO_SCORE);
        self.trees.for_each_leaf(x, |leaf| {
            for w in self.trees.weights(leaf) {
                if let Some(s) = out.get_mut(w.column as usize) {
                    *s += w.value;
                }
            }
        });
        if let [s0, s1] = out {
            self.two(s0, s1)
        } else {
            self.many(out)
        }
    }

    /// More than two classes.
    fn many(&self, out: &mut [f32]) -> i64 {
        let mut best: Option<(usize, f32)> = None;
        for (c, s) in out.iter_mut().enumerate() {
            let (mut v, mut has) = read(*s);
            if let Some(&b) = self.base.get(c) {
                v = if has { v + b } else { b };
                has = true;
            }
            *s = v;
            if has && best.is_none_or(|(_, max)| v > max) {
                best = Some((c, v));
            }
        }
        self.post.apply(out);
        let winner = best.map_or(0, |(c, _)| c);
        self.codes.get(winner).copied().unwrap_or(0)
    }

    /// Two classes: one score column or two.
    fn two(&self, out0: &mut f32, out1: &mut f32) -> i64 {
        let ((mut s0, h0), (mut s1, h1)) = (read(*out0), read(*out1));
        // Whether the second column stays (it goes when no leaf reached
        // it, except with two base values).
        let mut both = true;
        // How onnxruntime writes one score as two: 0 and 1 as `[1 - s, s]`,
        // 2 and 3 as `[-s, s]` (or through the logistic function).
        let mut second: Option<u8> = None;
        match self.base.as_slice() {
            [_, b1] if h1 => {
                s1 = b1 + s0;
                s0 = -s1;
            }
            [b0, b1] => {
                s0 += b0;
                s1 += b1;
            }
            [b0] => {
                s0 += b0;
                both = h1;
            }
            _ => {
                second = Some(3);
                both = h1;
            }
        }
        let positive = if both && h1 {
            s1
        } else if h0 {
            s0
        } else {
            0.0
        };
        let code = if self.binary {
            let (win, extra) = match (self.all_positive, positive) {
                (true, p) => (p > 0.5, 0),
                (false, p) => (p > 0.0, 2),
            };
            second = Some(extra + u8::from(!win));
            self.codes.get(usize::from(win)).copied().unwrap_or(0)
        } else {
            i64::from(positive > 0.0)
        };
        let v0 = if h0 { s0 } else { 0.0 };
        let (z0, z1) = if both {
            let mut z = [v0, if h1 { s1 } else { 0.0 }];
            self.post.apply(&mut z);
            (z[0], z[1])
        } else {
            match (self.post, second) {
                (Post::Probit, _) => (probit(v0), 0.0),
                (_, Some(0 | 1)) => (1.0 - v0, v0),
                (Post::Logistic, Some(_)) => (logistic(if h0 { -s0 } else { 0.0 }), logistic(v0)),
                (_, Some(_)) => (if h0 { -s0 } else { 0.0 }, v0),
                (_, None) => (v0, 0.0),
            }
        };
        *out0 = z0;
        *out1 = z1;
        code
    }
}

impl Kernel for Classifier {
    fn name(&self) -> &'static str {
        "TreeEnsembleClassifier"
    }

    fn outputs(&self) -> usize {
        2
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].datum_type, self.datum())?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].datum_type, DatumType::F32)?;
        s.equals(&outputs[1].rank, 2)?;
        s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[1], self.classes().to_dim())?;
        Ok(())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs
            .first()
            .and_then(|f| f.shape.iter().next())
            .cloned()
            .unwrap_or_else(|| 1.into());
        Ok(tvec!(
            self.datum().fact(std::slice::from_ref(&n)),
            f32::fact(&[n, self.classes().into()])
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.first().context("no input")?;
        let (x, n, width) = rows_f32(input)?;
        check_width(width, &self.trees)?;
        let x = slice::<f32>(&x)?;
        let k = self.classes();
        let mut scores = vec![0f32; n * k];
        let mut labels = match &self.labels {
            Labels::Ints => LabelColumn::Ints(Vec::with_capacity(n)),
            Labels::Strings(l) => LabelColumn::Strings(Vec::with_capacity(n), l),
        };
        for (row, out) in rows(x, n, width).zip(scores.chunks_exact_mut(k)) {
            labels.push(self.row(row, out));
        }
        Ok(tvec!(labels.tensor()?, tensor(&[n, k], scores)?))
    }
}
