#!/usr/bin/env python3
"""ONNX models through edgeserve, next to native tract and onnxruntime.

    python3 bench/onnx.py              # build, measure (about 15 minutes), print the tables
    python3 bench/onnx.py --no-build   # use what is already built
    python3 bench/onnx.py --quick      # 2-second load runs, 1 AOT repeat
    python3 bench/onnx.py --report     # print the tables from target/bench/onnx.json

Builds the host and the load generator, the ONNX runner twice (as shipped,
into target/guests, and with `-C target-feature=+simd128` into
target/guests-simd128) and the native timing tool `onnx-native` (the same
tract graphs and rewrites, outside the sandbox, into target/onnx-native).
Then, for every example in examples/onnx/ and for each runner build:

  * component size, artifact (model.onnx) size, AOT-cache entry size;
  * deploy time without the AOT cache (process start to
    /v2/models/<m>/ready with an empty --state-dir: compiling the runner,
    then the metadata call that parses the graph and the smoke test) and
    with it (the same state folder again: AOT load); both also as the
    server's own "models loaded" elapsed_ms;
  * p50/p99 per request over HTTP (OIP JSON, one row, concurrency 1),
    server pinned to CPU 0 and bench/loadgen to CPU 1, with the manifest's
    pooled isolation and with isolation = "fresh" (a new instance per
    request: it parses the graph again every time); plus the mean time in
    the component's predict function and in instantiation, from the
    server's own /metrics histograms (sum / count);
  * native tract (onnx-native, pinned to CPU 0) and onnxruntime
    (InferenceSession.run in a loop, one intra-op thread, pinned to CPU 0,
    in the target/py-onnx virtual environment of cli/tests/onnx.rs):
    load time and p50 per one-row call.

Every target gets the same input, one row: the example's smoke request with
value i of a numeric input replaced by (i % 7) * 0.5 (i % 7 for integers);
string inputs keep the smoke's values. The Iris example in Rust (examples/iris,
no tract) is measured the same way, as the HTTP + JSON + sandbox floor.
Results go to target/bench/onnx.json.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import free_port, sh, stop_session  # noqa: E402  (the shared harness helpers)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target")
WORK = os.path.join(TARGET, "bench")
OUT = os.path.join(WORK, "onnx.json")
EDGESERVE = os.path.join(TARGET, "release", "edgeserve")
LOADGEN = os.path.join(TARGET, "release", "loadgen")
NATIVE = os.path.join(TARGET, "onnx-native", "release", "onnx-native")
IRIS_WASM = os.path.join(TARGET, "guests", "wasm32-wasip2", "release", "iris.wasm")
RUNNERS = {
    "baseline": os.path.join(TARGET, "guests", "wasm32-wasip2", "release", "onnx_runner.wasm"),
    "simd128": os.path.join(TARGET, "guests-simd128", "wasm32-wasip2", "release", "onnx_runner.wasm"),
}
ONNX_PYTHON = os.path.join(TARGET, "py-onnx", "bin", "python")
EXAMPLES_DIR = os.path.join(ROOT, "examples", "onnx")


def build():
    sh(["cargo", "build", "--release", "-p", "edgeserve", "-p", "loadgen"])
    runner = ["cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path",
              "runners/onnx/Cargo.toml"]
    sh(runner + ["--target-dir", "target/guests"])
    env = dict(os.environ, CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128")
    sh(runner + ["--target-dir", "target/guests-simd128"], env=env)
    sh(["cargo", "build", "--release", "--manifest-path", "runners/onnx/Cargo.toml", "-p", "onnx-native",
        "--target-dir", "target/onnx-native"])
    if not os.path.exists(IRIS_WASM):
        sh(["cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path",
            "examples/Cargo.toml", "--target-dir", "target/guests", "-p", "iris"])


def examples():
    return sorted(d for d in os.listdir(EXAMPLES_DIR)
                  if os.path.isfile(os.path.join(EXAMPLES_DIR, d, "model.onnx")))


def synthetic(n):
    """The input onnx-native feeds: value i is (i % 7) * 0.5."""
    return [(i % 7) * 0.5 for i in range(n)]


def request_body(smoke_path):
    """The example's smoke request (names, one-row shapes) with synthetic
    numbers: value i of a float input is (i % 7) * 0.5, of an integer one
    i % 7; a BYTES input (a categorical column) keeps the smoke's strings."""
    req = json.load(open(smoke_path))
    for t in req["inputs"]:
        n = 1
        for d in t["shape"]:
            n *= d
        if t["datatype"].startswith("FP"):
            t["data"] = synthetic(n)
        elif t["datatype"].startswith(("INT", "UINT")):
            t["data"] = [i % 7 for i in range(n)]
        else:
            t["data"] = [t["data"][i % len(t["data"])] for i in range(n)]
    return json.dumps(req).encode()


