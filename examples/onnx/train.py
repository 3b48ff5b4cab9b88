#!/usr/bin/env python3
"""Train the ONNX example models and write them as `examples/onnx/<name>/model.onnx`.

Run from the repository root (the same pinned packages as the test suite):

    python3 -m venv target/py-onnx
    target/py-onnx/bin/pip install -r tests/python/requirements-onnx.txt
    target/py-onnx/bin/python examples/onnx/train.py

Every data set is bundled inside scikit-learn (no download); every model is
deterministic (fixed random_state), so a rerun writes the same files.

| folder              | data (sklearn.datasets)  | model                                   | ONNX operators |
|---------------------|--------------------------|-----------------------------------------|----------------|
| iris-logreg         | load_iris (150 x 4)      | LogisticRegression, string labels       | LinearClassifier, Normalizer |
| wine-forest         | load_wine (178 x 13)     | StandardScaler + RandomForestClassifier | Scaler, TreeEnsembleClassifier |
| cancer-boosting     | load_breast_cancer (569 x 30) | GradientBoostingClassifier (binary) | TreeEnsembleClassifier (LOGISTIC) |
| digits-mlp          | load_digits (1797 x 64)  | StandardScaler + MLPClassifier (64-32)  | MatMul, Add, Relu, Softmax |
| digits-cnn          | load_digits as 1x8x8 images | a small CNN built with the `onnx` package | Conv, Relu, MaxPool, Flatten, Gemm, Softmax, ArgMax |
| iris-svc            | load_iris                | SVC (RBF kernel, probability=True), string labels | SVMClassifier (Platt scaling + coupling) |
| wine-svc            | load_wine                | StandardScaler + SVC (linear kernel, no probabilities) | Scaler, SVMClassifier, ArrayFeatureExtractor, Sum, ... |
| iris-zipmap         | load_iris                | SVC (cubic kernel), exported WITH skl2onnx's default ZipMap | SVMClassifier, ZipMap (stripped by the runner) |
| diabetes-trees      | load_diabetes (442 x 10) | GradientBoostingRegressor (50 trees)    | TreeEnsembleRegressor |
| diabetes-forest     | load_diabetes            | RandomForestRegressor (15 trees)        | TreeEnsembleRegressor |
| diabetes-svr        | load_diabetes            | StandardScaler + SVR (RBF kernel)       | Scaler, SVMRegressor |
| diabetes-linear     | load_diabetes            | Normalizer + LinearRegression           | Normalizer, LinearRegressor |
| diabetes-categorical | load_diabetes as a DataFrame with string columns | ColumnTransformer (SimpleImputer, StandardScaler, Binarizer, OneHotEncoder, OrdinalEncoder) + Ridge | Imputer, Scaler, Binarizer, OneHotEncoder, LabelEncoder, Concat, LinearRegressor |

The scikit-learn classifiers are exported with skl2onnx and `zipmap=False`
(plain tensors `label` and `probabilities`), except `iris-zipmap`: with
skl2onnx's default the probabilities come out of a ZipMap as a sequence of
maps, which the Open Inference Protocol cannot carry; the runner drops a
ZipMap that ends the graph and serves the probabilities tensor under the
ZipMap's output name (`output_probability`), so both exports serve.

The CNN: its convolution filters are fixed (identity, two Sobel edges, a
box blur), and its dense head (64 -> 32 -> 10) is an MLPClassifier trained
on the features that the convolution part computes, evaluated by
onnxruntime; the head's weights are then written into the graph as Gemm
initialisers. It stands in for a PyTorch export (same operators) without
a multi-gigabyte install.
"""

import os

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.base import is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.datasets import (
    load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine,
)
from sklearn.ensemble import (
    GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    Binarizer, Normalizer, OneHotEncoder, OrdinalEncoder, StandardScaler,
)
from sklearn.svm import SVC, SVR

HERE = os.path.dirname(os.path.abspath(__file__))
# Opsets that both tract and onnxruntime run.
OPSETS = {"": 17, "ai.onnx.ml": 3}
# IR version 8 (the one for opset 17): onnx 1.23 would write a newer one by
# default, which onnxruntime 1.31 refuses.
IR_VERSION = 8


def save(name: str, model: onnx.ModelProto) -> None:
    onnx.checker.check_model(model)
    path = os.path.join(HERE, name, "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    print(f"{path}: {os.path.getsize(path)} bytes")


def export(name: str, pipeline, x: np.ndarray, zipmap: bool = False) -> None:
    # Classifiers only take the zipmap option.
    options = {"zipmap": False} if is_classifier(pipeline) and not zipmap else None
    model = to_onnx(
        pipeline,
        x[:1].astype(np.float32),
        options=options,
        target_opset=OPSETS,
    )
    # One name for the input of every scikit-learn example.
    old = model.graph.input[0].name
    model.graph.input[0].name = "input"
    for node in model.graph.node:
        node.input[:] = ["input" if i == old else i for i in node.input]
    save(name, model)


def iris_logreg() -> None:
    data = load_iris()
    x, y = data.data.astype(np.float32), data.target_names[data.target]
    export("iris-logreg", LogisticRegression(max_iter=1000).fit(x, y), x)


def wine_forest() -> None:
    x, y = load_wine(return_X_y=True)
    x = x.astype(np.float32)
    model = make_pipeline(
        StandardScaler(),
        RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0),
    )
    export("wine-forest", model.fit(x, y), x)


def cancer_boosting() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    x = x.astype(np.float32)
    model = GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0)
    export("cancer-boosting", model.fit(x, y), x)


def iris_svc() -> None:
    data = load_iris()
    x, y = data.data.astype(np.float32), data.target_names[data.target]
    model = SVC(kernel="rbf", probability=True, random_state=0)
    export("iris-svc", model.fit(x, y), x)


