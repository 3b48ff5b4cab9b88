"""The real tritonclient.grpc, unmodified and with its defaults, against edgeserve.

Run by cli/tests/grpc.rs with
  EDGESERVE_GRPC=host:port      the data port (gRPC and REST share it)
  EDGESERVE_EXAMPLES=<repo>/examples
  EDGESERVE_KEY, EDGESERVE_TRIAL_KEY   API keys of tenants 'acme' and 'trial'
  EDGESERVE_JWT_SECRET          the HS256 secret of [auth.jwt]
or, over TLS, EDGESERVE_TLS_CA, EDGESERVE_TLS_CERT and EDGESERVE_TLS_KEY (the
CA's certificate, and a client certificate and key it signed).
The server serves iris, sentiment, faulty (max_concurrency 1, deadline 2s),
guarded (iris behind the input-guard policy) and private (iris
behind tenant-access, which lets only tenant trial call it). Every error is
checked for its gRPC status and for the message REST gives for the same
request. Exits non-zero on the first failure.
"""

import base64
import hashlib
import hmac
import json
import os
import queue
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

URL = os.environ["EDGESERVE_GRPC"]
EXAMPLES = os.environ["EDGESERVE_EXAMPLES"]
KEY = {"x-api-key": os.environ.get("EDGESERVE_KEY", "")}
TRIAL = {"x-api-key": os.environ.get("EDGESERVE_TRIAL_KEY", "")}


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def jwt(claims):
    """An HS256 token signed with the server's secret."""

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    secret = os.environ["EDGESERVE_JWT_SECRET"].encode()
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def rest_error(model, body, headers):
    """The status and message REST gives for the same request."""
    req = urllib.request.Request(
        f"http://{URL}/v2/models/{model}/infer",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **headers},
        method="POST",
    )
    try:
        urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())["error"]
    return 200, None


def refused(call, status, what):
    """Runs `call`, which must fail with gRPC `status`; its message."""
    try:
        call()
    except InferenceServerException as e:
        check(e.status() == f"StatusCode.{status}", f"{what}: {e.status()} ({e.message()})")
        return e.message()
    check(False, f"{what}: no error")


def iris_input(rows):
    inp = grpcclient.InferInput("input", list(rows.shape), "FP32")
    inp.set_data_from_numpy(rows)
    return inp


def x_input(values):
    inp = grpcclient.InferInput("x", [len(values)], "FP32")
    inp.set_data_from_numpy(np.array(values, dtype=np.float32))
    return inp


def health_and_metadata(client):
    check(client.is_server_live(), "server live")
    check(client.is_server_ready(), "server ready")
    check(client.is_model_ready("iris", headers=KEY), "iris ready")
    check(client.is_model_ready("iris", "1", headers=KEY), "iris version 1 ready")
    check(not client.is_model_ready("no-such-model", headers=KEY), "unknown model not ready")
    check(not client.is_model_ready("iris", "9", headers=KEY), "unknown version not ready")
    meta = client.get_server_metadata(as_json=True)
    check(meta["name"] == "edgeserve" and "binary_tensor_data" in meta["extensions"], f"server metadata {meta}")
    mmeta = client.get_model_metadata("iris", headers=KEY, as_json=True)
    check(mmeta["versions"] == ["1"], f"iris versions {mmeta}")
    check(
        mmeta["inputs"][0] == {"name": "input", "datatype": "FP32", "shape": ["-1", "4"]},
        f"iris metadata {mmeta['inputs']}",
    )
    refused(lambda: client.get_model_metadata("iris"), "UNAUTHENTICATED", "metadata without a key")
    config = client.get_model_config("iris", headers=KEY, as_json=True)["config"]
    check(
        config["name"] == "iris"
        and config["input"] == [{"name": "input", "data_type": "TYPE_FP32", "dims": ["-1", "4"]}]
        and {"name": "label", "data_type": "TYPE_STRING", "dims": ["-1"]} in config["output"],
        f"model config {config}",
    )
    refused(lambda: client.get_model_config("irsi", headers=KEY), "NOT_FOUND", "config of an unknown model")
    index = client.get_model_repository_index(headers=TRIAL, as_json=True)["models"]
    check(
        index == [{"name": "iris", "version": "1", "state": "READY"}, {"name": "private", "version": "1", "state": "READY"}],
        f"the repository index lists what the caller may call: {index}",
    )