def http_get(port, path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()


class Server:
    """`edgeserve serve` on a repository; times start to /ready."""

    def __init__(self, repo, state, ready_model, pin=None, admin=False):
        self.port = free_port()
        self.admin_port = free_port() if admin else None
        cmd = [EDGESERVE, "serve", "--repository", repo, "--listen", f"127.0.0.1:{self.port}",
               "--state-dir", state]
        cmd += ["--admin-listen", f"127.0.0.1:{self.admin_port}"] if admin else ["--no-admin"]
        if pin is not None:
            cmd = ["taskset", "-c", str(pin)] + cmd
        self.log = tempfile.NamedTemporaryFile(dir=WORK, prefix="onnx-server-", suffix=".log", delete=False)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log,
                                     env=dict(os.environ, EDGESERVE_LOG="info"), start_new_session=True)
        deadline = t0 + 600
        while True:
            try:
                if http_get(self.port, f"/v2/models/{ready_model}/ready")[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"edgeserve exited with {self.proc.returncode}: {self.log_text()}")
            refused = re.search(rf"refused what={re.escape(ready_model)}@.*", self.log_text())
            if refused:
                self.stop()
                raise RuntimeError(f"edgeserve refused {ready_model}: {refused.group(0)}")
            if time.perf_counter() > deadline:
                text = self.log_text()
                self.stop()
                raise RuntimeError(f"edgeserve not ready in 600 s: {text}")
            time.sleep(0.002)
        self.ready_ms = (time.perf_counter() - t0) * 1000
        text = self.log_text()
        m = re.search(r"models loaded.*?elapsed_ms=(\d+)|elapsed_ms=(\d+).*?models loaded", text)
        self.loaded_ms = int(m.group(1) or m.group(2)) if m else None
        self.compile = re.findall(r"compile=(\S+)", text)

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return re.sub(r"\x1b\[[0-9;]*m", "", f.read())

    def metrics(self):
        """{(metric, model): (sum, count)} of the call histograms."""
        _, body = http_get(self.admin_port, "/metrics")
        out = {}
        pat = re.compile(r'^edgeserve_(predict|instance_start)_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$')
        for line in body.decode().splitlines():
            m = pat.match(line)
            if not m:
                continue
            model = re.search(r'model="([^"]*)"', m.group(3)).group(1)
            s, c = out.get((m.group(1), model), (0.0, 0))
            if m.group(2) == "sum":
                s = float(m.group(4))
            else:
                c = int(float(m.group(4)))
            out[(m.group(1), model)] = (s, c)
        return out

    def stop(self):
        stop_session(self.proc, timeout=30)
        os.unlink(self.log.name)


def layout(repo, name, wasm, src_dir, isolation=None):
    """A version folder as the tests lay it out: the runner as model.wasm,
    the example's manifest, model.onnx (if any) and smoke.json."""
    vdir = os.path.join(repo, name, "1")
    os.makedirs(vdir)
    shutil.copy(wasm, os.path.join(vdir, "model.wasm"))
    manifest = open(os.path.join(src_dir, "manifest.toml")).read()
    if isolation:
        manifest, n = re.subn(r'(?m)^isolation = "\w+"', f'isolation = "{isolation}"', manifest)
        assert n == 1, "manifest without an isolation line"
    with open(os.path.join(vdir, "manifest.toml"), "w") as f:
        f.write(manifest)
    for file in ("model.onnx", "smoke.json"):
        if os.path.exists(os.path.join(src_dir, file)):
            shutil.copy(os.path.join(src_dir, file), vdir)


