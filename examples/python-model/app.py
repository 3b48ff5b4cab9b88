"""A model written in pure Python for edgeserve: Iris species by nearest centroid.

Built into a WebAssembly component against edgeserve's `model` world with
componentize-py (see README.md beside this file):

    edgeserve build examples/python-model --out models

The class `Inference` implements the world's exported `inference`
interface: `metadata()` and `predict(request)`. In WIT 0.2 a tensor names
its spec by index (`spec` 0 is the first declared input or output) and
carries its data as one little-endian byte buffer; BYTES elements each
come after a 4-byte little-endian length. The standard library's `struct`
module converts them.

Errors: raise `Err(Error(ErrorKind.INVALID_INPUT, ...))` for a request the
model cannot take (HTTP 400); any other exception traps the instance, which
the host throws away and answers with a 500.
"""

import math
import struct

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config, logging
from wit_world.exports.inference import (
    Error,
    ErrorKind,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    Tensor,
    TensorSpec,
)
from wit_world.imports.types import Datatype

# Mean sepal length, sepal width, petal length, petal width (cm) of each
# species in the Iris data set bundled with scikit-learn (load_iris).
CENTROIDS = {
    "setosa": (5.006, 3.428, 1.462, 0.246),
    "versicolor": (5.936, 2.77, 4.26, 1.326),
    "virginica": (6.588, 2.974, 5.552, 2.026),
}
FEATURES = 4


def pack_bytes(element):
    """One BYTES element in the WIT 0.2 layout: its length, then itself."""
    return struct.pack("<I", len(element)) + element


def nearest(row):
    """The closest species and its Euclidean distance."""
    best = min(CENTROIDS.items(), key=lambda kv: math.dist(row, kv[1]))
    return best[0], math.dist(row, best[1])


class Inference(exports.Inference):
    def metadata(self) -> ModelMetadata:
        return ModelMetadata(
            name="iris-centroid",
            version="1",
            platform="python",
            inputs=[TensorSpec("input", Datatype.FP32, [-1, FEATURES])],
            outputs=[
                TensorSpec("label", Datatype.BYTES, [-1]),
                TensorSpec("distance", Datatype.FP32, [-1]),
            ],
        )

    def predict(self, request: InferenceRequest) -> InferenceResponse:
        params = {p.name: p.value.value for p in request.parameters or []}
        if params.get("explode"):
            # A bug in model code: not an Err, so the instance traps and
            # the host answers 500.
            raise RuntimeError("exploded on request")
        # The host has checked the request against metadata(): spec 0,
        # "input", is present and FP32 with a fitting shape.
        x = next((t for t in request.inputs if t.spec == 0), None)
        if x is None:
            raise Err(Error(ErrorKind.INVALID_INPUT, "input 'input' (FP32) is required"))
        values = struct.unpack(f"<{len(x.data) // 4}f", x.data)
        rows = [values[i : i + FEATURES] for i in range(0, len(values), FEATURES)]
        if any(not all(math.isfinite(v) for v in row) for row in rows):
            raise Err(Error(ErrorKind.INVALID_INPUT, "features must be finite numbers"))
        labels, distances = zip(*(nearest(r) for r in rows)) if rows else ((), ())
        if config.get("log_predictions") == "true":
            logging.log(logging.Level.INFO, f"{len(rows)} rows: {', '.join(labels)}")
        n = len(rows)
        return InferenceResponse(
            outputs=[
                Tensor(0, Datatype.BYTES, [n], b"".join(pack_bytes(l.encode()) for l in labels)),
                Tensor(1, Datatype.FP32, [n], struct.pack(f"<{n}f", *distances)),
            ],
            parameters=[],
        )
