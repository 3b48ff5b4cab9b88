#!/usr/bin/env python3
"""Renders the results tables of BENCHMARKS.md from target/bench/results.json.

Usage: python3 bench/report.py [results.json]   (prints Markdown)
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "bench", "results.json")
r = json.load(open(path))
out = []
p = out.append

m = r.get("machine", {})
p(f"Machine: {m.get('cpus')} CPUs, `{m.get('uname', '')}`, {m.get('date', '')}.\n")

t = r.get("throughput", {})
if t:
    p("### HTTP throughput and latency: Iris, OIP v2 JSON, batch 1\n")
    p("| target | concurrency | req/s | p50 µs | p99 µs | p99.9 µs | errors | server CPU % | server peak RSS MiB |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("edgeserve", "native floor", "MLServer"):
        for c, x in sorted(t.get(name, {}).items(), key=lambda kv: int(kv[0])):
            p(f"| {name} | {c} | {x['rps']:.0f} | {x['p50_us']} | {x['p99_us']} | {x['p999_us']} | "
              f"{x['errors']} | {x['server_cpu_pct']:.0f} | {x['server_peak_rss_mib']:.0f} |")
    p("")
    p("| concurrency | edgeserve / native req/s | per round | edgeserve / native p99 | edgeserve / MLServer req/s |")
    p("|---:|---:|---|---:|---:|")
    for c in sorted(t.get("edgeserve", {}), key=int):
        e, n, ml = t["edgeserve"][c], t.get("native floor", {}).get(c), t.get("MLServer", {}).get(c)
        rn = f"{e['rps'] / n['rps']:.2f}" if n else "-"
        pn = f"{e['p99_us'] / n['p99_us']:.2f}" if n else "-"
        rm = f"{e['rps'] / ml['rps']:.0f}x" if ml else "-"
        per = ", ".join(f"{a / b:.2f}" for a, b in zip(e.get("rounds_rps", []), (n or {}).get("rounds_rps", [])))
        p(f"| {c} | {rn} | {per or '-'} | {pn} | {rm} |")
    p("")
    b = t.get("edgeserve batch 64", {})
    if b:
        p("### edgeserve, batch 64, concurrency 16: binary tensors vs JSON\n")
        p("| encoding | req/s | rows/s | p50 µs | p99 µs |")
        p("|---|---:|---:|---:|---:|")
        for label, x in b.items():
            p(f"| {label} | {x['rps']:.0f} | {x['rps'] * 64:.0f} | {x['p50_us']} | {x['p99_us']} |")
        p("")

g = r.get("grpc", {})
if g:
    p("### gRPC: edgeserve gRPC vs REST on the same server, and MLServer's gRPC endpoint (Iris)\n")
    p("| target | batch | concurrency | req/s | rows/s | p50 µs | p99 µs | errors | server CPU % |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    names = ("edgeserve gRPC", "edgeserve gRPC, one connection", "edgeserve REST JSON",
             "edgeserve REST JSON over h2c", "edgeserve REST binary", "MLServer gRPC")
    for name in names:
        for key, x in g.get(name, {}).items():
            batch, c = key.split("/")
            p(f"| {name} | {batch} | {c} | {x['rps']:.0f} | {x['rps'] * int(batch):.0f} | {x['p50_us']} | "
              f"{x['p99_us']} | {x['errors']} | {x['server_cpu_pct']:.0f} |")
    p("")
    p("| batch | concurrency | gRPC / REST JSON | gRPC / REST binary | REST over h2c / REST | gRPC one connection / REST JSON | gRPC / MLServer gRPC |")
    p("|---:|---:|---:|---:|---:|---:|---:|")
    for key, x in g.get("edgeserve gRPC", {}).items():
        batch, c = key.split("/")
        def ratio(a, b):
            a, b = g.get(a, {}).get(key, {}), g.get(b, {}).get(key, {})
            return f"{a['rps'] / b['rps']:.2f}" if a.get("rps") and b.get("rps") else "-"
        p(f"| {batch} | {c} | {ratio('edgeserve gRPC', 'edgeserve REST JSON')} | "
          f"{ratio('edgeserve gRPC', 'edgeserve REST binary')} | "
          f"{ratio('edgeserve REST JSON over h2c', 'edgeserve REST JSON')} | "
          f"{ratio('edgeserve gRPC, one connection', 'edgeserve REST JSON')} | "
          f"{ratio('edgeserve gRPC', 'MLServer gRPC')} |")
    for note in g.get("notes", []):
        p(f"\n{note}.")
    p("")

s = r.get("swaps")
if s:
    p("### Deploy under load: concurrency 16, primary swapped every second\n")
    p("| phase | req/s | p50 µs | p99 µs | failed requests |")
    p("|---|---:|---:|---:|---:|")
    for k in ("steady", "swapping"):
        x = s[k]
        p(f"| {k} | {x['rps']:.0f} | {x['p50_us']} | {x['p99_us']} | {x['errors']} |")
    p(f"\n{s['swaps']} swaps during the measured run; p99 while swapping / steady = "
      f"{s['swapping']['p99_us'] / s['steady']['p99_us']:.2f}.\n")

cs = r.get("cold_start")
if cs:
    p("### Cold start: process start to first successful prediction (median)\n")
    p("| models | no AOT cache ms | with AOT cache ms |")
    p("|---:|---:|---:|")
    for n, x in sorted(cs.items(), key=lambda kv: int(kv[0])):
        p(f"| {n} | {x['no_aot_ms']:.0f} | {x['aot_ms']:.0f} |")
    p("")

ir = r.get("idle_rss")
if ir:
    p("### Idle RSS: Iris and sentiment loaded, admin API on, 2 s after ready\n")
    p("| start | RSS MiB |")
    p("|---|---:|")
    for label, x in ir.items():
        p(f"| {label} | {x['rss_mib']:.1f} |")
    p("")

sc = r.get("scale")
if sc:
    p("### Scale: loaded versions (Iris copies, one warm instance each)\n")
    p("| versions | RSS MiB | p50 µs (concurrency 1) | p99 µs |")
    p("|---:|---:|---:|---:|")
    for n, x in sorted(sc.items(), key=lambda kv: int(kv[0])):
        p(f"| {n} | {x['rss_mib']:.0f} | {x['p50_us']} | {x['p99_us']} |")
    p("")

print("\n".join(out))