def loadgen(port, model, body, seconds, warmup):
    with tempfile.NamedTemporaryFile(dir=WORK, delete=False) as f:
        f.write(body)
    try:
        out = subprocess.run(["taskset", "-c", "1", LOADGEN, f"http://127.0.0.1:{port}/v2/models/{model}/infer",
                              f.name, "1", str(seconds), str(warmup)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout)
    finally:
        os.unlink(f.name)


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def deploy_times(args, name, wasm, src_dir):
    """Start to ready without, then with, the AOT cache (one model)."""
    repo = tempfile.mkdtemp(prefix="onnx-repo-", dir=WORK)
    state = tempfile.mkdtemp(prefix="onnx-state-", dir=WORK)
    layout(repo, name, wasm, src_dir)
    s = Server(repo, state, name)
    s.stop()
    cold = {"ready_ms": s.ready_ms, "loaded_ms": s.loaded_ms, "compile": s.compile}
    aot = []
    for _ in range(args.repeats):
        s = Server(repo, state, name)
        s.stop()
        aot.append({"ready_ms": s.ready_ms, "loaded_ms": s.loaded_ms, "compile": s.compile})
    out = {
        "no_aot": cold,
        "aot": aot,
        "aot_ready_ms": statistics.median(a["ready_ms"] for a in aot),
        "aot_loaded_ms": statistics.median(a["loaded_ms"] for a in aot if a["loaded_ms"] is not None),
        "aot_cache_bytes": dir_bytes(os.path.join(state, "aot")),
    }
    shutil.rmtree(repo)
    return out, state


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, body, {"Content-Type": "application/json"})
    r = c.getresponse()
    return r.status, r.read()


def agreement(port, model, ref):
    """Serves onnxruntime's reference rows; the largest relative difference
    of float outputs and the number of differing labels."""
    status, body = post(port, f"/v2/models/{model}/infer", json.dumps(ref["request"]).encode())
    if status != 200:
        return {"error": body.decode(errors="replace")}
    got = {o["name"]: o for o in json.loads(body)["outputs"]}
    worst, labels = 0.0, 0
    for name, want in ref["outputs"].items():
        for w, g in zip(want["data"], got[name]["data"]):
            if want["datatype"] == "FP32":
                worst = max(worst, abs(g - w) / max(abs(w), 1e-3))
            elif g != w:
                labels += 1
    return {"rows": ref["rows"], "max_rel_diff": worst, "label_mismatches": labels}


def serving(args, name, wasm, src_dir, state, body, ref=None):
    """p50 over HTTP, pooled and fresh, with in-server call times."""
    repo = tempfile.mkdtemp(prefix="onnx-repo-", dir=WORK)
    layout(repo, name, wasm, src_dir)
    fresh = name + "-fresh"
    layout(repo, fresh, wasm, src_dir, isolation="fresh")
    s = Server(repo, state, fresh, pin=0, admin=True)
    out = {}
    try:
        if ref:
            out["vs_onnxruntime"] = agreement(s.port, name, ref)
            print(f"  {name:16} vs onnxruntime: {out['vs_onnxruntime']}", flush=True)
        for model, label in ((name, "pooled"), (fresh, "fresh")):
            before = s.metrics()
            r = loadgen(s.port, model, body, args.seconds, args.warmup)
            after = s.metrics()
            for metric in ("predict", "instance_start"):
                s1, c1 = after.get((metric, model), (0.0, 0))
                s0, c0 = before.get((metric, model), (0.0, 0))
                if c1 > c0:
                    r[f"{metric}_mean_us"] = (s1 - s0) / (c1 - c0) * 1e6
            out[label] = r
            print(f"  {name:16} {label:6}: p50 {r['p50_us']} us, p99 {r['p99_us']} us, "
                  f"predict {r.get('predict_mean_us', 0):.1f} us, instantiate "
                  f"{r.get('instance_start_mean_us', 0):.1f} us, errors {r['errors']}", flush=True)
    finally:
        s.stop()
        shutil.rmtree(repo)
    return out


