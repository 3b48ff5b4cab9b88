//! Helpers shared by the CLI's tests: the ONNX and Python-model
//! environments.

#![allow(dead_code, reason = "each test file uses a part")]

use std::path::PathBuf;

/// The virtual environment `target/py-onnx` with onnxruntime,
/// scikit-learn, skl2onnx and componentize-py (created once).
pub(crate) fn onnx_python() -> PathBuf {
    edgeserve_test_support::python_venv("py-onnx", "tests/python/requirements-onnx.txt")
}

/// The `bin` folder of [`onnx_python`]'s environment (for `componentize-py`).
pub(crate) fn onnx_bin() -> PathBuf {
    onnx_python()
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}
