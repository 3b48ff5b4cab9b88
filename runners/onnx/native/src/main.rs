//! Native tract on the same graphs as the runner component: prints a
//! graph's specs and times calls on the rows of a JSON batch, for the
//! comparisons in BENCHMARKS.md and for debugging a graph outside the
//! sandbox.
//!
//! `onnx-native MODEL.onnx [ROWS] [ITERATIONS]`: load time, specs, and the
//! p50 of ITERATIONS calls on synthetic FP32 inputs (ROWS per call; value
//! *i* is `(i % 7) * 0.5`).
//! `onnx-native MODEL.onnx --request REQ.json [ITERATIONS]`: the same, on the
//! inputs of an OIP JSON request (any datatype the graph takes, strings
//! too): what `bench/onnx.py` feeds every target.
//! `onnx-native MODEL.onnx --reference REF.json`: compares with onnxruntime
//! (see [`reference`]).

mod reference;

use std::time::Instant;

use anyhow::{Context, bail};
use onnx_graph::Graph;
use onnx_graph::tract::*;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        bail!(
            "usage: onnx-native MODEL.onnx [ROWS] [ITERATIONS] \
             | MODEL.onnx --request REQ.json [ITERATIONS] | MODEL.onnx --reference REF.json"
        );
    };
    if args.get(2).map(String::as_str) == Some("--reference") {
        let file = args.get(3).context("--reference REF.json")?;
        let graph = Graph::load(&std::fs::read(path).with_context(|| format!("read {path}"))?)?;
        let text = std::fs::read(file).with_context(|| format!("read {file}"))?;
        return reference::compare(&graph, &serde_json::from_slice(&text)?);
    }
    let request = (args.get(2).map(String::as_str) == Some("--request"))
        .then(|| args.get(3).context("--request REQ.json"))
        .transpose()?;
    let (rows, iterations) = match request {
        Some(_) => (1, args.get(4).map_or(Ok(10_000), |s| s.parse())?),
        None => (
            args.get(2).map_or(Ok(1), |s| s.parse())?,
            args.get(3).map_or(Ok(10_000), |s| s.parse())?,
        ),
    };
    let bytes = std::fs::read(path).with_context(|| format!("read {path}"))?;
    let start = Instant::now();
    let graph = Graph::load(&bytes)?;
    let load = start.elapsed();
    println!(
        "load (parse + optimise): {:.3} ms",
        load.as_secs_f64() * 1e3
    );
    for s in &graph.inputs {
        println!("input  {} {:?} {:?}", s.name, s.datum, s.shape);
    }
    for s in &graph.outputs {
        println!("output {} {:?} {:?}", s.name, s.datum, s.shape);
    }
    let inputs = match request {
        Some(file) => {
            let text = std::fs::read(file).with_context(|| format!("read {file}"))?;
            reference::inputs(&graph, &serde_json::from_slice(&text)?)?
        }
        None => synthetic(&graph, rows)?,
    };
    let out = graph.run(inputs.clone())?;
    for (s, v) in graph.outputs.iter().zip(&out) {
        println!("{} = {:?}", s.name, v);
    }
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        let out = graph.run(inputs.clone())?;
        times.push(t.elapsed());
        std::hint::black_box(out);
    }
    times.sort();
    println!(
        "native tract, {rows} row(s) per call: p50 {:.2} us, p99 {:.2} us ({iterations} calls)",
        times[iterations / 2].as_secs_f64() * 1e6,
        times[iterations * 99 / 100].as_secs_f64() * 1e6
    );
    Ok(())
}

/// FP32 inputs of `rows` rows (the graph's free dimensions: `rows` first,
/// 1 after), value *i* being `(i % 7) * 0.5`.
fn synthetic(graph: &Graph, rows: usize) -> anyhow::Result<TVec<TValue>> {
    graph
        .inputs
        .iter()
        .map(|s| {
            let shape: Vec<usize> = s
                .shape
                .iter()
                .enumerate()
                .map(|(i, &d)| {
                    if d < 0 {
                        if i == 0 { rows } else { 1 }
                    } else {
                        d as usize
                    }
                })
                .collect();
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.5).collect();
            Ok(tract_ndarray::ArrayD::from_shape_vec(shape, data)?.into_tvalue())
        })
        .collect()
}
