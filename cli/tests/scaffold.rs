//! `edgeserve new model` and `edgeserve build`: a project in each language
//! is scaffolded, built into a model repository, and `edgeserve check`
//! accepts every version; missing tools are named with how to install them.

mod common;

use std::path::Path;
use std::process::Command;

use edgeserve_test_support::{components, repo_root, tempfile};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

fn edgeserve(args: &[&str], cwd: &Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env(
            "EDGESERVE_COMPONENTIZE_PY",
            common::onnx_bin().join("componentize-py"),
        )
        // Rust projects share the guest build cache of the test build.
        .env("CARGO_TARGET_DIR", repo_root().join("target/guests"))
        .env("EDGESERVE_LOG", "warn")
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
fn new_and_build_make_versions_that_check_accepts() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    for (lang, name) in [
        ("rust", "scale-rs"),
        ("python", "scale-py"),
        ("onnx", "iris-onnx"),
    ] {
        let (ok, text) = edgeserve(&["new", "model", "--lang", lang, name], dir);
        assert!(ok, "new --lang {lang}: {text}");
        if lang == "onnx" {
            // The graph comes first, and the next step says so.
            assert!(
                text.contains(
                    "next: put your graph in iris-onnx/model.onnx, then: edgeserve build"
                ),
                "{text}"
            );
        }
    }
    let (ok, text) = edgeserve(&["build", "iris-onnx", "--out", "models"], dir);
    assert!(!ok);
    assert!(
        text.contains("iris-onnx has no model.onnx yet: put your ONNX graph there as model.onnx"),
        "{text}"
    );
    // The ONNX project gets a graph, as a user would drop one in.
    std::fs::copy(
        repo_root().join("examples/onnx/iris-logreg/model.onnx"),
        dir.join("iris-onnx/model.onnx"),
    )
    .unwrap();
    for name in ["scale-rs", "scale-py"] {
        let (ok, text) = edgeserve(&["build", name, "--out", "models"], dir);
        assert!(ok, "build {name}: {text}");
    }
    // The runner is found without a flag: where the checkout's build puts
    // it, from the edgeserve binary's own folder.
    let (ok, text) = edgeserve(&["build", "iris-onnx", "--out", "models"], dir);
    assert!(ok, "build iris-onnx: {text}");
    let runner = components::ONNX_RUNNER;
    // A single .onnx file builds too, with a manifest made for it.
    let (ok, text) = edgeserve(
        &[
            "build",
            "iris-onnx/model.onnx",
            "--out",
            "models",
            "--name",
            "iris-file",
            "--version",
            "3",
            "--runner",
            runner,
        ],
        dir,
    );
    assert!(ok, "build model.onnx: {text}");
    let manifest = std::fs::read_to_string(dir.join("models/iris-file/3/manifest.toml")).unwrap();
    assert!(manifest.contains("model = \"model.onnx\""), "{manifest}");

    let (ok, text) = edgeserve(&["check", "models"], dir);
    assert!(ok, "check: {text}");
    for v in ["scale-rs@1", "scale-py@1", "iris-onnx@1", "iris-file@3"] {
        assert!(text.contains(&format!("ok    {v}")), "{v} in:\n{text}");
    }
    assert!(text.contains("4 version(s) checked, 0 failed"), "{text}");
}

#[test]
fn build_refuses_unknown_projects_and_names_a_missing_runner() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir(dir.join("empty")).unwrap();
    let (ok, text) = edgeserve(&["build", "empty"], dir);
    assert!(!ok);
    assert!(text.contains("is not a model project"), "{text}");
    assert!(text.contains("edgeserve new model"), "{text}");

    let graph = repo_root().join("examples/onnx/iris-logreg/model.onnx");
    let out = Command::new(BIN)
        .arg("build")
        .arg(&graph)
        .arg("--out")
        .arg(dir.join("models"))
        .env(
            "EDGESERVE_ONNX_RUNNER",
            dir.join("nowhere/onnx_runner.wasm"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let looked = format!(
        "looked for {}",
        dir.join("nowhere/onnx_runner.wasm").display()
    );
    assert!(stderr.contains(&looked), "{stderr}");
    assert!(stderr.contains("scripts/build-examples"), "{stderr}");
    assert!(stderr.contains("--runner PATH"), "{stderr}");

    // A graph the runner cannot run is refused by build at once, in one
    // line saying what to do; a trailing ZipMap is not a problem (the
    // runner strips it).
    for (fixture, want) in [
        (
            "tests/fixtures/onnx/zipmap-inside.onnx",
            "operator ZipMap (ai.onnx.ml) in node 'zip' is not supported: re-export with \
             options={'zipmap': False} (skl2onnx)",
        ),
        (
            "tests/fixtures/onnx/unsupported-op.onnx",
            "is not supported by the ONNX runner: export the model with the operators \
             docs/onnx.md lists",
        ),
    ] {
        let graph = repo_root().join(fixture);
        let (ok, text) = edgeserve(&["build", graph.to_str().unwrap(), "--out", "models"], dir);
        assert!(!ok, "{fixture}: {text}");
        assert!(text.contains(want), "{fixture}: {text}");
        assert_eq!(text.trim().lines().count(), 1, "one line: {text}");
    }
    let zipmap = repo_root().join("examples/onnx/iris-zipmap/model.onnx");
    let (ok, text) = edgeserve(&["build", zipmap.to_str().unwrap(), "--out", "models"], dir);
    assert!(ok, "{text}");

    let (ok, text) = edgeserve(&["new", "model", "--lang", "python", "Bad Name"], dir);
    assert!(!ok);
    assert!(text.contains("not a valid model name"), "{text}");
}