def infer_fp32_and_bytes(client):
    ref = json.load(open(os.path.join(EXAMPLES, "iris", "reference.json")))
    x = np.array([r["input"] for r in ref["rows"]], dtype=np.float32)
    want_p = np.array([r["probabilities"] for r in ref["rows"]])
    want_l = [r["label"] for r in ref["rows"]]
    res = client.infer("iris", [iris_input(x)], headers=KEY)
    check(res.as_numpy("probabilities").shape == (150, 3), "probabilities shape")
    check(np.allclose(res.as_numpy("probabilities"), want_p, rtol=1e-5, atol=1e-6), "FP32 matches the reference")
    check([b.decode() for b in res.as_numpy("label")] == want_l, "labels match the reference")
    resp = res.get_response()
    check(resp.model_name == "iris" and resp.model_version == "1", "model and version answered")

    outs = [grpcclient.InferRequestedOutput("label")]
    res = client.infer("iris", [iris_input(x[:10])], model_version="1", outputs=outs, request_id="req-7", headers=KEY)
    check(res.get_response().id == "req-7", "request id echoed")
    check(res.as_numpy("probabilities") is None, "only the requested output")
    check([b.decode() for b in res.as_numpy("label")] == want_l[:10], "pinned version, named output")

    # A bearer JWT in metadata, as well as an API key.
    token = jwt({"sub": "alice", "tenant": "acme", "exp": int(time.time()) + 300})
    res = client.infer("iris", [iris_input(x[:2])], headers={"authorization": f"Bearer {token}"})
    check(np.allclose(res.as_numpy("probabilities"), want_p[:2], rtol=1e-5, atol=1e-6), "JWT in metadata")

    sref = json.load(open(os.path.join(EXAMPLES, "sentiment", "reference.json")))
    rows = [r for r in sref["rows"] if r["text"]][:50]
    texts = np.array([r["text"].encode() for r in rows], dtype=np.object_)
    inp = grpcclient.InferInput("text", [len(rows)], "BYTES")
    inp.set_data_from_numpy(texts)
    res = client.infer("sentiment", [inp], headers=KEY)
    check(np.allclose(res.as_numpy("scores"), np.array([r["scores"] for r in rows]), atol=1e-5), "BYTES scores")
    check([b.decode() for b in res.as_numpy("label")] == [r["label"] for r in rows], "BYTES labels")


