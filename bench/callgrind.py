#!/usr/bin/env python3
"""Instructions per sandbox call, counted by callgrind: the calls a request
makes into components (Iris's predict on a warm and on a fresh instance,
each example policy's hook), for components built for the current WIT and,
with --guests, for another build of them (say, one for WIT 0.1) on the same
host.

usage: bench/callgrind.py [--guests DIR] [--calls N]

Each case runs `call_count` (runtime/examples/call_count.rs) under
callgrind twice, with N and 11 N calls; the difference divided by 10 N is
one call: loading and compiling cancel out. It counts the host's side of a
call (lowering the arguments, entering the guest, lifting the answer) and
the guest's own work; the HTTP server around it is not in it. The server
itself cannot run under valgrind: valgrind reports CPU features that do
not match the AOT cache, and its compile worker (the server's own
executable, started through /proc/self/exe) cannot start under valgrind.
Needs valgrind (Debian: `valgrind`)."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

COUNTER = os.path.join(run.TARGET, "release", "examples", "call_count")


def config(policy):
    """The policy's config in the bench's chain, as call_count's KEY=VALUE."""
    return [f"{key}={value}" for key, value in run.POLICY_CONFIG[policy].items()]


# (what, component, config): the bench's policy chain, call by call.
CASES = [
    ("model-warm", "iris", []),
    ("model-fresh", "iris", []),
    ("policy-request", "tenant_access", config("tenant-access")),
    ("policy-request", "input_guard", config("input-guard")),
    ("policy-response", "pii_redaction", config("pii-redaction")),
    ("policy-response", "response_shaper", config("response-shaper")),
]


def instructions(what, wasm, calls, config):
    with tempfile.TemporaryDirectory(dir=run.WORK) as d:
        out = os.path.join(d, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", "--smc-check=all-non-file", f"--callgrind-out-file={out}",
                        COUNTER, what, wasm, str(calls)] + config,
                       check=True, capture_output=True, env=dict(os.environ, RUST_LOG="error", RAYON_NUM_THREADS="1"))
        for line in open(out):
            m = re.match(r"^(?:summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(1))
    raise RuntimeError(f"no total in callgrind's output for {what} {wasm}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--guests", action="append", default=[],
                   help="a directory of components to count (repeat to compare builds); default: this checkout's")
    p.add_argument("--calls", type=int, default=200)
    a = p.parse_args()
    os.makedirs(run.WORK, exist_ok=True)
    run.sh(["cargo", "build", "--release", "-p", "edgeserve-runtime", "--example", "call_count"])
    guests = a.guests or [run.GUESTS]
    print("| call | component | " + " | ".join(guests) + " |")
    print("|---|---|" + "---:|" * len(guests))
    for what, name, config in CASES:
        counts = []
        for g in guests:
            wasm = os.path.join(g, name + ".wasm")
            small = instructions(what, wasm, a.calls, config)
            big = instructions(what, wasm, 11 * a.calls, config)
            counts.append(f"{(big - small) / (10 * a.calls) / 1000:.2f}k")
        print(f"| {what} | {name} | " + " | ".join(counts) + " |", flush=True)


if __name__ == "__main__":
    main()
