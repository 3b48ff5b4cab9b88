#!/usr/bin/env python3
"""Soak: a million requests of mixed good and bad input through one node,
with its resident memory read at the start, the middle and the end.

    python3 bench/soak.py                 # 1,000,000 requests
    python3 bench/soak.py --requests 200000 --clients 3

It builds the host and the examples (as bench/run.py does), serves Iris and
Sentiment from one node (pinned to CPU 0, clients on CPU 1) with a small
`max_body` so oversized bodies are cheap to send, and sends, round robin
from several keep-alive clients:

  good: Iris JSON, Iris binary tensors, Sentiment BYTES, model metadata,
        readiness;
  bad:  malformed JSON, a wrong shape, a wrong datatype, an unknown model,
        an unknown route, a wrong method, a binary header that overruns
        the body, BYTES sent to an FP32 input, an oversized body (413).

Every answer's status is checked against the one its case expects. RSS is
read after a warm-up (start), at half way and at the end; the goal is that
the three are within 10 % of each other. Results go to
target/bench/soak.json and a table to standard output.
"""

import argparse
import json
import multiprocessing
import os
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the harness's build, server and repository helpers)

ROW = [5.1, 3.5, 1.4, 0.2]


def request(method, path, body=b"", headers=()):
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if method != "GET":
        head.append("Content-Type: application/json")
    head.append(f"Content-Length: {len(body)}")
    head.extend(f"{k}: {v}" for k, v in headers)
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def cases():
    """(name, raw request, expected status, weight)."""
    iris_json = json.dumps({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                                        "data": ROW * 2}]}).encode()
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 16}}],
                         "parameters": {"binary_data_output": True}}).encode()
    iris_bin = header + struct.pack("<4f", *ROW)
    sentiment = json.dumps({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                                        "data": ["a dull, boring mess", "brilliant and moving"]}]}).encode()
    wrong_shape = json.dumps({"inputs": [{"name": "input", "shape": [1, 5], "datatype": "FP32",
                                          "data": [1, 2, 3, 4, 5]}]}).encode()
    wrong_type = json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP33",
                                         "data": ROW}]}).encode()
    bytes_in = json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "BYTES",
                                       "data": ["a", "b", "c", "d"]}]}).encode()
    overrun = header + b"\x00" * 8
    big = json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                  "data": ROW, "pad": "x" * 70000}]}).encode()
    infer = "/v2/models/iris/infer"
    return [
        ("iris json", request("POST", infer, iris_json), 200, 6),
        ("iris binary", request("POST", infer, iris_bin,
                                [("Inference-Header-Content-Length", len(header))]), 200, 3),
        ("sentiment bytes", request("POST", "/v2/models/sentiment/infer", sentiment), 200, 2),
        ("metadata", request("GET", "/v2/models/iris"), 200, 1),
        ("ready", request("GET", "/v2/models/iris/ready"), 200, 1),
        ("malformed json", request("POST", infer, b'{"inputs": [{"name": '), 400, 1),
        ("wrong shape", request("POST", infer, wrong_shape), 400, 1),
        ("wrong datatype", request("POST", infer, wrong_type), 400, 1),
        ("bytes to fp32", request("POST", infer, bytes_in), 400, 1),
        ("binary overrun", request("POST", infer, overrun,
                                   [("Inference-Header-Content-Length", len(header))]), 400, 1),
        ("unknown model", request("POST", "/v2/models/irsi/infer", iris_json), 404, 1),
        ("unknown route", request("GET", "/v2/nothing/here"), 404, 1),
        ("wrong method", request("GET", infer), 405, 1),
        ("oversized body", request("POST", infer, big), 413, 1),
    ]


