//! The runner's own `ai.onnx.ml` operators, registered on tract's ONNX
//! operator register: operators tract lacks that scikit-learn exports
//! commonly, and tract's `TreeEnsembleClassifier` replaced ([`REPLACED`]),
//! each computed as onnxruntime computes it (same element types, same order
//! of float operations where the order shows in the results).
//!
//! Each operator is a [`Kernel`]: its attributes parsed and checked once
//! when the graph loads, then `eval` per call, returning errors (never
//! panicking) on inputs it cannot take.

mod encoders;
mod svm;
#[cfg(test)]
mod tests;
mod trees;

use std::fmt;
use std::sync::Arc;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::{AttributeProto, NodeProto};
use tract_onnx::tract_hir::internal::*;

/// Builds a kernel from its node's attributes.
type Build = fn(&NodeProto) -> TractResult<Arc<dyn Kernel>>;

/// The operators this module adds (all in the `ai.onnx.ml` domain), with
/// the function that builds each.
const OPERATORS: &[(&str, Build)] = &[
    ("LabelEncoder", encoders::label_encoder),
    ("OneHotEncoder", encoders::one_hot_encoder),
    ("SVMClassifier", svm::classifier),
    ("SVMRegressor", svm::regressor),
    ("TreeEnsembleClassifier", trees::classifier),
    ("TreeEnsembleRegressor", trees::regressor),
];

/// The operators of [`OPERATORS`] that tract has too, replaced by the
/// runner's own (faster, and computed as onnxruntime computes them).
pub const REPLACED: &[&str] = &["TreeEnsembleClassifier"];

/// The names of the operators this module adds.
pub fn names() -> impl Iterator<Item = &'static str> {
    OPERATORS.iter().map(|(name, _)| *name)
}

/// Adds the operators to tract's ONNX register.
pub fn register(register: &mut OnnxOpRegister) {
    for (name, _) in OPERATORS {
        register.insert(name, parse);
    }
}

/// The register's entry point: finds the node's builder by its operator.
fn parse(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let build = OPERATORS
        .iter()
        .find(|(name, _)| *name == node.op_type)
        .map(|(_, build)| *build)
        .with_context(|| format!("no kernel for {}", node.op_type))?;
    let kernel = build(node).with_context(|| format!("{} node '{}'", node.op_type, node.name))?;
    Ok((expand(MlExpansion(kernel)), vec![]))
}

/// The typing rules of a regressor: rows of features (`[N, F]`) in,
/// `columns` FP32 values per row (`[N, columns]`) out.
fn regressor_rules<'r, 'p: 'r>(
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
    columns: usize,
) -> InferenceResult {
    check_input_arity(inputs, 1)?;
    s.equals(&inputs[0].rank, 2)?;
    s.equals(&outputs[0].datum_type, DatumType::F32)?;
    s.equals(&outputs[0].rank, 2)?;
    s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
    s.equals(&outputs[0].shape[1], columns.to_dim())?;
    Ok(())
}

/// One operator's computation.
pub(crate) trait Kernel: fmt::Debug + Send + Sync + 'static {
    /// The operator's name.
    fn name(&self) -> &'static str;

    /// How many outputs it has.
    fn outputs(&self) -> usize {
        1
    }

    /// Its typing rules, for tract's inference.
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult;

    /// Its output facts from its input facts.
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>>;

    /// Computes the outputs.
    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>>;
}

/// The inference-level operator: typing rules, then one [`Op`] node.
#[derive(Clone, Debug)]
struct MlExpansion(Arc<dyn Kernel>);

impl Expansion for MlExpansion {
    fn name(&self) -> StaticName {
        self.0.name().into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.0.outputs())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_output_arity(outputs, self.0.outputs())?;
        self.0.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, MlOp(self.0.clone()), inputs)
    }
}

/// The typed operator, evaluated by the plan.
#[derive(Clone, Debug)]
struct MlOp(Arc<dyn Kernel>);

/// Two nodes are the same operator only when they share the kernel.
impl PartialEq for MlOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for MlOp {}

impl Op for MlOp {
    fn name(&self) -> StaticName {
        self.0.name().into()
    }

    op_as_typed_op!();
}

impl EvalOp for MlOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.0.eval(inputs)
    }
}

impl TypedOp for MlOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.0.output_facts(inputs)
    }

    as_op!();
}

/// The attributes of a node, read leniently by type: a missing attribute
/// is `None` (or empty).
pub(crate) struct Attrs<'a>(pub(crate) &'a NodeProto);