def native_tract(model_path, request_path, iterations, repeats):
    loads, p50s, p99s = [], [], []
    for _ in range(repeats):
        out = subprocess.run(["taskset", "-c", "0", NATIVE, model_path, "--request", request_path, str(iterations)],
                             capture_output=True, text=True, check=True).stdout
        loads.append(float(re.search(r"load \(parse \+ optimise\): ([\d.]+) ms", out).group(1)))
        m = re.search(r"p50 ([\d.]+) us, p99 ([\d.]+) us", out)
        p50s.append(float(m.group(1)))
        p99s.append(float(m.group(2)))
    return {"load_ms": statistics.median(loads), "p50_us": statistics.median(p50s),
            "p99_us": statistics.median(p99s)}


ORT_WORKER = "--ort-worker"


ORT_DTYPES = {"FP32": "float32", "FP64": "float64", "INT64": "int64", "INT32": "int32", "BYTES": "object"}


def ort_worker(model_path, request_path, iterations):
    """Runs inside target/py-onnx: onnxruntime load time and p50 per call on
    the request's inputs."""
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    t0 = time.perf_counter()
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t0) * 1000
    feed = {t["name"]: np.array(t["data"], dtype=ORT_DTYPES[t["datatype"]]).reshape(t["shape"])
            for t in json.load(open(request_path))["inputs"]}
    names = [o.name for o in sess.get_outputs()]
    for _ in range(200):
        sess.run(names, feed)
    times = []
    clock = time.perf_counter_ns
    for _ in range(iterations):
        t = clock()
        sess.run(names, feed)
        times.append(clock() - t)
    times.sort()
    print(json.dumps({"load_ms": load_ms, "p50_us": times[len(times) // 2] / 1e3,
                      "p99_us": times[len(times) * 99 // 100] / 1e3, "version": ort.__version__}))


def onnxruntime(model_path, request_path, iterations, repeats):
    runs = []
    for _ in range(repeats):
        out = subprocess.run(["taskset", "-c", "0", ONNX_PYTHON, os.path.abspath(__file__), ORT_WORKER,
                              model_path, request_path, str(iterations)], capture_output=True, text=True,
                             check=True)
        runs.append(json.loads(out.stdout))
    return {"load_ms": statistics.median(r["load_ms"] for r in runs),
            "p50_us": statistics.median(r["p50_us"] for r in runs),
            "p99_us": statistics.median(r["p99_us"] for r in runs), "version": runs[0]["version"]}


def measure(args):
    os.makedirs(WORK, exist_ok=True)
    results = {"machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname()),
                           "date": time.strftime("%Y-%m-%d")},
               "settings": {"seconds": args.seconds, "warmup": args.warmup, "aot_repeats": args.repeats,
                            "input": "one row, value i = (i % 7) * 0.5; strings from the smoke request"},
               "runner_bytes": {v: os.path.getsize(p) for v, p in RUNNERS.items() if os.path.exists(p)},
               "examples": {}}
    names = args.examples or examples()
    # onnxruntime's outputs on 150-200 real rows (the parity test's data),
    # to check that every runner build still agrees with it.
    refs = os.path.join(WORK, "onnx-reference")
    subprocess.run([ONNX_PYTHON, os.path.join(ROOT, "tests", "python", "onnx_reference.py"), refs],
                   check=True, stdout=subprocess.DEVNULL)
    # The floor: HTTP + JSON + sandbox with a hand-written Rust model.
    if os.path.exists(IRIS_WASM):
        print("iris (Rust, no tract): the HTTP + JSON + sandbox floor", flush=True)
        src = os.path.join(ROOT, "examples", "iris")
        deploy, state = deploy_times(args, "iris", IRIS_WASM, src)
        serve = serving(args, "iris", IRIS_WASM, src, state, request_body(os.path.join(src, "smoke.json")))
        shutil.rmtree(state)
        results["iris_rust"] = {"component_bytes": os.path.getsize(IRIS_WASM), "deploy": deploy, "serve": serve}
    for name in names:
        src = os.path.join(EXAMPLES_DIR, name)
        model = os.path.join(src, "model.onnx")
        body = request_body(os.path.join(src, "smoke.json"))
        request_path = os.path.join(WORK, f"onnx-request-{name}.json")
        with open(request_path, "wb") as f:
            f.write(body)
        ex = results["examples"].setdefault(name, {"artifact_bytes": os.path.getsize(model)})
        print(f"{name}: native tract, onnxruntime", flush=True)
        ex["native_tract"] = native_tract(model, request_path, args.iterations, 3)
        ex["onnxruntime"] = onnxruntime(model, request_path, args.iterations, 3)
        os.unlink(request_path)
        print(f"  native tract load {ex['native_tract']['load_ms']:.2f} ms p50 {ex['native_tract']['p50_us']:.1f} us;"
              f" onnxruntime load {ex['onnxruntime']['load_ms']:.2f} ms p50 {ex['onnxruntime']['p50_us']:.1f} us",
              flush=True)
        for variant, wasm in RUNNERS.items():
            if not os.path.exists(wasm):
                print(f"  (no {variant} runner at {wasm}; skipped)")
                continue
            print(f"{name} [{variant}]: deploy", flush=True)
            deploy, state = deploy_times(args, name, wasm, src)
            print(f"  no AOT cache: ready in {deploy['no_aot']['ready_ms']:.0f} ms "
                  f"(server: {deploy['no_aot']['loaded_ms']} ms, {deploy['no_aot']['compile']}); "
                  f"AOT: {deploy['aot_ready_ms']:.0f} ms (server: {deploy['aot_loaded_ms']} ms, "
                  f"{deploy['aot'][0]['compile']})", flush=True)
            ref = json.load(open(os.path.join(refs, f"{name}.json")))
            serve = serving(args, name, wasm, src, state, body, ref)
            shutil.rmtree(state)
            ex[variant] = {"component_bytes": os.path.getsize(wasm), "deploy": deploy, "serve": serve}
        with open(OUT, "w") as f:
            json.dump(results, f, indent=2)
    with open(OUT, "w") as f:
        json.dump(results, f, indent=2)
    print(f"results in {OUT}")
    return results


def mb(n):
    return f"{n / 1e6:.1f} MB"


def kb(n):
    return f"{n / 1e3:.1f} kB"


def report(r):
    """The tables of BENCHMARKS.md's "ONNX models" section."""
    rows = []
    print("| example | artifact | compile (no AOT cache), ms | AOT load, ms | edgeserve p50 pooled, µs | "
          "edgeserve p50 fresh, µs | predict in sandbox, µs | native tract p50, µs | onnxruntime p50, µs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, ex in r["examples"].items():
        b = ex.get("baseline")
        if not b:
            continue
        d, s = b["deploy"], b["serve"]
        print(f"| {name} | {kb(ex['artifact_bytes'])} | {d['no_aot']['ready_ms']:.0f} ({d['no_aot']['loaded_ms']}) | "
              f"{d['aot_ready_ms']:.0f} ({d['aot_loaded_ms']:.0f}) | {s['pooled']['p50_us']} | {s['fresh']['p50_us']} | "
              f"{s['pooled'].get('predict_mean_us', 0):.1f} | {ex['native_tract']['p50_us']:.1f} | "
              f"{ex['onnxruntime']['p50_us']:.1f} |")
        rows.append(name)
    if "iris_rust" in r:
        s = r["iris_rust"]["serve"]
        d = r["iris_rust"]["deploy"]
        print(f"| iris (Rust, no tract) | - | {d['no_aot']['ready_ms']:.0f} ({d['no_aot']['loaded_ms']}) | "
              f"{d['aot_ready_ms']:.0f} ({d['aot_loaded_ms']:.0f}) | {s['pooled']['p50_us']} | {s['fresh']['p50_us']} | "
              f"{s['pooled'].get('predict_mean_us', 0):.1f} | - | - |")
    print()
    print("| example | in-sandbox parse (fresh predict - pooled predict), µs | instantiate (fresh), µs | "
          "native tract load, ms | onnxruntime load, ms |")
    print("|---|---:|---:|---:|---:|")
    for name in rows:
        ex = r["examples"][name]
        s = ex["baseline"]["serve"]
        parse = s["fresh"].get("predict_mean_us", 0) - s["pooled"].get("predict_mean_us", 0)
        print(f"| {name} | {parse:.0f} | {s['fresh'].get('instance_start_mean_us', 0):.0f} | "
              f"{ex['native_tract']['load_ms']:.2f} | {ex['onnxruntime']['load_ms']:.2f} |")
    print()
    print("| example | runner | compile, ms | AOT load, ms | p50 pooled, µs | predict pooled, µs | "
          "p50 fresh, µs | in-sandbox parse, µs | vs onnxruntime: max rel. diff, label mismatches |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for name in rows:
        ex = r["examples"][name]
        for v in RUNNERS:
            if v not in ex:
                continue
            d, s = ex[v]["deploy"], ex[v]["serve"]
            parse = s["fresh"].get("predict_mean_us", 0) - s["pooled"].get("predict_mean_us", 0)
            a = s.get("vs_onnxruntime", {})
            agree = (f"{a['max_rel_diff']:.1e}, {a['label_mismatches']} labels differ ({a['rows']} rows)" if "rows" in a
                     else a.get("error", "-"))
            print(f"| {name} | {v} ({mb(ex[v]['component_bytes'])}) | {d['no_aot']['ready_ms']:.0f} | "
                  f"{d['aot_ready_ms']:.0f} | {s['pooled']['p50_us']} | {s['pooled'].get('predict_mean_us', 0):.1f} | "
                  f"{s['fresh']['p50_us']} | {parse:.0f} | {agree} |")
    print()
    for v, n in r.get("runner_bytes", {}).items():
        cache = next((ex[v]["deploy"]["aot_cache_bytes"] for ex in r["examples"].values() if v in ex), 0)
        print(f"runner {v}: component {mb(n)}, AOT-cache entry {mb(cache)}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == ORT_WORKER:
        ort_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2-second load runs, one AOT repeat")
    p.add_argument("--no-build", action="store_true", help="use the binaries already built")
    p.add_argument("--report", action="store_true", help="print the tables from target/bench/onnx.json")
    p.add_argument("examples", nargs="*", help="examples to measure (default: all of examples/onnx)")
    a = p.parse_args()
    if a.report:
        report(json.load(open(OUT)))
        return
    # tract creates (and drops) an anyhow error on every call of a tree
    # ensemble; with RUST_BACKTRACE=1 each one captures a backtrace, which
    # makes native tract 2.5-3.7x slower on the forest and boosting examples.
    # Nothing is measured with it set (guests never see the host's variables).
    for var in ("RUST_BACKTRACE", "RUST_LIB_BACKTRACE"):
        os.environ.pop(var, None)
    a.seconds, a.warmup, a.repeats, a.iterations = (2, 1, 1, 5000) if a.quick else (5, 1, 3, 20000)
    if not a.no_build:
        build()
    if not os.path.exists(ONNX_PYTHON):
        sys.exit(f"{ONNX_PYTHON} is missing: run `cargo test -p edgeserve --test onnx` once (it creates "
                 "target/py-onnx from tests/python/requirements-onnx.txt)")
    report(measure(a))


if __name__ == "__main__":
    main()
