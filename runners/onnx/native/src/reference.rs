//! `onnx-native MODEL.onnx --reference REF.json`: runs the graph natively on
//! the request of a reference file written by
//! `tests/python/onnx_reference.py` and compares with onnxruntime's outputs,
//! with the tolerances of `cli/tests/onnx.rs`. A quick check of a rewrite
//! or kernel without building the component.

use anyhow::{Context, bail, ensure};
use onnx_graph::Graph;
use onnx_graph::tract::*;
use serde_json::Value;

/// Relative tolerance for floating-point outputs (as `cli/tests/onnx.rs`).
const RTOL: f64 = 1e-5;
/// Absolute floor for values near zero.
const ATOL: f64 = 1e-7;

/// Compares; fails when an output differs.
pub(crate) fn compare(graph: &Graph, reference: &Value) -> anyhow::Result<()> {
    let outputs = graph.run(inputs(graph, &reference["request"])?)?;
    let mut failed = false;
    for (spec, got) in graph.outputs.iter().zip(&outputs) {
        let want = &reference["outputs"][spec.name.as_str()];
        let shape = shape(&want["shape"])?;
        ensure!(
            got.shape() == shape,
            "{}: shape {:?}, want {shape:?}",
            spec.name,
            got.shape()
        );
        let data = want["data"].as_array().context("data")?;
        let mut worst = 0f64;
        let mut mismatches = 0;
        let plain = got.try_as_plain_ram()?;
        for (i, w) in data.iter().enumerate() {
            let ok = match got.datum_type() {
                DatumType::F32 => {
                    let (g, w) = (
                        f64::from(plain.as_slice::<f32>()?[i]),
                        w.as_f64().context("number")?,
                    );
                    worst = worst.max((g - w).abs() / w.abs().max(1e-30));
                    (g - w).abs() <= RTOL * g.abs().max(w.abs()) + ATOL
                }
                DatumType::I64 => Some(plain.as_slice::<i64>()?[i]) == w.as_i64(),
                DatumType::String => Some(plain.as_slice::<String>()?[i].as_str()) == w.as_str(),
                other => bail!("{}: element type {other:?}", spec.name),
            };
            if !ok {
                mismatches += 1;
                if mismatches <= 5 {
                    println!(
                        "{}[{i}]: got {:?}, onnxruntime {w}",
                        spec.name,
                        element(got, i)
                    );
                }
            }
        }
        failed |= mismatches > 0;
        println!(
            "{}: {} values, {mismatches} differ, worst relative difference {worst:.2e}",
            spec.name,
            data.len()
        );
    }
    ensure!(!failed, "outputs differ from onnxruntime's");
    Ok(())
}

fn element(t: &Tensor, i: usize) -> String {
    t.try_as_plain_ram()
        .ok()
        .and_then(|p| match t.datum_type() {
            DatumType::F32 => p.as_slice::<f32>().ok().map(|s| s[i].to_string()),
            DatumType::I64 => p.as_slice::<i64>().ok().map(|s| s[i].to_string()),
            DatumType::String => p.as_slice::<String>().ok().map(|s| s[i].clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The graph's inputs, in its order, from an OIP JSON request's tensors.
pub(crate) fn inputs(graph: &Graph, request: &Value) -> anyhow::Result<TVec<TValue>> {
    graph
        .inputs
        .iter()
        .map(|spec| {
            let input = request["inputs"]
                .as_array()
                .and_then(|a| a.iter().find(|i| i["name"] == spec.name.as_str()))
                .with_context(|| format!("the request has no input '{}'", spec.name))?;
            tensor(input)
        })
        .collect()
}

/// An OIP JSON shape as tract dimensions.
fn shape(value: &Value) -> anyhow::Result<Vec<usize>> {
    Ok(value
        .as_array()
        .context("shape")?
        .iter()
        .filter_map(Value::as_u64)
        .map(|d| d as usize)
        .collect())
}

/// An OIP JSON input as a tract tensor.
fn tensor(input: &Value) -> anyhow::Result<TValue> {
    let shape = shape(&input["shape"])?;
    let data = input["data"].as_array().context("data")?;
    Ok(match input["datatype"].as_str() {
        Some("FP32") => {
            let v: Vec<f32> = data
                .iter()
                .filter_map(Value::as_f64)
                .map(|v| v as f32)
                .collect();
            tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into_tvalue()
        }
        Some("INT64") => {
            let v: Vec<i64> = data.iter().filter_map(Value::as_i64).collect();
            tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into_tvalue()
        }
        Some("BYTES") => {
            let v: Vec<String> = data
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into_tvalue()
        }
        other => bail!("datatype {other:?}"),
    })
}