def errors(client):
    """Each status, with REST's message for the same request."""
    row = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
    iris_json = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}

    def same_as_rest(message, model, body, headers, status):
        code, text = rest_error(model, body, headers)
        check(code == status and text == message, f"REST says the same ({code}): {text!r} vs {message!r}")

    msg = refused(lambda: client.infer("irsi", [iris_input(row)], headers=KEY), "NOT_FOUND", "unknown model")
    check("did you mean 'iris'" in msg, f"suggests iris: {msg}")
    same_as_rest(msg, "irsi", iris_json, KEY, 404)
    refused(lambda: client.infer("iris", [iris_input(row)], model_version="9", headers=KEY), "NOT_FOUND", "unknown version")

    bad = np.zeros((1, 3), dtype=np.float32)
    msg = refused(lambda: client.infer("iris", [iris_input(bad)], headers=KEY), "INVALID_ARGUMENT", "bad shape")
    bad_json = {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [0, 0, 0]}]}
    same_as_rest(msg, "iris", bad_json, KEY, 400)

    msg = refused(lambda: client.infer("iris", [iris_input(row)]), "UNAUTHENTICATED", "no credentials")
    same_as_rest(msg, "iris", iris_json, {}, 401)
    msg = refused(
        lambda: client.infer("iris", [iris_input(row)], headers={"x-api-key": "not-a-key-0123456789"}),
        "UNAUTHENTICATED",
        "a wrong API key",
    )
    check("authentication failed" in msg, msg)
    forged = jwt({"sub": "mallory", "tenant": "acme", "exp": int(time.time()) + 300})[:-4] + "AAAA"
    refused(
        lambda: client.infer("iris", [iris_input(row)], headers={"authorization": f"Bearer {forged}"}),
        "UNAUTHENTICATED",
        "a forged JWT",
    )

    msg = refused(lambda: client.infer("sentiment", [iris_input(row)], headers=TRIAL), "PERMISSION_DENIED", "tenant rules")
    check("may not call model 'sentiment'" in msg, msg)

    # A policy denial: tenant-access lets only tenant trial call 'private'.
    msg = refused(lambda: client.infer("private", [iris_input(row)], headers=KEY), "PERMISSION_DENIED", "policy denial")
    check("tenant-access@1" in msg, msg)
    same_as_rest(msg, "private", iris_json, KEY, 403)
    # A policy's refusal of bad input: the input guard allows values in 0..10.
    big = np.array([[50.0, 3.5, 1.4, 0.2]], dtype=np.float32)
    msg = refused(lambda: client.infer("guarded", [iris_input(big)], headers=KEY), "INVALID_ARGUMENT", "input guard")
    check("input-guard@1" in msg, msg)
    big_json = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [50.0, 3.5, 1.4, 0.2]}]}
    same_as_rest(msg, "guarded", big_json, KEY, 400)

    # A trap in the sandbox: INTERNAL; the model's own deadline: DEADLINE_EXCEEDED.
    msg = refused(
        lambda: client.infer("faulty", [x_input([1.0])], headers=KEY, parameters={"mode": "panic"}),
        "INTERNAL",
        "a trapping model",
    )
    check("faulty@1" in msg, msg)
    msg = refused(
        lambda: client.infer("faulty", [x_input([1.0])], headers=KEY, parameters={"mode": "loop"}),
        "DEADLINE_EXCEEDED",
        "the model's deadline",
    )
    check("deadline" in msg, msg)

    # The quota: trial has a burst of 3 and almost no refill.
    for i in range(3):
        client.infer("iris", [iris_input(row)], headers=TRIAL)
    msg = refused(lambda: client.infer("iris", [iris_input(row)], headers=TRIAL), "RESOURCE_EXHAUSTED", "quota")
    check("over its request-rate quota" in msg, msg)
    same_as_rest(msg, "iris", iris_json, TRIAL, 429)

    # Still served after all of that.
    res = client.infer("iris", [iris_input(row)], headers=KEY)
    check(res.as_numpy("probabilities").shape == (1, 3), "others are still served")


