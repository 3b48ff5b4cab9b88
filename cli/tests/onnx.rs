//! ONNX models served by the ONNX runner component match onnxruntime: every
//! example in `examples/onnx/` is served over HTTP by a real edgeserve
//! process, and its outputs on at least 100 rows of the real data set are
//! compared with what onnxruntime (in a virtual environment this test
//! creates) computes on the same rows. Graphs the runner cannot run are
//! refused at deploy time with one line that says what to do.

mod common;

use std::path::Path;
use std::process::Command;

use edgeserve_test_support::{Repo, Server, components, repo_root};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

/// Relative tolerance for floating-point outputs.
const RTOL: f64 = 1e-5;
/// Absolute floor, for values near zero (tiny probabilities), where a
/// relative bound means nothing: float32 summation order alone moves them.
const ATOL: f64 = 1e-7;

/// The example folders, each with a model.onnx.
fn examples() -> Vec<String> {
    let dir = repo_root().join("examples/onnx");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("model.onnx").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Adds an ONNX example the way a user lays it out: the runner as
/// model.wasm, the example's manifest, model.onnx and smoke.json.
fn add_onnx_example(repo: &Repo, name: &str) {
    let src = repo_root().join("examples/onnx").join(name);
    let manifest = std::fs::read_to_string(src.join("manifest.toml")).unwrap();
    let dir = repo
        .add(name, "1", components::ONNX_RUNNER, &manifest)
        .unwrap();
    for file in ["model.onnx", "smoke.json"] {
        std::fs::copy(src.join(file), dir.join(file)).unwrap();
    }
}

fn reference(python: &Path, out: &Path) {
    let script = repo_root().join("tests/python/onnx_reference.py");
    let status = Command::new(python).arg(&script).arg(out).status().unwrap();
    assert!(status.success(), "{} failed", script.display());
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= RTOL * got.abs().max(want.abs()) + ATOL
}

/// Compares one output; returns how many values were compared.
fn compare(model: &str, name: &str, want: &Value, got: &Value) -> usize {
    assert_eq!(got["datatype"], want["datatype"], "{model}/{name} datatype");
    assert_eq!(got["shape"], want["shape"], "{model}/{name} shape");
    let (w, g) = (
        want["data"].as_array().unwrap(),
        got["data"].as_array().unwrap(),
    );
    assert_eq!(w.len(), g.len(), "{model}/{name} length");
    let mut worst = 0f64;
    for (i, (w, g)) in w.iter().zip(g).enumerate() {
        if want["datatype"] == "FP32" {
            let (w, g) = (w.as_f64().unwrap(), g.as_f64().unwrap());
            assert!(
                close(g, w),
                "{model}/{name}[{i}]: edgeserve {g}, onnxruntime {w}"
            );
            worst = worst.max((g - w).abs() / w.abs().max(1e-30));
        } else {
            assert_eq!(g, w, "{model}/{name}[{i}] (labels are exact)");
        }
    }
    eprintln!(
        "{model}/{name}: {} values match (worst relative difference {worst:.2e})",
        w.len()
    );
    w.len()
}

#[test]
fn onnx_examples_match_onnxruntime_and_bad_graphs_are_refused() {
    let python = common::onnx_python();
    let refs = tempfile_dir();
    reference(&python, refs.path());

    let repo = Repo::new().unwrap();
    let names = examples();
    assert!(names.len() >= 4, "ONNX examples: {names:?}");
    for name in &names {
        add_onnx_example(&repo, name);
    }
    // Refused at deploy time, each with the reason: bytes that are not an
    // ONNX graph, and a manifest without the artifact.
    let artifacts = "[limits]\nmemory = \"64MiB\"\n[artifacts]\nmodel = \"model.onnx\"\n";
    repo.add("garbage", "1", components::ONNX_RUNNER, artifacts)
        .unwrap();
    repo.write("garbage", "1", "model.onnx", b"not a graph")
        .unwrap();
    repo.add("no-artifact", "1", components::ONNX_RUNNER, "")
        .unwrap();
    // Graphs with an operator the runner does not run.
    for bad in BAD_GRAPHS {
        repo.add(bad.name, "1", components::ONNX_RUNNER, artifacts)
            .unwrap();
        let graph = std::fs::read(repo_root().join("tests/fixtures/onnx").join(bad.file)).unwrap();
        repo.write(bad.name, "1", "model.onnx", &graph).unwrap();
    }

    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let http = reqwest::blocking::Client::new();
    let mut total = 0;
    for name in &names {
        let file = refs.path().join(format!("{name}.json"));
        let r: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert!(r["rows"].as_u64().unwrap() >= 100, "{name}: too few rows");

        // Metadata comes from the graph.
        let meta: Value = http
            .get(s.url(&format!("/v2/models/{name}")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(meta["platform"], "onnx-tract", "{meta}");
        let inputs = r["request"]["inputs"].as_array().unwrap();
        assert_eq!(
            meta["inputs"].as_array().unwrap().len(),
            inputs.len(),
            "{meta}"
        );
        for (declared, input) in meta["inputs"].as_array().unwrap().iter().zip(inputs) {
            assert_eq!(declared["name"], input["name"], "{meta}");
            assert_eq!(declared["datatype"], input["datatype"], "{meta}");
            assert_eq!(declared["shape"][0], json!(-1), "{meta}");
        }
        for (out, spec) in r["outputs"].as_object().unwrap() {
            let declared = meta["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["name"] == json!(out))
                .unwrap_or_else(|| panic!("{name}: output {out} not declared: {meta}"));
            assert_eq!(declared["datatype"], spec["datatype"], "{name}/{out}");
        }

        let resp = http
            .post(s.url(&format!("/v2/models/{name}/infer")))
            .json(&r["request"])
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200, "{name}: {}", resp.text().unwrap());
        let got: Value = resp.json().unwrap();
        let outputs = r["outputs"].as_object().unwrap();
        assert_eq!(got["outputs"].as_array().unwrap().len(), outputs.len());
        for (out, want) in outputs {
            let g = got["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["name"] == json!(out))
                .unwrap_or_else(|| panic!("{name}: no output {out}"));
            total += compare(name, out, want, g);
        }
    }
    assert!(total >= 100 * names.len(), "compared only {total} values");

    let log = s.log();
    for needle in ["not an ONNX model", "no artifact 'model'"] {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
    for bad in BAD_GRAPHS {
        // The refusal carries the one line that says what to do.
        let line = log
            .lines()
            .find(|l| l.contains("refused") && l.contains(bad.name) && l.contains(bad.hint))
            .unwrap_or_else(|| panic!("{}: no refusal with {:?} in:\n{log}", bad.name, bad.hint));
        eprintln!("{}: {line}", bad.name);
        // The component's own reason is the refusal: the trap that ends a
        // `metadata` call (the WIT function has no error case) is not
        // worded as a crash.
        assert!(
            line.contains("the component refused to load: cannot serve this ONNX model")
                && !line.contains("trap"),
            "{line}"
        );
    }
    // The reason, not a Rust panic's location or a backtrace hint.
    for noise in ["backtrace", "panicked at", "RUST_BACKTRACE"] {
        assert!(!log.contains(noise), "{noise:?} in:\n{log}");
    }
    let refused = ["garbage", "no-artifact"]
        .into_iter()
        .chain(BAD_GRAPHS.iter().map(|b| b.name));
    for bad in refused {
        let status = http
            .get(s.url(&format!("/v2/models/{bad}/ready")))
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 404, "{bad} must not serve");
    }
}

/// A graph under tests/fixtures/onnx/ (made by its make_fixtures.py) that
/// the runner refuses, and the line that must say why.
struct BadGraph {
    name: &'static str,
    file: &'static str,
    hint: &'static str,
}

const BAD_GRAPHS: &[BadGraph] = &[
    BadGraph {
        name: "zipmap-inside",
        file: "zipmap-inside.onnx",
        hint: "operator ZipMap (ai.onnx.ml) in node 'zip' is not supported: re-export with \
               options={'zipmap': False} (skl2onnx)",
    },
    BadGraph {
        name: "unsupported-op",
        file: "unsupported-op.onnx",
        hint: "operator StringNormalizer (ai.onnx) in node 'normalize' is not supported by the \
               ONNX runner: export the model with the operators docs/onnx.md lists",
    },
];

fn tempfile_dir() -> edgeserve_test_support::tempfile::TempDir {
    edgeserve_test_support::tempfile::tempdir().unwrap()
}