def wine_svc() -> None:
    x, y = load_wine(return_X_y=True)
    x = x.astype(np.float32)
    model = make_pipeline(StandardScaler(), SVC(kernel="linear", C=0.5))
    export("wine-svc", model.fit(x, y), x)


def iris_zipmap() -> None:
    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    model = SVC(kernel="poly", degree=3, probability=True, random_state=0)
    export("iris-zipmap", model.fit(x, y), x, zipmap=True)


def diabetes() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_diabetes(return_X_y=True)
    return x.astype(np.float32), y


def diabetes_trees() -> None:
    x, y = diabetes()
    model = GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=0)
    export("diabetes-trees", model.fit(x, y), x)


def diabetes_forest() -> None:
    x, y = diabetes()
    model = RandomForestRegressor(n_estimators=15, max_depth=5, random_state=0)
    export("diabetes-forest", model.fit(x, y), x)


def diabetes_svr() -> None:
    x, y = diabetes()
    model = make_pipeline(StandardScaler(), SVR(kernel="rbf", C=50.0))
    export("diabetes-svr", model.fit(x, y), x)


def diabetes_linear() -> None:
    x, y = diabetes()
    model = make_pipeline(Normalizer(), LinearRegression())
    export("diabetes-linear", model.fit(x, y), x)


def diabetes_frame() -> pd.DataFrame:
    """The diabetes data as a data scientist's table: three numeric columns
    and two categorical ones as strings (tests/python/onnx_reference.py
    builds the same columns)."""
    x, _ = load_diabetes(return_X_y=True)
    age, sex, bmi, bp, s5 = x[:, 0], x[:, 1], x[:, 2], x[:, 3], x[:, 8]
    groups = np.array(["young", "middle", "senior"], dtype=object)
    return pd.DataFrame({
        "bmi": bmi.astype(np.float32),
        "bp": bp.astype(np.float32),
        "s5": s5.astype(np.float32),
        "sex": np.where(sex > 0, "male", "female").astype(object),
        "age_group": groups[np.digitize(age, [-0.03, 0.03])],
    })


def diabetes_categorical() -> None:
    frame, (_, y) = diabetes_frame(), load_diabetes(return_X_y=True)
    columns = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["bmi", "bp", "s5"]),
        ("high_bp", Binarizer(threshold=0.0), ["bp"]),
        ("sex", OneHotEncoder(), ["sex"]),
        ("age", OrdinalEncoder(categories=[["young", "middle", "senior"]]), ["age_group"]),
    ])
    model = make_pipeline(columns, Ridge(alpha=0.1)).fit(frame, y)
    # One graph input per column, named after it.
    save("diabetes-categorical", to_onnx(model, frame[:1], target_opset=OPSETS))


def digits_mlp() -> None:
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    model = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(32,), max_iter=500, random_state=0),
    )
    export("digits-mlp", model.fit(x, y), x)


def conv_part() -> tuple[list, list]:
    """Nodes and initialisers of the fixed convolution part: [N,1,8,8] -> [N,64]."""
    identity = np.zeros((3, 3), np.float32)
    identity[1, 1] = 1.0
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 4
    filters = np.stack([identity, sobel_x, sobel_x.T, np.full((3, 3), 1 / 9, np.float32)])
    w = numpy_helper.from_array(filters[:, None, :, :] / 16.0, "conv_w")  # pixels are 0..16
    b = numpy_helper.from_array(np.zeros(4, np.float32), "conv_b")
    nodes = [
        helper.make_node("Conv", ["image", "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["conv_relu"]),
        helper.make_node("MaxPool", ["conv_relu"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool"], ["features"], axis=1),
    ]
    return nodes, [w, b]


def image_input():
    return helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])


def digits_cnn() -> None:
    x, y = load_digits(return_X_y=True)
    images = x.astype(np.float32).reshape(-1, 1, 8, 8)
    nodes, inits = conv_part()
    features_out = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 64])
    part = helper.make_model(
        helper.make_graph(nodes, "conv", [image_input()], [features_out], inits),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=IR_VERSION,
    )
    features = ort.InferenceSession(part.SerializeToString()).run(None, {"image": images})[0]
    head = MLPClassifier(hidden_layer_sizes=(32,), max_iter=800, random_state=0)
    head.fit(features, y)
    (w1, w2), (b1, b2) = head.coefs_, head.intercepts_
    inits += [
        numpy_helper.from_array(w1.astype(np.float32), "fc1_w"),
        numpy_helper.from_array(b1.astype(np.float32), "fc1_b"),
        numpy_helper.from_array(w2.astype(np.float32), "fc2_w"),
        numpy_helper.from_array(b2.astype(np.float32), "fc2_b"),
    ]
    nodes += [
        helper.make_node("Gemm", ["features", "fc1_w", "fc1_b"], ["fc1"]),
        helper.make_node("Relu", ["fc1"], ["hidden"]),
        helper.make_node("Gemm", ["hidden", "fc2_w", "fc2_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10]),
    ]
    graph = helper.make_graph(nodes, "digits_cnn", [image_input()], outputs, inits)
    save("digits-cnn", helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=IR_VERSION
    ))
    accuracy = (head.predict(features) == y).mean()
    print(f"digits-cnn training accuracy {accuracy:.4f}")


if __name__ == "__main__":
    iris_logreg()
    wine_forest()
    cancer_boosting()
    digits_mlp()
    digits_cnn()
    iris_svc()
    wine_svc()
    iris_zipmap()
    diabetes_trees()
    diabetes_forest()
    diabetes_svr()
    diabetes_linear()
    diabetes_categorical()
