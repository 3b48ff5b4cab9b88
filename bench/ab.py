#!/usr/bin/env python3
"""Two edgeserve builds, same machine, same minutes: Iris JSON batch 1 at
concurrency 1 and 16 (server on CPU 0, loadgen on CPU 1), alone and behind
identity plus the four example policies, the builds taking turns round
after round so the machine's drift hits both alike.

usage: bench/ab.py BEFORE_BINARY AFTER_BINARY [--before-guests DIR]
                   [--after-guests DIR] [--rounds N] [--seconds S]
                   [--binary-batch ROWS]

--binary-batch adds Iris alone with ROWS rows as binary tensor data (the
protocol's binary extension; 16 bytes a row), where copies of the data
show.

Each side serves the components in its guests directory (default: this
checkout's target/guests/wasm32-wasip2/release), so a change to the WIT
interface or the guest SDK is measured with the components each side was
built with. Prints each round and the medians' ratios (after / before)."""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--before-guests", default=run.GUESTS)
    p.add_argument("--after-guests", default=run.GUESTS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--binary-batch", type=int, default=0)
    a = p.parse_args()
    os.makedirs(run.WORK, exist_ok=True)
    if not os.path.exists(run.LOADGEN):
        run.sh(["cargo", "build", "--release", "-p", "loadgen"])
    sides = []
    for label, binary, guests in (("before", a.before, a.before_guests), ("after", a.after, a.after_guests)):
        run.EDGESERVE = binary
        chained, flags, headers = run.policy_repo(guests)
        sides.append((label, binary, [("alone", run.repo_with(1, guests=guests), (), ()),
                                      ("policies", chained, flags, headers)]))
    bodies = {"alone": [("json 1", run.json_body(1), ())], "policies": [("json 1", run.json_body(1), ())]}
    if a.binary_batch:
        body, n = run.binary_body(a.binary_batch)
        bodies["alone"].append((f"binary {a.binary_batch}", body, (f"Inference-Header-Content-Length={n}",)))
    rps, p50 = {}, {}
    for rnd in range(a.rounds):
        for label, binary, setups in sides:
            run.EDGESERVE = binary
            for setup, repo, flags, headers in setups:
                state = tempfile.mkdtemp(dir=run.WORK)
                server = run.start_edgeserve(repo, state, flags)
                try:
                    for case, body, extra in bodies[setup]:
                        for c in (1, 16):
                            r = run.measure(server, "/v2/models/iris/infer", body, c, a.seconds, a.warmup,
                                            tuple(headers) + extra)
                            print(f"round {rnd + 1}: {label:6} {setup:8} {case:12} c={c:<3} {r['rps']:9.0f} req/s  "
                                  f"p50 {r['p50_us']} us  p99 {r['p99_us']} us  errors {r['errors']}", flush=True)
                            rps.setdefault((label, setup, case, c), []).append(r["rps"])
                            p50.setdefault((label, setup, case, c), []).append(r["p50_us"])
                finally:
                    server.stop()
                    shutil.rmtree(state)
    for setup in ("alone", "policies"):
        for case, _, _ in bodies[setup]:
            for c in (1, 16):
                key = (setup, case, c)
                b = statistics.median(rps[("before",) + key])
                f = statistics.median(rps[("after",) + key])
                print(f"{setup:8} {case:12} c={c}: before {b:.0f} req/s "
                      f"(p50 {statistics.median(p50[('before',) + key])} us), "
                      f"after {f:.0f} req/s (p50 {statistics.median(p50[('after',) + key])} us): {f / b:.2f}x")
    for _, _, setups in sides:
        for _, repo, _, _ in setups:
            shutil.rmtree(repo)


if __name__ == "__main__":
    main()
