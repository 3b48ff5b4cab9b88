"""The real tritonclient.http, unmodified and with its defaults, against edgeserve.

Run by cli/tests/tritonclient.rs with EDGESERVE_URL=host:port and
EDGESERVE_EXAMPLES=<repo>/examples. Exits non-zero on the first failure.
"""

import json
import os
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

URL = os.environ["EDGESERVE_URL"]
EXAMPLES = os.environ["EDGESERVE_EXAMPLES"]


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def main():
    client = httpclient.InferenceServerClient(url=URL)
    check(client.is_server_live(), "server live")
    check(client.is_server_ready(), "server ready")
    check(client.is_model_ready("iris"), "iris ready")
    check(client.is_model_ready("iris", "1"), "iris version 1 ready")
    check(not client.is_model_ready("no-such-model"), "unknown model not ready")
    meta = client.get_server_metadata()
    check("binary_tensor_data" in meta["extensions"], "server metadata lists binary_tensor_data")
    index = client.get_model_repository_index()
    check(
        {"name": "iris", "version": "1", "state": "READY"} in index
        and {"name": "sentiment", "version": "1", "state": "READY"} in index,
        f"repository index lists the examples: {index}",
    )
    mmeta = client.get_model_metadata("iris")
    check(mmeta["inputs"][0] == {"name": "input", "datatype": "FP32", "shape": [-1, 4]}, "iris metadata")

    ref = json.load(open(os.path.join(EXAMPLES, "iris", "reference.json")))
    x = np.array([r["input"] for r in ref["rows"]], dtype=np.float32)
    want_p = np.array([r["probabilities"] for r in ref["rows"]])
    want_l = [r["label"] for r in ref["rows"]]

    # Defaults: binary input, no outputs named (binary_data_output).
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    res = client.infer("iris", [inp])
    p = res.as_numpy("probabilities")
    labels = [b.decode() for b in res.as_numpy("label")]
    check(p.shape == (150, 3), "probabilities shape (binary)")
    check(np.allclose(p, want_p, rtol=1e-5, atol=1e-6), "probabilities match the reference (binary)")
    check(labels == want_l, "labels match the reference (binary)")

    # Named outputs, one binary and one JSON; JSON input; pinned version; request id.
    inp = httpclient.InferInput("input", [10, 4], "FP32")
    inp.set_data_from_numpy(x[:10], binary_data=False)
    outs = [
        httpclient.InferRequestedOutput("probabilities", binary_data=True),
        httpclient.InferRequestedOutput("label", binary_data=False),
    ]
    res = client.infer("iris", [inp], model_version="1", outputs=outs, request_id="req-7")
    check(res.get_response()["id"] == "req-7", "request id echoed")
    check(np.allclose(res.as_numpy("probabilities"), want_p[:10], rtol=1e-5, atol=1e-6), "mixed encodings")
    check([b.decode() if isinstance(b, bytes) else b for b in res.as_numpy("label")] == want_l[:10], "JSON labels")

    # BYTES input.
    sref = json.load(open(os.path.join(EXAMPLES, "sentiment", "reference.json")))
    rows = [r for r in sref["rows"] if r["text"]][:50]
    texts = np.array([r["text"].encode() for r in rows], dtype=np.object_)
    inp = httpclient.InferInput("text", [len(rows)], "BYTES")
    inp.set_data_from_numpy(texts)
    res = client.infer("sentiment", [inp])
    scores = res.as_numpy("scores")
    check(np.allclose(scores, np.array([r["scores"] for r in rows]), atol=1e-5), "sentiment scores (BYTES)")
    check([b.decode() for b in res.as_numpy("label")] == [r["label"] for r in rows], "sentiment labels")

    # Errors come back as InferenceServerException with the server's message.
    try:
        client.infer("no-such-model", [inp])
        check(False, "unknown model raises")
    except InferenceServerException as e:
        check("unknown model" in str(e), f"unknown model error: {e}")
    bad = httpclient.InferInput("input", [1, 3], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
    try:
        client.infer("iris", [bad])
        check(False, "bad shape raises")
    except InferenceServerException as e:
        check("shape" in str(e), f"bad shape error: {e}")
    print("all tritonclient checks passed")


if __name__ == "__main__":
    main()
