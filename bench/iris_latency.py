#!/usr/bin/env python3
"""Single-request latency of the Iris model over one keep-alive connection.

Usage: python3 bench/iris_latency.py [host:port] [requests]
Standard library only; prints p50/p90/p99 in microseconds.
"""

import http.client
import json
import sys
import time

addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8080"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
host, port = addr.rsplit(":", 1)
body = json.dumps(
    {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}
)
conn = http.client.HTTPConnection(host, int(port))
times = []
for i in range(n + 500):
    t = time.perf_counter()
    conn.request("POST", "/v2/models/iris/infer", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    if resp.status != 200:
        sys.exit(f"HTTP {resp.status}")
    if i >= 500:  # warm-up
        times.append(time.perf_counter() - t)
times.sort()
pct = lambda p: times[min(len(times) - 1, int(p / 100 * len(times)))] * 1e6
print(f"iris single request, {n} requests, one connection: p50 {pct(50):.0f} us, p90 {pct(90):.0f} us, p99 {pct(99):.0f} us")