impl<'a> Attrs<'a> {
    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.0.attribute.iter().find(|a| a.name == name)
    }

    /// Whether the node sets `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub(crate) fn floats(&self, name: &str) -> Vec<f32> {
        self.get(name).map(|a| a.floats.clone()).unwrap_or_default()
    }

    pub(crate) fn ints(&self, name: &str) -> Vec<i64> {
        self.get(name).map(|a| a.ints.clone()).unwrap_or_default()
    }

    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|a| a.i)
    }

    pub(crate) fn float(&self, name: &str) -> Option<f32> {
        self.get(name).map(|a| a.f)
    }

    /// Indices (node ids, feature ids...): each must be a non-negative
    /// number that fits the platform.
    pub(crate) fn indices(&self, name: &str) -> TractResult<Vec<usize>> {
        self.ints(name)
            .into_iter()
            .map(|i| usize::try_from(i).map_err(|_| format_err!("{name}: {i} is not an index")))
            .collect()
    }
}

/// The rows of a rank-2 (or rank-1, one row) input as `f32`, with the
/// number of rows and columns.
pub(crate) fn rows_f32(
    input: &TValue,
) -> TractResult<(std::borrow::Cow<'_, Tensor>, usize, usize)> {
    let (n, width) = match input.shape() {
        [w] => (1, *w),
        [n, w] => (*n, *w),
        other => bail!("expects a rank 1 or 2 input, got shape {other:?}"),
    };
    Ok((input.cast_to::<f32>()?, n, width))
}

/// The data of a plain tensor as a slice.
pub(crate) fn slice<T: Datum>(t: &Tensor) -> TractResult<&[T]> {
    t.try_as_plain_ram()?.as_slice::<T>()
}

/// A tensor of the given shape from row-major data.
pub(crate) fn tensor<T: Datum>(shape: &[usize], data: Vec<T>) -> TractResult<TValue> {
    Ok(tract_ndarray::ArrayD::from_shape_vec(shape, data)?.into_tvalue())
}

/// The post transform of an `ai.onnx.ml` predictor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Post {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl Post {
    /// Parses `post_transform` (default `NONE`); `PROBIT` is not supported.
    pub(crate) fn parse(attrs: &Attrs) -> TractResult<Post> {
        match Post::parse_with_probit(attrs)? {
            Post::Probit => bail!("post_transform PROBIT is not supported"),
            post => Ok(post),
        }
    }

    /// Parses `post_transform` (default `NONE`), `PROBIT` included.
    pub(crate) fn parse_with_probit(attrs: &Attrs) -> TractResult<Post> {
        match attrs.string("post_transform").as_deref() {
            None | Some("NONE") => Ok(Post::None),
            Some("LOGISTIC") => Ok(Post::Logistic),
            Some("SOFTMAX") => Ok(Post::Softmax),
            Some("SOFTMAX_ZERO") => Ok(Post::SoftmaxZero),
            Some("PROBIT") => Ok(Post::Probit),
            Some(other) => bail!("post_transform {other} is not supported"),
        }
    }

    /// Applies the transform to one row of scores, as onnxruntime does.
    pub(crate) fn apply(self, scores: &mut [f32]) {
        match self {
            Post::None => {}
            Post::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
            Post::Softmax => softmax(scores, false),
            Post::SoftmaxZero => softmax(scores, true),
            Post::Probit => scores.iter_mut().for_each(|s| *s = probit(*s)),
        }
    }
}

/// onnxruntime's `ComputeProbit`: `sqrt(2) * erfinv(2x - 1)`, with its
/// single-precision approximation of `erfinv` (Winitzki's, a = 0.147).
pub(crate) fn probit(x: f32) -> f32 {
    const A: f32 = 0.147;
    let y = 2.0 * x - 1.0;
    let sign = if y < 0.0 { -1.0 } else { 1.0 };
    let ln = ((1.0 - y) * (1.0 + y)).ln();
    let v = 2.0 / (std::f32::consts::PI * A) + 0.5 * ln;
    let v2 = 1.0 / A * ln;
    let erfinv = sign * (-v + (v * v - v2).sqrt()).sqrt();
    std::f32::consts::SQRT_2 * erfinv
}

/// onnxruntime's `ComputeLogistic`.
pub(crate) fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 { 1.0 - v } else { v }
}

/// onnxruntime's `ComputeSoftmax` (and `ComputeSoftmaxZero`, which leaves
/// zero scores out).
fn softmax(values: &mut [f32], skip_zeros: bool) {
    let max = values.iter().copied().fold(-f32::MAX, f32::max);
    let exp_neg_max = (-max).exp();
    let mut sum = 0.0f32;
    for v in values.iter_mut() {
        if !skip_zeros || *v > 1e-7 || *v < -1e-7 {
            *v = (*v - max).exp();
            sum += *v;
        } else {
            *v *= exp_neg_max;
        }
    }
    for v in values.iter_mut() {
        *v /= sum;
    }
}
