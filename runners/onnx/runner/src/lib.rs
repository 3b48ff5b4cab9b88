//! The ONNX runner: one component that serves any ONNX model with tract,
//! inside the edgeserve sandbox.
//!
//! The model reaches the component at deploy time: the manifest's
//! `[artifacts]` table names the `.onnx` file (`model = "model.onnx"`) and
//! the host hands its bytes over through the `artifacts` import. Each
//! instance parses, rewrites, types and optimises the graph once (on its
//! first call, which for the first pooled instance is the host's metadata
//! call at deploy time) and keeps the runnable plan in a `OnceLock`; a
//! request then costs the inference alone. Input and output specs come from
//! the graph.
//!
//! Manifest `[config]` keys:
//! - `artifact`: the artifact holding the graph (default `model`).

mod tensors;

use std::sync::OnceLock;

use edgeserve_guest::{Error, Model, ModelInfo, Request, Response, Spec};
use onnx_graph::Graph;

/// A loaded graph with its protocol metadata.
struct Loaded {
    graph: Graph,
    info: ModelInfo,
}

/// The graph of this instance: built once, or the reason it cannot be.
fn loaded() -> &'static Result<Loaded, String> {
    static LOADED: OnceLock<Result<Loaded, String>> = OnceLock::new();
    LOADED.get_or_init(|| {
        let name = edgeserve_guest::config::get("artifact").unwrap_or_else(|| "model".into());
        let bytes = edgeserve_guest::artifacts::get(&name).ok_or_else(|| {
            format!(
                "no artifact '{name}': the manifest needs [artifacts] {name} = \"model.onnx\" \
                 (declared: {:?})",
                edgeserve_guest::artifacts::names()
            )
        })?;
        // One line: the operator check's message says what to do; tract's
        // reasons are chained with ": ".
        let graph = Graph::load(&bytes)
            .map_err(|e| format!("artifact '{name}': {e:#}").replace('\n', " "))?;
        let info = info(&graph).map_err(|e| format!("artifact '{name}': {e}"))?;
        Ok(Loaded { graph, info })
    })
}

/// The protocol metadata of a graph.
fn info(graph: &Graph) -> Result<ModelInfo, String> {
    let spec = |s: &onnx_graph::TensorSpec| {
        tensors::datatype(s.datum)
            .map(|dt| Spec::new(&s.name, dt, &s.shape))
            .ok_or_else(|| {
                format!(
                    "'{}' has element type {:?}, which the Open Inference Protocol cannot carry",
                    s.name, s.datum
                )
            })
    };
    let mut info = ModelInfo::new("onnx", "1").platform("onnx-tract");
    for s in &graph.inputs {
        info = info.input(spec(s)?);
    }
    for s in &graph.outputs {
        info = info.output(spec(s)?);
    }
    Ok(info)
}

/// Serves the graph in the `model` artifact.
struct OnnxRunner;

impl Model for OnnxRunner {
    fn metadata() -> ModelInfo {
        match loaded() {
            Ok(l) => l.info.clone(),
            // The host calls `metadata` when it loads a version: a graph
            // that cannot serve is refused at deploy time with this message,
            // never at request time.
            Err(e) => {
                edgeserve_guest::log::error(e);
                // The WIT `metadata` has no error case, so the refusal is a
                // trap; the host reports the guest's last output line with
                // it. That line is the reason alone: no panic location, no
                // backtrace hint.
                std::panic::set_hook(Box::new(|info| {
                    let reason = info
                        .payload()
                        .downcast_ref::<String>()
                        .map_or("cannot serve this ONNX model", String::as_str);
                    eprintln!("{reason}");
                }));
                panic!("cannot serve this ONNX model: {e}");
            }
        }
    }

    fn predict(request: Request) -> Result<Response, Error> {
        let l = loaded()
            .as_ref()
            .map_err(|e| Error::unavailable(e.clone()))?;
        let mut inputs = onnx_graph::tract::TVec::new();
        for spec in &l.graph.inputs {
            inputs.push(tensors::input(&request, spec)?);
        }
        let results = l
            .graph
            .run(inputs)
            .map_err(|e| Error::internal(format!("inference failed: {e:#}")))?;
        let mut response = Response::new();
        for (spec, value) in l.graph.outputs.iter().zip(results) {
            if request.wants(&spec.name) {
                response = tensors::output(response, &spec.name, &value)?;
            }
        }
        Ok(response)
    }
}

edgeserve_guest::export_model!(OnnxRunner);
