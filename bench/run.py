#!/usr/bin/env python3
"""edgeserve benchmark harness: one command, every number side by side.

    python3 bench/run.py            # full run (about 15 minutes)
    python3 bench/run.py --quick    # shorter runs, for a smoke check

It builds what it needs (host, native floor, load generator, example
components), installs MLServer + mlserver-sklearn into target/bench/mlserver-venv,
and measures on this machine, in turns:

  1. HTTP throughput and latency for Iris (OIP v2 JSON, batch 1) at
     concurrency 1, 16 and 64 against edgeserve and the native floor (in
     alternating rounds, three by default) and MLServer; plus edgeserve with
     binary tensors vs JSON at batch 64.
  1b. gRPC (`--only grpc`): edgeserve's gRPC endpoint against its REST one
     (JSON and binary tensors) on the same server, point by point, and
     MLServer's gRPC endpoint; Iris at batch 1 and 64, concurrency 1/16/64.
  2. p50/p99 in steady state vs while the primary version is swapped every
     second (failed requests must be zero).
  3. Cold start (process start to first prediction) with 1, 10 and 100
     models, without and with the AOT cache.
  4. RSS and p50 latency with 1, 100 and 1000 loaded versions, and the
     idle RSS with the examples loaded (first start and from the AOT cache).
  5. The cost of a policy chain: Iris alone vs Iris behind an API key and
     the four example policies (tenant access, input guard, PII redaction,
     response shaper).
  6. The cost of telemetry: metrics off and no prediction log, against
     metrics on with the prediction log at 100 % sampling (inputs too).

The server under test is pinned to CPU 0 and the load generator to CPU 1
(taskset), so the two do not starve each other. Results go to
target/bench/results.json; BENCHMARKS.md is written from them.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target")
WORK = os.path.join(TARGET, "bench")
EDGESERVE = os.path.join(TARGET, "release", "edgeserve")
FLOOR = os.path.join(TARGET, "release", "native-floor")
LOADGEN = os.path.join(TARGET, "release", "loadgen")
GUESTS = os.path.join(TARGET, "guests", "wasm32-wasip2", "release")
VENV = os.path.join(WORK, "mlserver-venv")

ROW = [5.1, 3.5, 1.4, 0.2]


def sh(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def json_body(batch):
    return json.dumps({"inputs": [{"name": "input", "shape": [batch, 4], "datatype": "FP32",
                                   "data": ROW * batch}]}).encode()


def binary_body(batch):
    import struct
    header = json.dumps({
        "inputs": [{"name": "input", "shape": [batch, 4], "datatype": "FP32",
                    "parameters": {"binary_data_size": batch * 16}}],
        "parameters": {"binary_data_output": True},
    }).encode()
    return header + struct.pack("<%df" % (batch * 4), *(ROW * batch)), len(header)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def build():
    sh(["rustup", "target", "add", "wasm32-wasip2"])
    sh(["cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path",
        "examples/Cargo.toml", "--target-dir", "target/guests"])
    sh(["cargo", "build", "--release", "-p", "edgeserve", "-p", "native-floor", "-p", "loadgen"])


def setup_mlserver():
    if not os.path.exists(os.path.join(VENV, "bin", "mlserver")):
        sh([sys.executable, "-m", "venv", VENV])
        sh([os.path.join(VENV, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
            "-r", os.path.join(ROOT, "bench", "requirements-mlserver.txt")])
    model_dir = os.path.join(WORK, "mlserver-models", "iris")
    os.makedirs(model_dir, exist_ok=True)
    train = ("import joblib; from sklearn.datasets import load_iris; "
             "from sklearn.linear_model import LogisticRegression; "
             "X, y = load_iris(return_X_y=True); "
             f"joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), {os.path.join(model_dir, 'model.joblib')!r})")
    sh([os.path.join(VENV, "bin", "python"), "-c", train])
    write(os.path.join(model_dir, "model-settings.json"), json.dumps({
        "name": "iris", "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "1"}}))
    return os.path.dirname(model_dir)


def repo_with(n_models, name="iris", guests=GUESTS):
    """A repository of `n_models` copies of Iris (its component from `guests`)."""
    d = tempfile.mkdtemp(prefix="edgeserve-bench-repo-", dir=WORK)
    manifest = open(os.path.join(ROOT, "examples", "iris", "manifest.toml")).read()
    for i in range(n_models):
        m = name if n_models == 1 else f"{name}{i}"
        vdir = os.path.join(d, m, "1")
        os.makedirs(vdir)
        shutil.copy(os.path.join(guests, "iris.wasm"), os.path.join(vdir, "model.wasm"))
        write(os.path.join(vdir, "manifest.toml"), manifest)
        shutil.copy(os.path.join(ROOT, "examples", "iris", "smoke.json"), vdir)
    return d


def stop_session(proc, timeout=20):
    """SIGTERM to the session `proc` leads (it and what it started), then
    SIGKILL after `timeout` seconds."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


