//! A model written in pure Python (examples/python-model), built by
//! `edgeserve build` with componentize-py from PyPI, served end to end; an
//! exception in model code is a clean 500 and the next request is served.

mod common;

use std::path::Path;
use std::process::Command;

use edgeserve_test_support::{Server, repo_root, tempfile};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

/// Runs `edgeserve build` with componentize-py from the test environment.
fn build(project: &Path, out: &Path, name: &str) -> (bool, String) {
    let tool = common::onnx_bin().join("componentize-py");
    let out = Command::new(BIN)
        .arg("build")
        .arg(project)
        .arg("--out")
        .arg(out)
        .args(["--name", name])
        .env("EDGESERVE_COMPONENTIZE_PY", tool)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn python_model_serves_and_a_raising_model_is_a_500() {
    let repo = tempfile::tempdir().unwrap();
    let (ok, text) = build(
        &repo_root().join("examples/python-model"),
        repo.path(),
        "iris-py",
    );
    assert!(ok, "edgeserve build failed:\n{text}");
    for file in ["model.wasm", "manifest.toml", "smoke.json"] {
        assert!(repo.path().join("iris-py/1").join(file).is_file(), "{file}");
    }

    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let http = reqwest::blocking::Client::new();
    let meta: Value = http
        .get(s.url("/v2/models/iris-py"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(meta["platform"], "python", "{meta}");

    let infer = |body: Value| {
        let r = http
            .post(s.url("/v2/models/iris-py/infer"))
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let rows = json!([
        [5.1, 3.5, 1.4, 0.2],
        [6.0, 2.7, 4.3, 1.3],
        [6.7, 3.0, 5.6, 2.2]
    ]);
    let body =
        json!({"inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32", "data": rows}]});
    let (status, v) = infer(body.clone());
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["outputs"][0]["data"],
        json!(["setosa", "versicolor", "virginica"])
    );
    // The distance to the setosa centroid, computed here independently.
    let centroid = [5.006f64, 3.428, 1.462, 0.246];
    let row = [5.1f32, 3.5, 1.4, 0.2];
    let want: f64 = row
        .iter()
        .zip(centroid)
        .map(|(&a, b)| (f64::from(a) - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let got = v["outputs"][1]["data"][0].as_f64().unwrap();
    assert!((got - want).abs() < 1e-6, "distance {got}, want {want}");

    // Model code that raises: a 500 with a message, not a hung or dead server.
    let mut boom = body.clone();
    boom["parameters"] = json!({"explode": true});
    let (status, v) = infer(boom);
    assert!((500..600).contains(&status), "{status} {v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    let (status, v) = infer(body);
    assert_eq!(status, 200, "served again after the trap: {v}");
}

#[test]
fn build_says_how_to_install_componentize_py() {
    let out = tempfile::tempdir().unwrap();
    let result = Command::new(BIN)
        .arg("build")
        .arg(repo_root().join("examples/python-model"))
        .arg("--out")
        .arg(out.path())
        .env_remove("EDGESERVE_COMPONENTIZE_PY")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(
        stderr.contains("pip install componentize-py==0.25.1"),
        "{stderr}"
    );
}