def read_response(sock, buf):
    """Reads one response; returns (status, close, leftover bytes)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, close = 0, False
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v)
        elif k == b"connection" and v.strip().lower() == b"close":
            close = True
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        rest += chunk
    return status, close, rest[length:]


def client(port, plan, start, count, out):
    """Sends `count` requests of `plan` from position `start`; puts per-case
    [sent, unexpected] counts and reconnects on `out`."""
    table = cases()
    stats = {name: [0, 0] for name, _, _, _ in table}
    reconnects = 0
    sock, buf = None, b""
    for i in range(count):
        name, raw, want, _ = table[plan[(start + i) % len(plan)]]
        for attempt in range(3):
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port))
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    buf = b""
                sock.sendall(raw)
                status, close, buf = read_response(sock, buf)
                break
            except OSError:
                # The server closes a connection whose body it refused
                # early (413); answer read or not, start a new one.
                if sock is not None:
                    sock.close()
                sock, status, close = None, None, False
                reconnects += 1
        stats[name][0] += 1
        if status != want:
            stats[name][1] += 1
        if close and sock is not None:
            sock.close()
            sock = None
    if sock is not None:
        sock.close()
    out.put((stats, reconnects))


def burst(port, plan, offset, n, clients):
    """`n` requests from `clients` processes; merged stats."""
    q = multiprocessing.Queue()
    counts = [n // clients + (1 if k < n % clients else 0) for k in range(clients)]
    starts = [offset + sum(counts[:k]) for k in range(clients)]
    procs = [multiprocessing.Process(target=client, args=(port, plan, starts[k], counts[k], q))
             for k in range(clients)]
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    merged, reconnects = {}, 0
    for stats, r in results:
        reconnects += r
        for name, (sent, bad) in stats.items():
            m = merged.setdefault(name, [0, 0])
            m[0] += sent
            m[1] += bad
    return merged, reconnects, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    os.makedirs(run.WORK, exist_ok=True)
    if not args.no_build:
        run.build()
    repo = run.repo_with(1)
    sentiment = os.path.join(repo, "sentiment", "1")
    os.makedirs(sentiment)
    import shutil
    shutil.copy(os.path.join(run.GUESTS, "sentiment.wasm"), os.path.join(sentiment, "model.wasm"))
    for f in ("manifest.toml", "smoke.json"):
        shutil.copy(os.path.join(run.ROOT, "examples", "sentiment", f), sentiment)
    state = tempfile.mkdtemp(prefix="edgeserve-soak-state-", dir=run.WORK)
    server = run.start_edgeserve(repo, state, ["--max-body", "64KiB"])
    plan = [i for i, c in enumerate(cases()) for _ in range(c[3])]
    try:
        warm, _, _ = burst(server.port, plan, 0, 20_000, args.clients)
        rss = [("start", 0, server.rss_kib() / 1024)]
        half = args.requests // 2
        t0 = time.time()
        totals, reconnects, sent = {}, 0, 0
        for label, n in (("middle", half), ("end", args.requests - half)):
            stats, r, done = burst(server.port, plan, sent, n, args.clients)
            sent += done
            reconnects += r
            for name, (s, b) in stats.items():
                t = totals.setdefault(name, [0, 0])
                t[0] += s
                t[1] += b
            rss.append((label, sent, server.rss_kib() / 1024))
        elapsed = time.time() - t0
        peak = server.rss_kib("VmHWM") / 1024
    finally:
        server.stop()
    base = rss[0][2]
    spread = (max(r for _, _, r in rss) - min(r for _, _, r in rss)) / base
    result = {
        "requests": sent,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(sent / elapsed),
        "rss_mib": {label: round(r, 1) for label, _, r in rss},
        "peak_rss_mib": round(peak, 1),
        "rss_spread": round(spread, 4),
        "flat_within_10pct": spread <= 0.10,
        "reconnects": reconnects,
        "cases": {name: {"sent": s, "unexpected_status": b} for name, (s, b) in totals.items()},
    }
    run.write(os.path.join(run.WORK, "soak.json"), json.dumps(result, indent=2))
    print(f"\n{sent} requests in {elapsed:.0f} s ({sent / elapsed:.0f}/s), {reconnects} reconnects")
    print(f"{'case':<18} {'sent':>9} {'unexpected':>10}")
    for name, (s, b) in totals.items():
        print(f"{name:<18} {s:>9} {b:>10}")
    print("RSS (MiB): " + ", ".join(f"{label} {r:.1f} (after {n})" for label, n, r in rss)
          + f"; peak {peak:.1f}; spread {100 * spread:.1f} %")
    bad = sum(b for _, b in totals.values())
    ok = bad == 0 and spread <= 0.10
    print("soak: " + ("PASS" if ok else "FAIL") + f" ({bad} unexpected statuses)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
