//! `edgeserve new model`: a project that `edgeserve build` turns into a
//! version folder, one template per language.

use std::path::{Path, PathBuf};

use super::build::{ProjectKind, default_manifest};
use super::{ScaffoldError, io};

/// The language of a new project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    /// A Rust crate on the guest SDK.
    Rust,
    /// A Python module for componentize-py.
    Python,
    /// A folder for an ONNX graph (served by the ONNX runner).
    Onnx,
}

/// A smoke test for the templates' `x` → `y` model.
const SMOKE: &str = r#"{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0, 2.5]}]}
"#;

const RUST_LIB: &str = r#"//! {name}: multiplies its input by `factor` (manifest [config], default 2).
//! Replace `predict` with your model.

use edgeserve_guest::{DataType, Error, Model, ModelInfo, Request, Response, Spec, config};

struct Scale;

impl Model for Scale {
    fn metadata() -> ModelInfo {
        // The build's identity, shown beside the served name and version.
        ModelInfo::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
            .input(Spec::new("x", DataType::Fp32, &[-1]))
            .output(Spec::new("y", DataType::Fp32, &[-1]))
    }

    fn predict(req: Request) -> Result<Response, Error> {
        let factor: f32 = config::parse_or("factor", 2.0)?;
        let x = req.tensor::<f32>("x")?;
        let y: Vec<f32> = x.data.iter().map(|v| v * factor).collect();
        Ok(Response::new().tensor("y", x.shape.clone(), y))
    }
}

edgeserve_guest::export_model!(Scale);
"#;

const PYTHON_APP: &str = r#""""{name}: multiplies its input by `factor` (manifest [config], default 2).

Replace `predict` with your model. Pure Python and its standard library
only: native extensions (NumPy, scikit-learn) do not run in the sandbox.
Build with: edgeserve build {name} --out models
"""

import struct

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config
from wit_world.exports.inference import (
    Error,
    ErrorKind,
    InferenceResponse,
    ModelMetadata,
    Tensor,
    TensorSpec,
)
from wit_world.imports.types import Datatype


class Inference(exports.Inference):
    def metadata(self):
        return ModelMetadata(
            name="{name}",
            version="1",
            platform="python",
            inputs=[TensorSpec("x", Datatype.FP32, [-1])],
            outputs=[TensorSpec("y", Datatype.FP32, [-1])],
        )

    def predict(self, request):
        # A tensor names its spec by index into metadata()'s lists (0 is
        # "x" here) and carries its data as little-endian bytes; the host
        # has checked it against the spec.
        x = next((t for t in request.inputs if t.spec == 0), None)
        if x is None:
            raise Err(Error(ErrorKind.INVALID_INPUT, "input 'x' (FP32) is required"))
        factor = float(config.get("factor") or 2.0)
        n = len(x.data) // 4
        y = [v * factor for v in struct.unpack(f"<{n}f", x.data)]
        out = Tensor(0, Datatype.FP32, x.shape, struct.pack(f"<{n}f", *y))
        return InferenceResponse(outputs=[out], parameters=[])
"#;

const ONNX_README: &str = r#"# {name}

Put your ONNX graph in this folder as `model.onnx` first; then build and check:

    edgeserve build {name} --out models
    edgeserve check models

`build` finds the ONNX runner component by itself when this edgeserve was
built in its checkout (`scripts/build-examples` builds both); otherwise
pass `--runner PATH/onnx_runner.wasm`. `check` prints the inputs and
outputs read from the graph: what a request must send.

From scikit-learn, export without ZipMap (tract and the inference protocol
need plain tensors):

    from skl2onnx import to_onnx
    onx = to_onnx(model, X[:1].astype("float32"), options={"zipmap": False},
                  target_opset={"": 17, "ai.onnx.ml": 3})
    open("{name}/model.onnx", "wb").write(onx.SerializeToString())

Add a `smoke.json` (an inference request) and `[smoke_test] request =
"smoke.json"` to manifest.toml to have every deploy try one request first.
"#;

/// The guest SDK in the edgeserve checkout this binary was built from.
fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
    std::fs::canonicalize(sdk).ok()
}

fn write(dir: &Path, file: &str, text: &str) -> Result<(), ScaffoldError> {
    let path = dir.join(file);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("create {}", parent.display())))?;
    }
    std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))
}

/// Creates `<parent>/<name>/` with a project in `lang`. `sdk` is the
/// guest SDK folder for Rust projects (default: the one in the checkout
/// this binary was built from).
pub(crate) fn new_model(
    lang: Lang,
    name: &str,
    parent: &Path,
    sdk: Option<&Path>,
) -> Result<PathBuf, ScaffoldError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(ScaffoldError::Project(format!(
            "'{name}' is not a valid model name (lowercase letters, digits, '-' and '_')"
        )));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Project(format!(
            "{} already exists",
            dir.display()
        )));
    }
    let fill = |t: &str| t.replace("{name}", name);
    match lang {
        Lang::Rust => {
            let sdk = sdk
                .and_then(|s| std::fs::canonicalize(s).ok())
                .or_else(default_sdk)
                .ok_or_else(|| {
                    ScaffoldError::Project(
                        "cannot find the edgeserve guest SDK; pass --sdk PATH/TO/edgeserve/guest-sdk"
                            .into(),
                    )
                })?;
            let cargo = format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = \
                 false\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nedgeserve-guest = \
                 {{ path = {:?} }}\n\n# A workspace of its own: it builds wherever it is.\n\
                 [workspace]\n\n[profile.release]\nopt-level = 3\nlto = true\ncodegen-units = \
                 1\nstrip = \"debuginfo\"\npanic = \"abort\"\n",
                sdk.display().to_string()
            );
            write(&dir, "Cargo.toml", &cargo)?;
            write(&dir, "src/lib.rs", &fill(RUST_LIB))?;
            write(&dir, "smoke.json", SMOKE)?;
            write(
                &dir,
                "manifest.toml",
                &default_manifest(ProjectKind::Rust, true),
            )?;
        }
        Lang::Python => {
            write(&dir, "app.py", &fill(PYTHON_APP))?;
            write(&dir, "smoke.json", SMOKE)?;
            write(
                &dir,
                "manifest.toml",
                &default_manifest(ProjectKind::Python, true),
            )?;
        }
        Lang::Onnx => {
            write(&dir, "README.md", &fill(ONNX_README))?;
            write(
                &dir,
                "manifest.toml",
                &default_manifest(ProjectKind::Onnx, false),
            )?;
        }
    }
    Ok(dir)
}
