#!/usr/bin/env python3
"""Cold start: process start to the first successful Iris prediction, with an
empty AOT cache (compile) and with a warm one.

Usage: python3 bench/cold_start.py [runs]   (needs target/model-repository,
which scripts/serve-examples lays out, and target/release/edgeserve)
"""

import http.client
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
BODY = json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]})


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cold_start(state_dir):
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["target/release/edgeserve", "serve", "--repository", "target/model-repository",
         "--listen", f"127.0.0.1:{port}", "--no-admin", "--state-dir", state_dir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", "/v2/models/iris/infer", BODY)
                if conn.getresponse().status == 200:
                    return (time.perf_counter() - t0) * 1000
            except OSError:
                time.sleep(0.0005)
    finally:
        proc.terminate()
        proc.wait()


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


cold, warm = [], []
for _ in range(runs):
    d = tempfile.mkdtemp()
    cold.append(cold_start(d))   # empty cache: compiles, fills the cache
    warm.append(cold_start(d))   # the same state folder: loads from the cache
    shutil.rmtree(d)
print(f"start to first Iris prediction (2 example models), median of {runs}: "
      f"no AOT cache {median(cold):.0f} ms, with AOT cache {median(warm):.0f} ms")