class Server:
    """A server process pinned to CPU 0, with CPU time and peak RSS."""

    def __init__(self, cmd, port, ready_path, env=None):
        self.port = port
        # A session of its own, so every process it starts is counted.
        self.proc = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", ready_path)
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError(f"{cmd[0]} not ready")

    def pids(self):
        out = subprocess.run(["pgrep", "-s", str(self.proc.pid)], capture_output=True, text=True)
        return {int(p) for p in out.stdout.split()} | {self.proc.pid}

    def cpu_seconds(self):
        total = 0
        for pid in self.pids():
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except OSError:
                pass
        return total / os.sysconf("SC_CLK_TCK")

    def rss_kib(self, key="VmRSS"):
        total = 0
        for pid in self.pids():
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total

    def stop(self):
        stop_session(self.proc)


def load(port, path, body, concurrency, seconds, warmup, headers=(), scheme="http", env=None):
    with tempfile.NamedTemporaryFile(dir=WORK, delete=False) as f:
        f.write(body)
    try:
        out = subprocess.run(["taskset", "-c", "1", LOADGEN, f"{scheme}://127.0.0.1:{port}{path}", f.name,
                              str(concurrency), str(seconds), str(warmup)] + list(headers),
                             capture_output=True, text=True, check=True,
                             env=dict(os.environ, **(env or {})))
        return json.loads(out.stdout)
    finally:
        os.unlink(f.name)


def measure(server, path, body, concurrency, seconds, warmup, headers=(), grpc_port=None,
            scheme=None, env=None):
    cpu0 = server.cpu_seconds()
    if grpc_port:
        r = load(grpc_port, path, body, concurrency, seconds, warmup, headers, scheme="grpc", env=env)
    else:
        r = load(server.port, path, body, concurrency, seconds, warmup, headers, scheme=scheme or "http",
                 env=env)
    r["server_cpu_pct"] = 100 * (server.cpu_seconds() - cpu0) / (seconds + warmup)
    r["server_peak_rss_mib"] = server.rss_kib("VmHWM") / 1024
    return r


def start_edgeserve(repo, state_dir, extra=()):
    port = free_port()
    cmd = [EDGESERVE, "serve", "--repository", repo, "--listen", f"127.0.0.1:{port}",
           "--state-dir", state_dir] + list(extra)
    if "--admin-listen" not in extra:
        cmd += ["--no-admin"]
    env = dict(os.environ, EDGESERVE_LOG="warn")
    return Server(cmd, port, "/v2/health/ready", env)