def streaming(client):
    ref = json.load(open(os.path.join(EXAMPLES, "iris", "reference.json")))
    x = np.array([r["input"] for r in ref["rows"]], dtype=np.float32)
    want = [r["label"] for r in ref["rows"]]
    answers = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)), headers=KEY)

    # Several requests in flight on one stream, answered in order.
    n = 40
    for i in range(n):
        client.async_stream_infer("iris", [iris_input(x[i : i + 1])], request_id=str(i))
    # A refused request in the middle: its error, and the stream goes on.
    client.async_stream_infer("irsi", [iris_input(x[:1])], request_id="bad")
    for i in range(n, n + 10):
        client.async_stream_infer("iris", [iris_input(x[i : i + 1])], request_id=str(i))
    got = {}
    errors = []
    for _ in range(n + 11):
        result, error = answers.get(timeout=30)
        if error is not None:
            errors.append(error)
            continue
        resp = result.get_response()
        got[resp.id] = result.as_numpy("label")[0].decode()
    check(len(got) == n + 10 and all(got[str(i)] == want[i] for i in range(n + 10)), "50 stream answers match")
    check(len(errors) == 1 and "unknown model 'irsi'" in errors[0].message(), f"the refused one: {errors}")

    # Two in flight at once for a model that takes one at a time: the
    # second is refused busy while the first still runs.
    client.async_stream_infer("faulty", [x_input([1.0])], request_id="slow", parameters={"spin_ms": 1000})
    time.sleep(0.3)
    client.async_stream_infer("faulty", [x_input([2.0])], request_id="second")
    first, second = answers.get(timeout=30), answers.get(timeout=30)
    check(first[1] is None and first[0].as_numpy("y")[0] == 1.0, "the slow one answered")
    check(second[1] is not None and "at capacity" in second[1].message(), f"the second ran concurrently: {second[1]}")
    client.stop_stream()

    # UNAVAILABLE outside a stream too, for the same reason.
    def busy():
        client.async_infer(
            "faulty", [x_input([1.0])], callback=lambda r, e: None, headers=KEY, parameters={"spin_ms": 1000}
        )
        time.sleep(0.3)
        client.infer("faulty", [x_input([1.0])], headers=KEY)

    refused(busy, "UNAVAILABLE", "the concurrency limit")
    time.sleep(1.0)


def tls():
    """Over TLS (ALPN h2), the caller known by its client certificate."""
    ca, cert, key = (os.environ[f"EDGESERVE_TLS_{k}"] for k in ("CA", "CERT", "KEY"))
    row = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
    client = grpcclient.InferenceServerClient(
        url=URL, ssl=True, root_certificates=ca, private_key=key, certificate_chain=cert
    )
    check(client.is_server_ready(), "ready over TLS")
    res = client.infer("iris", [iris_input(row)])
    check(res.as_numpy("label")[0] == b"setosa", "scored over TLS as the certificate's tenant")
    client.close()
    anonymous = grpcclient.InferenceServerClient(url=URL, ssl=True, root_certificates=ca)
    refused(lambda: anonymous.infer("iris", [iris_input(row)]), "UNAUTHENTICATED", "no client certificate")
    anonymous.close()
    print("all tritonclient.grpc TLS checks passed")


def statistics(client):
    """Triton's statistics, from the counters the node keeps."""
    stats = client.get_inference_statistics("faulty", headers=KEY, as_json=True)["model_stats"]
    check(len(stats) == 1 and stats[0]["name"] == "faulty" and stats[0]["version"] == "1", f"one version: {stats}")
    inf = stats[0]["inference_stats"]
    ok, fail = inf["success"], inf.get("fail", {})
    check(int(ok["count"]) >= 1 and int(ok["ns"]) >= 1_000_000_000, f"the slow call counted with its second: {ok}")
    check(int(fail.get("count", 0)) >= 2 and int(fail.get("ns", 0)) > 0, f"the trap and the deadline counted: {fail}")
    check(int(stats[0]["last_inference"]) > (time.time() - 600) * 1000, f"last inference recent: {stats[0]}")
    every = client.get_inference_statistics(headers=TRIAL, as_json=True)["model_stats"]
    check(sorted(m["name"] for m in every) == ["iris", "private"], f"only what the caller may call: {every}")
    refused(lambda: client.get_inference_statistics("irsi", headers=KEY), "NOT_FOUND", "statistics of an unknown model")


def main():
    if os.environ.get("EDGESERVE_TLS_CA"):
        return tls()
    client = grpcclient.InferenceServerClient(url=URL)
    health_and_metadata(client)
    infer_fp32_and_bytes(client)
    errors(client)
    streaming(client)
    statistics(client)
    client.close()
    print("all tritonclient.grpc checks passed")


if __name__ == "__main__":
    main()
