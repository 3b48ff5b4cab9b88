//! Helpers shared by the ONNX and Python-model end-to-end tests.

#![allow(dead_code, reason = "each test file uses a part")]

use std::path::PathBuf;
use std::process::Command;

use edgeserve_test_support::repo_root;

/// Creates (once, and again when `tests/python/requirements-onnx.txt`
/// changes) the virtual environment `target/py-onnx` with onnxruntime,
/// scikit-learn, skl2onnx and componentize-py, and returns its interpreter.
pub(crate) fn onnx_python() -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = repo_root();
    let venv = root.join("target").join("py-onnx");
    let reqs = root.join("tests/python/requirements-onnx.txt");
    let wanted = std::fs::read_to_string(&reqs).expect("tests/python/requirements-onnx.txt");
    let stamp = venv.join(".edgeserve-requirements");
    let python = venv.join("bin").join("python");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && python.exists() {
        return python;
    }
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 is needed for the ONNX and Python-model tests")
        .success();
    assert!(ok, "python3 -m venv failed");
    let ok = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&reqs)
        .status()
        .expect("pip")
        .success();
    assert!(ok, "pip install -r {} failed", reqs.display());
    std::fs::write(&stamp, wanted).expect("write the requirements stamp");
    python
}

/// The `bin` folder of [`onnx_python`]'s environment (for `componentize-py`).
pub(crate) fn onnx_bin() -> PathBuf {
    onnx_python()
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}
