#!/usr/bin/env python3
"""Reference outputs for the ONNX examples, computed by onnxruntime.

    python tests/python/onnx_reference.py OUT_DIR

For each example under examples/onnx/, takes at least 100 rows of the real
data set it was trained on (bundled in scikit-learn), runs its model.onnx
with onnxruntime, and writes OUT_DIR/<name>.json:

    {"rows": N, "request": {OIP JSON infer request with all N rows},
     "outputs": {name: {"datatype": .., "shape": [..], "data": [flat]}}}

A ZipMap output (a list of {label: probability} maps, skl2onnx's default)
is written as the [N, classes] tensor the ONNX runner serves in its place,
columns in the maps' order.

cli/tests/onnx.rs sends the request to edgeserve and compares.
"""

import json
import os
import sys

import numpy as np
import onnxruntime as ort
from sklearn.datasets import (
    load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROWS = 200


def digits_images():
    return load_digits().data.astype(np.float32)[:ROWS].reshape(-1, 1, 8, 8)


def diabetes_columns():
    """The columns of examples/onnx/train.py's diabetes_frame, one [N, 1]
    input each."""
    x = load_diabetes().data[:ROWS]
    age, sex, bmi, bp, s5 = x[:, 0], x[:, 1], x[:, 2], x[:, 3], x[:, 8]
    groups = np.array(["young", "middle", "senior"], dtype=object)
    column = lambda v: v.reshape(-1, 1)
    return {
        "bmi": column(bmi.astype(np.float32)),
        "bp": column(bp.astype(np.float32)),
        "s5": column(s5.astype(np.float32)),
        "sex": column(np.where(sex > 0, "male", "female").astype(object)),
        "age_group": column(groups[np.digitize(age, [-0.03, 0.03])]),
    }


def single(name, load):
    return lambda: {name: load()}


def diabetes():
    return load_diabetes().data.astype(np.float32)[:ROWS]


# example -> its inputs: {input name: rows of real data}
DATA = {
    "iris-logreg": single("input", lambda: load_iris().data.astype(np.float32)),
    "wine-forest": single("input", lambda: load_wine().data.astype(np.float32)),
    "cancer-boosting": single(
        "input", lambda: load_breast_cancer().data.astype(np.float32)[:ROWS]),
    "digits-mlp": single("input", lambda: load_digits().data.astype(np.float32)[:ROWS]),
    "digits-cnn": single("image", digits_images),
    "iris-svc": single("input", lambda: load_iris().data.astype(np.float32)),
    "wine-svc": single("input", lambda: load_wine().data.astype(np.float32)),
    "iris-zipmap": single("input", lambda: load_iris().data.astype(np.float32)),
    "diabetes-trees": single("input", diabetes),
    "diabetes-forest": single("input", diabetes),
    "diabetes-svr": single("input", diabetes),
    "diabetes-linear": single("input", diabetes),
    "diabetes-categorical": diabetes_columns,
}

DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64", np.dtype(object): "BYTES"}


def unzip(value):
    """A ZipMap's list of maps as the [N, classes] tensor."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        keys = list(value[0])
        return np.array([[row[k] for k in keys] for row in value], dtype=np.float32)
    return np.asarray(value)


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
        inputs = DATA[name]()
        rows = {x.shape[0] for x in inputs.values()}
        assert len(rows) == 1 and min(rows) >= 100, name
        session = ort.InferenceSession(os.path.join(ROOT, "examples", "onnx", name, "model.onnx"))
        names = [o.name for o in session.get_outputs()]
        results = session.run(names, inputs)
        outputs = {}
        for out, value in zip(names, results):
            value = unzip(value)
            outputs[out] = {
                "datatype": DATATYPES[value.dtype],
                "shape": list(value.shape),
                "data": value.reshape(-1).tolist(),
            }
        request = {"inputs": [
            {
                "name": input_name, "shape": list(x.shape), "datatype": DATATYPES[x.dtype],
                "data": x.reshape(-1).tolist(),
            }
            for input_name, x in inputs.items()
        ]}
        n = rows.pop()
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump({"rows": int(n), "request": request, "outputs": outputs}, f)
        print(f"{name}: {n} rows, inputs {list(inputs)}, outputs {names}")


if __name__ == "__main__":
    main(sys.argv[1])
