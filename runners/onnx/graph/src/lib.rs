//! ONNX graphs for edgeserve's ONNX runner, on tract: check the operators
//! ([`operators`]), load (with [`rewrite`]s and [`ml`] kernels for the
//! `ai.onnx.ml` operators tract lacks or runs slowly), type, optimise, read
//! the input and output specs, run.
//!
//! Free of the guest SDK, so the same code runs inside the component and
//! natively (for timings and debugging).

pub mod ml;
pub mod operators;
pub mod rewrite;

use std::sync::Arc;

use anyhow::{Context, bail};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, InferenceFact};

/// tract's own types (tensors, element types), for callers.
pub use tract_onnx::prelude as tract;

/// Name, element type and shape of an input or output; `-1` in the shape
/// for a dimension fixed per call (such as the batch size).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// Tensor name in the graph.
    pub name: String,
    /// Element type.
    pub datum: DatumType,
    /// Dimensions, `-1` for any.
    pub shape: Vec<i64>,
}

/// A parsed, typed, optimised graph, ready to run.
pub struct Graph {
    /// The graph's inputs, in order.
    pub inputs: Vec<TensorSpec>,
    /// The graph's outputs, in order.
    pub outputs: Vec<TensorSpec>,
    plan: Arc<TypedRunnableModel>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl Graph {
    /// Parses, rewrites, types and optimises an ONNX graph. Unknown input
    /// dimensions become symbols (the first one `N`, the batch size),
    /// resolved on each call.
    pub fn load(bytes: &[u8]) -> anyhow::Result<Graph> {
        // An operator the runner cannot run is named in one line that says
        // what to do, before tract sees the graph.
        operators::check(bytes).map_err(anyhow::Error::msg)?;
        let onnx = onnx();
        let mut proto = onnx
            .proto_model_for_read(&mut &*bytes)
            .context("not an ONNX model")?;
        rewrite::rewrite(&mut proto)?;
        let mut model = onnx
            .model_for_proto_model(&proto)
            .context("cannot translate the graph")?;
        let mut inputs = Vec::new();
        for ix in 0..model.inputs.len() {
            let name = model.node(model.inputs[ix].node).name.clone();
            let fact = model.input_fact(ix)?.clone();
            let fact = concrete_input(&model, fact).with_context(|| format!("input '{name}'"))?;
            model.set_input_fact(ix, InferenceFact::from(fact))?;
            inputs.push(name);
        }
        let output_names: Vec<String> = model
            .outputs
            .iter()
            .enumerate()
            .map(|(ix, o)| {
                model
                    .outlet_label(*o)
                    .map_or_else(|| format!("output_{ix}"), str::to_string)
            })
            .collect();
        let typed = model.into_optimized().context("cannot type the graph")?;
        let spec = |name: String, fact: &TypedFact| TensorSpec {
            name,
            datum: public_datum(fact.datum_type),
            shape: fact
                .shape
                .iter()
                .map(|d| d.to_i64().unwrap_or(-1))
                .collect(),
        };
        let inputs = inputs
            .into_iter()
            .enumerate()
            .map(|(ix, name)| Ok(spec(name, typed.input_fact(ix)?)))
            .collect::<TractResult<Vec<_>>>()?;
        let outputs = output_names
            .into_iter()
            .enumerate()
            .map(|(ix, name)| Ok(spec(name, typed.output_fact(ix)?)))
            .collect::<TractResult<Vec<_>>>()?;
        let plan = typed.into_runnable()?;
        Ok(Graph {
            inputs,
            outputs,
            plan,
        })
    }

    /// Runs the graph on one tensor per input, in order; outputs come in
    /// the element types of [`Graph::outputs`].
    pub fn run(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut outputs = self.plan.run(inputs)?;
        for v in outputs.iter_mut() {
            if v.datum_type() == DatumType::TDim {
                *v = v.cast_to::<i64>()?.into_owned().into_tvalue();
            }
        }
        Ok(outputs)
    }
}

/// tract's ONNX framework with the runner's own operators registered.
fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    ml::register(&mut onnx.op_register);
    onnx
}

/// tract computes some integer results (an `ArgMax` feeding shapes, say) as
/// symbolic dimensions; they leave the graph as `I64`.
fn public_datum(datum: DatumType) -> DatumType {
    if datum == DatumType::TDim {
        DatumType::I64
    } else {
        datum
    }
}

/// An input fact with a known element type and rank; unknown dimensions
/// become symbols.
fn concrete_input(model: &InferenceModel, fact: InferenceFact) -> anyhow::Result<TypedFact> {
    let datum = fact
        .datum_type
        .concretize()
        .context("the graph does not say its element type")?;
    if fact.shape.is_open() {
        bail!("the graph does not say its rank");
    }
    let dims: TVec<TDim> = fact
        .shape
        .dims()
        .enumerate()
        .map(|(i, d)| {
            d.concretize().unwrap_or_else(|| {
                if i == 0 {
                    model.symbols.sym("N").into()
                } else {
                    model.symbols.new_with_prefix("d").into()
                }
            })
        })
        .collect();
    Ok(datum.fact(dims))
}

#[cfg(test)]
mod tests;