def throughput(args, results):
    secs, warm = args.seconds, args.warmup
    out = results.setdefault("throughput", {})
    repo = repo_with(1)
    state = tempfile.mkdtemp(dir=WORK)
    path = "/v2/models/iris/infer"
    targets = [
        ("edgeserve", lambda: start_edgeserve(repo, state)),
        ("native floor", lambda: (lambda p: Server([FLOOR, f"127.0.0.1:{p}"], p, "/", None))(free_port())),
    ]
    # edgeserve and the floor take turns, round after round: the machine's
    # speed drifts over minutes, and a ratio of two runs far apart in time
    # moves with it. Each point keeps the round with the median req/s (its
    # latencies too) and every round's req/s.
    rounds = {}
    for rnd in range(args.rounds):
        for name, start in targets:
            server = start()
            try:
                for c in args.concurrency:
                    r = measure(server, path, json_body(1), c, secs, warm)
                    print(f"round {rnd + 1}: {name:13} c={c:<3} {r['rps']:9.0f} req/s  p50 {r['p50_us']} us  "
                          f"p99 {r['p99_us']} us  errors {r['errors']}", flush=True)
                    rounds.setdefault((name, c), []).append(r)
            finally:
                server.stop()
    for (name, c), runs in rounds.items():
        runs = sorted(runs, key=lambda r: r["rps"])
        best = dict(runs[len(runs) // 2])
        best["rounds_rps"] = [r["rps"] for r in rounds[(name, c)]]
        out.setdefault(name, {})[str(c)] = best
    if not args.no_mlserver:
        models = setup_mlserver()
        port = free_port()
        cmd = [os.path.join(VENV, "bin", "mlserver"), "start", models]
        env = dict(os.environ, MLSERVER_HTTP_PORT=str(port), MLSERVER_GRPC_PORT=str(free_port()),
                   MLSERVER_METRICS_PORT=str(free_port()), MLSERVER_PARALLEL_WORKERS="0")
        server = Server(cmd, port, "/v2/models/iris/ready", env)
        try:
            for c in args.concurrency:
                r = measure(server, path, json_body(1), c, secs, warm)
                print(f"MLServer      c={c:<3} {r['rps']:9.0f} req/s  p50 {r['p50_us']} us  p99 {r['p99_us']} us  "
                      f"errors {r['errors']}", flush=True)
                out.setdefault("MLServer", {})[str(c)] = r
        finally:
            server.stop()
    # Binary tensors vs JSON, batch 64, on edgeserve.
    server = start_edgeserve(repo, state)
    try:
        body, n = binary_body(64)
        for label, b, headers in [("json batch 64", json_body(64), ()),
                                  ("binary batch 64", body, (f"Inference-Header-Content-Length={n}",))]:
            r = measure(server, "/v2/models/iris/infer", b, 16, secs, warm, headers)
            print(f"edgeserve {label:16} c=16 {r['rps']:9.0f} req/s  p50 {r['p50_us']} us", flush=True)
            out.setdefault("edgeserve batch 64", {})[label] = r
    finally:
        server.stop()


def swaps(args, results):
    repo = repo_with(1)
    v2 = os.path.join(repo, "iris", "2")
    shutil.copytree(os.path.join(repo, "iris", "1"), v2)
    state = tempfile.mkdtemp(dir=WORK)
    admin_port = free_port()
    server = start_edgeserve(repo, state, ["--admin-listen", f"127.0.0.1:{admin_port}"])
    out = results.setdefault("swaps", {})
    try:
        out["steady"] = measure(server, "/v2/models/iris/infer", json_body(1), 16, args.seconds, args.warmup)
        import threading
        stop = threading.Event()
        count = [0]

        def swapper():
            v = 1
            while not stop.is_set():
                v = 3 - v
                c = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
                c.request("PUT", "/admin/v1/models/iris/primary", json.dumps({"version": str(v)}),
                          {"Content-Type": "application/json"})
                if c.getresponse().status == 200:
                    count[0] += 1
                stop.wait(1.0)

        t = threading.Thread(target=swapper)
        t.start()
        out["swapping"] = measure(server, "/v2/models/iris/infer", json_body(1), 16, args.seconds, args.warmup)
        stop.set()
        t.join()
        out["swaps"] = count[0]
    finally:
        server.stop()
    print(f"swaps: steady p50/p99 {out['steady']['p50_us']}/{out['steady']['p99_us']} us, while swapping "
          f"{out['swapping']['p50_us']}/{out['swapping']['p99_us']} us, {out['swaps']} swaps, "
          f"{out['swapping']['errors']} errors", flush=True)


def first_prediction_ms(repo, state, model):
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([EDGESERVE, "serve", "--repository", repo, "--listen", f"127.0.0.1:{port}",
                             "--no-admin", "--state-dir", state],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("POST", f"/v2/models/{model}/infer", json_body(1))
                if c.getresponse().status == 200:
                    return (time.perf_counter() - t0) * 1000
            except OSError:
                time.sleep(0.0005)
    finally:
        proc.terminate()
        proc.wait()


def cold_start(args, results):
    out = results.setdefault("cold_start", {})
    for n in (1, 10, 100):
        repo = repo_with(n)
        last = "iris" if n == 1 else f"iris{n - 1}"
        cold, warm = [], []
        for _ in range(args.repeats):
            state = tempfile.mkdtemp(dir=WORK)
            cold.append(first_prediction_ms(repo, state, last))
            warm.append(first_prediction_ms(repo, state, last))
            shutil.rmtree(state)
        out[str(n)] = {"no_aot_ms": sorted(cold)[len(cold) // 2], "aot_ms": sorted(warm)[len(warm) // 2]}
        print(f"cold start, {n} models: no AOT {out[str(n)]['no_aot_ms']:.0f} ms, "
              f"AOT {out[str(n)]['aot_ms']:.0f} ms", flush=True)
        shutil.rmtree(repo)


def scale(args, results):
    out = results.setdefault("scale", {})
    for n in (1, 100, 1000):
        repo = repo_with(n)
        state = tempfile.mkdtemp(dir=WORK)
        cfg = write(os.path.join(WORK, "scale.toml"), "[runtime]\ninstance_slots = 4000\n")
        # Fill the AOT cache first so the measured start is not all compiling.
        warmup = start_edgeserve(repo, state, ["--config", cfg])
        warmup.stop()
        server = start_edgeserve(repo, state, ["--config", cfg])
        try:
            model = "iris" if n == 1 else f"iris{n // 2}"
            r = measure(server, f"/v2/models/{model}/infer", json_body(1), 1, min(args.seconds, 5), 1)
            out[str(n)] = {"rss_mib": server.rss_kib() / 1024, "p50_us": r["p50_us"], "p99_us": r["p99_us"]}
        finally:
            server.stop()
        print(f"scale, {n} versions: RSS {out[str(n)]['rss_mib']:.0f} MiB, p50 {out[str(n)]['p50_us']} us",
              flush=True)
        shutil.rmtree(repo)
        shutil.rmtree(state)


def idle_rss(args, results):
    """RSS of a server with the examples loaded (Iris and sentiment, admin
    API on), 2 s after it is ready: on a first start (compiling) and on the
    next one (from the AOT cache)."""
    out = results.setdefault("idle_rss", {})
    repo = tempfile.mkdtemp(prefix="edgeserve-bench-examples-", dir=WORK)
    for model in ("iris", "sentiment"):
        vdir = os.path.join(repo, model, "1")
        os.makedirs(vdir)
        shutil.copy(os.path.join(GUESTS, f"{model}.wasm"), os.path.join(vdir, "model.wasm"))
        for f in ("manifest.toml", "smoke.json"):
            shutil.copy(os.path.join(ROOT, "examples", model, f), vdir)
    state = tempfile.mkdtemp(dir=WORK)
    for label in ("first start", "from AOT cache"):
        server = start_edgeserve(repo, state, ["--admin-listen", f"127.0.0.1:{free_port()}"])
        try:
            time.sleep(2)
            out[label] = {"rss_mib": server.rss_kib() / 1024}
        finally:
            server.stop()
        print(f"idle RSS, {label}: {out[label]['rss_mib']:.1f} MiB", flush=True)
    shutil.rmtree(repo)
    shutil.rmtree(state)


GRPC_INFER = "/inference.GRPCInferenceService/ModelInfer"


def grpc_body(batch, how="raw"):
    """An Iris ModelInferRequest, written by the load generator."""
    with tempfile.NamedTemporaryFile(dir=WORK, delete=False) as f:
        name = f.name
    subprocess.run([LOADGEN, "grpc-body", "iris", str(batch), how, name], check=True)
    body = open(name, "rb").read()
    os.unlink(name)
    return body


def grpc(args, results):
    """edgeserve gRPC (a connection per client, and all clients on one
    connection) vs edgeserve REST (JSON over HTTP/1.1 and over h2c, binary
    tensors) on the same server, point by point, and MLServer's gRPC
    endpoint: Iris, batch 1 and 64, concurrency 1/16/64."""
    secs, warm = args.seconds, args.warmup
    out = results.setdefault("grpc", {})
    repo = repo_with(1)
    state = tempfile.mkdtemp(dir=WORK)
    server = start_edgeserve(repo, state)
    try:
        for batch in (1, 64):
            binary, n = binary_body(batch)
            pb = grpc_body(batch)
            # (label, body, headers, scheme, loadgen environment): one
            # connection per client, except where the clients share one
            # HTTP/2 connection as a gRPC channel's calls do.
            runs = [
                ("edgeserve gRPC", pb, (), "grpc", None),
                ("edgeserve gRPC, one connection", pb, (), "grpc", {"LOADGEN_CONNECTIONS": "1"}),
                ("edgeserve REST JSON", json_body(batch), (), "http", None),
                ("edgeserve REST JSON over h2c", json_body(batch), (), "h2c", None),
                ("edgeserve REST binary", binary, (f"Inference-Header-Content-Length={n}",), "http", None),
            ]
            for c in args.concurrency:
                for label, body, headers, scheme, env in runs:
                    path = GRPC_INFER if scheme == "grpc" else "/v2/models/iris/infer"
                    r = measure(server, path, body, c, secs, warm, headers, scheme=scheme, env=env)
                    print(f"{label:30} batch {batch:<3} c={c:<3} {r['rps']:9.0f} req/s  p50 {r['p50_us']} us  "
                          f"p99 {r['p99_us']} us  errors {r['errors']}", flush=True)
                    out.setdefault(label, {})[f"{batch}/{c}"] = r
    finally:
        server.stop()
    if args.no_mlserver:
        return
    models = setup_mlserver()
    port, grpc_port = free_port(), free_port()
    cmd = [os.path.join(VENV, "bin", "mlserver"), "start", models]
    env = dict(os.environ, MLSERVER_HTTP_PORT=str(port), MLSERVER_GRPC_PORT=str(grpc_port),
               MLSERVER_METRICS_PORT=str(free_port()), MLSERVER_PARALLEL_WORKERS="0")
    server = Server(cmd, port, "/v2/models/iris/ready", env)
    try:
        for batch in (1, 64):
            # raw_input_contents, as tritonclient sends it; typed contents
            # if this MLServer cannot read raw ones.
            body = grpc_body(batch)
            if load(grpc_port, GRPC_INFER, body, 1, 1, 0, scheme="grpc")["requests"] == 0:
                body = grpc_body(batch, "typed")
                out.setdefault("notes", []).append(f"MLServer batch {batch}: typed fp32_contents")
            for c in args.concurrency:
                r = measure(server, GRPC_INFER, body, c, secs, warm, grpc_port=grpc_port)
                print(f"MLServer gRPC          batch {batch:<3} c={c:<3} {r['rps']:9.0f} req/s  p50 {r['p50_us']} us  "
                      f"p99 {r['p99_us']} us  errors {r['errors']}", flush=True)
                out.setdefault("MLServer gRPC", {})[f"{batch}/{c}"] = r
    finally:
        server.stop()


def side_by_side(args, out, what, runs):
    """Iris at concurrency 1 and 16 on each (label, repo, serve flags,
    loadgen headers) in turn; prints the second against the first."""
    for label, repo, extra, headers in runs:
        state = tempfile.mkdtemp(dir=WORK)
        server = start_edgeserve(repo, state, extra)
        try:
            for c in (1, 16):
                r = measure(server, "/v2/models/iris/infer", json_body(1), c, args.seconds, args.warmup, headers)
                print(f"{label:20} c={c:<3} {r['rps']:9.0f} req/s  p50 {r['p50_us']} us  p99 {r['p99_us']} us  "
                      f"errors {r['errors']}", flush=True)
                out.setdefault(label, {})[str(c)] = r
        finally:
            server.stop()
            shutil.rmtree(state)
    base, other = runs[0][0], runs[1][0]
    for c in ("1", "16"):
        a, b = out[base][c], out[other][c]
        print(f"{what} c={c}: +{b['p50_us'] - a['p50_us']} us p50, {b['rps'] / a['rps']:.2f}x req/s", flush=True)


POLICY_KEY = "bench-key-0123456789"

# The `[config]` of each example policy in the bench's chain (bench/callgrind.py
# counts the same policies with the same settings).
POLICY_CONFIG = {
    "tenant-access": {"allow.bench": "iris"},
    "input-guard": {"range.input": "0,100", "max_batch": "64"},
    "pii-redaction": {},
    "response-shaper": {"top_k": "2", "decimals": "3", "class_names": "setosa, versicolor, virginica"},
}


def policy_repo(guests=GUESTS):
    """Iris behind identity and the four example policies (components from
    `guests`): the repository, and the `serve` flags and loadgen headers to
    use with it."""
    chained = repo_with(1, guests=guests)
    for name, settings in POLICY_CONFIG.items():
        config = "\n".join(f'"{key}" = "{value}"' for key, value in settings.items())
        vdir = os.path.join(chained, name, "1")
        os.makedirs(vdir)
        shutil.copy(os.path.join(guests, name.replace("-", "_") + ".wasm"), os.path.join(vdir, "model.wasm"))
        write(os.path.join(vdir, "manifest.toml"),
              f'kind = "policy"\n[limits]\nmemory = "8MiB"\ndeadline = "50ms"\npool_size = 16\n[config]\n{config}\n')
    with open(os.path.join(chained, "iris", "1", "manifest.toml"), "a") as f:
        f.write('\n[[policies]]\npolicy = "input-guard"\nstages = ["request"]\n'
                '[[policies]]\npolicy = "pii-redaction"\nstages = ["response"]\n'
                '[[policies]]\npolicy = "response-shaper"\nstages = ["response"]\n')
    digest = subprocess.run([EDGESERVE, "hash-key"], input=POLICY_KEY + "\n", capture_output=True, text=True,
                            check=True).stdout.strip()
    cfg = os.path.join(chained, "edgeserve.toml")
    write(cfg, f'[[auth.api_keys]]\nname = "bench"\nsha256 = "{digest}"\ntenant = "bench"\n\n'
               f'[[policies]]\npolicy = "tenant-access"\nstages = ["request"]\n')
    return chained, ("--config", cfg), (f"X-Api-Key={POLICY_KEY}",)


def policies(args, results):
    """Iris with and without identity plus the four example policies."""
    out = results.setdefault("policies", {})
    plain = repo_with(1)
    chained, flags, headers = policy_repo()
    side_by_side(args, out, "chain cost", [
        ("iris alone", plain, (), ()),
        ("iris + 4 policies", chained, flags, headers)])
    shutil.rmtree(plain)
    shutil.rmtree(chained)


def telemetry(args, results):
    """Iris with telemetry off, then metrics + prediction log at 100 %."""
    out = results.setdefault("telemetry", {})
    off = repo_with(1)
    on = repo_with(1)
    with open(os.path.join(on, "iris", "1", "manifest.toml"), "a") as f:
        f.write("\n[prediction_log]\nsample = 1.0\n")
    cfg_off = os.path.join(off, "edgeserve.toml")
    write(cfg_off, "[telemetry]\nmetrics = false\n")
    cfg_on = os.path.join(on, "edgeserve.toml")
    write(cfg_on, "[telemetry]\nmetrics = true\n")
    side_by_side(args, out, "telemetry cost", [
        ("telemetry off", off, ("--config", cfg_off), ()),
        ("metrics + log 100%", on, ("--config", cfg_on), ())])
    shutil.rmtree(off)
    shutil.rmtree(on)


SECTIONS = ["throughput", "grpc", "swaps", "cold_start", "idle_rss", "scale", "policies", "telemetry"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs (3 s, 1 repeat)")
    p.add_argument("--no-mlserver", action="store_true", help="skip MLServer")
    p.add_argument("--only", choices=SECTIONS, action="append")
    a = p.parse_args()
    a.seconds, a.warmup, a.repeats = (3, 1, 1) if a.quick else (10, 2, 5)
    a.rounds = 1 if a.quick else 3
    a.concurrency = [1, 16, 64]
    os.makedirs(WORK, exist_ok=True)
    build()
    path = os.path.join(WORK, "results.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    results["machine"] = {"cpus": os.cpu_count(), "uname": " ".join(os.uname()),
                          "date": time.strftime("%Y-%m-%d")}
    for name in a.only or SECTIONS:
        globals()[name](a, results)
        write(path, json.dumps(results, indent=2))
    print(f"results in {path}")


if __name__ == "__main__":
    main()
