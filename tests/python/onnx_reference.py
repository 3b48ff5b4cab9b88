#!/usr/bin/env python3
"""Reference outputs for the ONNX examples, computed by onnxruntime.

    python tests/python/onnx_reference.py OUT_DIR

For each example under examples/onnx/, takes at least 100 rows of the real
data set it was trained on (bundled in scikit-learn), runs its model.onnx
with onnxruntime, and writes OUT_DIR/<name>.json:

    {"rows": N, "request": {OIP JSON infer request with all N rows},
     "outputs": {name: {"datatype": .., "shape": [..], "data": [flat]}}}

cli/tests/onnx.rs sends the request to edgeserve and compares.
"""

import json
import os
import sys

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROWS = 200


def digits_images():
    return load_digits().data.astype(np.float32)[:ROWS].reshape(-1, 1, 8, 8)


# example -> (input name, rows of real data as float32)
DATA = {
    "iris-logreg": ("input", lambda: load_iris().data.astype(np.float32)),
    "wine-forest": ("input", lambda: load_wine().data.astype(np.float32)),
    "cancer-boosting": ("input", lambda: load_breast_cancer().data.astype(np.float32)[:ROWS]),
    "digits-mlp": ("input", lambda: load_digits().data.astype(np.float32)[:ROWS]),
    "digits-cnn": ("image", digits_images),
}

DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64", np.dtype(object): "BYTES"}


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    found = sorted(
        d for d in os.listdir(os.path.join(ROOT, "examples", "onnx"))
        if os.path.isfile(os.path.join(ROOT, "examples", "onnx", d, "model.onnx"))
    )
    missing = set(found) ^ set(DATA)
    if missing:
        sys.exit(f"examples and reference data disagree: {sorted(missing)}")
    for name in found:
        input_name, load = DATA[name]
        x = load()
        assert x.shape[0] >= 100, name
        session = ort.InferenceSession(os.path.join(ROOT, "examples", "onnx", name, "model.onnx"))
        names = [o.name for o in session.get_outputs()]
        results = session.run(names, {input_name: x})
        outputs = {}
        for out, value in zip(names, results):
            value = np.asarray(value)
            outputs[out] = {
                "datatype": DATATYPES[value.dtype],
                "shape": list(value.shape),
                "data": value.reshape(-1).tolist(),
            }
        request = {"inputs": [{
            "name": input_name, "shape": list(x.shape), "datatype": "FP32",
            "data": x.reshape(-1).tolist(),
        }]}
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump({"rows": int(x.shape[0]), "request": request, "outputs": outputs}, f)
        print(f"{name}: {x.shape[0]} rows, outputs {names}")


if __name__ == "__main__":
    main(sys.argv[1])
