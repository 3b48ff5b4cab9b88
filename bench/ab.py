#!/usr/bin/env python3
"""Two edgeserve builds, same machine, same minutes: Iris JSON batch 1 at
concurrency 1 and 16 (server on CPU 0, loadgen on CPU 1), the builds taking
turns round after round so the machine's drift hits both alike. Also the
policy chain (identity + the four example policies) on each build.

usage: bench/ab.py BEFORE_BINARY AFTER_BINARY [--rounds N] [--seconds S]
Prints each round and the medians' ratios (after / before)."""
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
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    a = p.parse_args()
    os.makedirs(run.WORK, exist_ok=True)
    repo = run.repo_with(1)
    rps = {}
    p50 = {}
    for rnd in range(a.rounds):
        for label, binary in (("before", a.before), ("after", a.after)):
            run.EDGESERVE = binary
            state = tempfile.mkdtemp(dir=run.WORK)
            server = run.start_edgeserve(repo, state)
            try:
                for c in (1, 16):
                    r = run.measure(server, "/v2/models/iris/infer", run.json_body(1), c, a.seconds, a.warmup)
                    print(f"round {rnd + 1}: {label:6} c={c:<3} {r['rps']:9.0f} req/s  p50 {r['p50_us']} us  "
                          f"p99 {r['p99_us']} us  errors {r['errors']}", flush=True)
                    rps.setdefault((label, c), []).append(r["rps"])
                    p50.setdefault((label, c), []).append(r["p50_us"])
            finally:
                server.stop()
                shutil.rmtree(state)
    for c in (1, 16):
        b, f = statistics.median(rps[("before", c)]), statistics.median(rps[("after", c)])
        print(f"c={c}: before {b:.0f} req/s (p50 {statistics.median(p50[('before', c)])} us), "
              f"after {f:.0f} req/s (p50 {statistics.median(p50[('after', c)])} us): {f / b:.2f}x")
    shutil.rmtree(repo)


if __name__ == "__main__":
    main()
