#!/usr/bin/env python3
"""Edge fleet benchmark: a real registry and N edgeserve nodes on loopback.

Measures, for each fleet size:
- the time from a tag move (`edgeserve push` of a signed version) to every
  node serving the new version (nodes poll the tag every `--poll` seconds,
  jittered by +-20 %);
- bytes pulled per node for the first version and for a second version
  that shares the component and smoke-test layers (only its config is new);
- a following node's idle CPU and RSS (averaged over all nodes, while they
  poll and serve nothing).

Usage: python3 bench/fleet.py [--nodes 10 50] [--poll 1] [--idle 10]
Needs: `cargo build --release -p edgeserve`, the guest components
(`scripts/test` or `scripts/build-examples` builds them) and Debian's
`docker-registry` (scripts/test-deps). Standard library only. Writes
target/bench/fleet.json and prints a Markdown table.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/edgeserve")
IRIS = os.path.join(ROOT, "target/guests/wasm32-wasip2/release/iris.wasm")
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def run(*args):
    out = subprocess.run([BIN, *args], capture_output=True, text=True, env={**os.environ, "EDGESERVE_LOG": "warn"})
    if out.returncode != 0:
        sys.exit(f"edgeserve {' '.join(args)} failed: {out.stderr}")
    return out.stdout.strip()


def version_folder(root, version, description):
    d = os.path.join(root, "iris", str(version))
    os.makedirs(d)
    shutil.copy(IRIS, os.path.join(d, "model.wasm"))
    shutil.copy(os.path.join(ROOT, "examples/iris/smoke.json"), d)
    manifest = open(os.path.join(ROOT, "examples/iris/manifest.toml")).read()
    manifest = manifest.replace(
        'description = "Iris species from sepal and petal sizes (multinomial logistic regression)"',
        f'description = "{description}"',
    )
    open(os.path.join(d, "manifest.toml"), "w").write(manifest)
    return d


class Node:
    def __init__(self, work, i, registry, pub, poll):
        self.state = os.path.join(work, f"state-{i}")
        cfg = os.path.join(work, f"node-{i}.toml")
        open(cfg, "w").write(
            f'[fleet]\nring = "stable"\ntrust_keys = ["{pub}"]\npoll_min = "{poll}s"\npoll_max = "30s"\n'
            f'[[fleet.follow]]\nmodel = "iris"\nreference = "{registry}/fleet/iris:{{ring}}"\n'
        )
        self.log = open(os.path.join(work, f"node-{i}.log"), "w")
        # A free port can be taken before the node binds it: try again.
        for _ in range(5):
            self.port, self.admin = free_port(), free_port()
            self.proc = subprocess.Popen(
                [BIN, "serve", "--config", cfg, "--state-dir", self.state,
                 "--listen", f"127.0.0.1:{self.port}", "--admin-listen", f"127.0.0.1:{self.admin}"],
                stdout=self.log, stderr=self.log, start_new_session=True,
                env={**os.environ, "EDGESERVE_LOG": "warn"},
            )
            try:
                self.proc.wait(0.3)
            except subprocess.TimeoutExpired:
                return

    def follow(self):
        try:
            _, body = get(f"http://127.0.0.1:{self.admin}/admin/v1/models")
            return json.loads(body)["fleet"]["follows"][0]
        except Exception:
            return {}

    def ready(self):
        try:
            return get(f"http://127.0.0.1:{self.port}/v2/health/ready", 1)[0] == 200
        except Exception:
            return False

    def cpu_ticks(self):
        f = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])

    def rss_kib(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait(what, cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def measure(n, args, registry, work, key, pub, v1, v2, v3):
    ref = f"{registry}/fleet/iris:stable"
    run("push", v1, ref, "--sign-key", key)
    nodes = [Node(work, f"{n}-{i}", registry, pub, args.poll) for i in range(n)]
    try:
        wait(f"{n} nodes ready", lambda: all(x.ready() for x in nodes), 300)
        first = statistics.mean(x.follow().get("pulled_bytes", 0) for x in nodes)
        time.sleep(2)
        # Idle while following: CPU over args.idle seconds, RSS at the end.
        before = [x.cpu_ticks() for x in nodes]
        time.sleep(args.idle)
        after = [x.cpu_ticks() for x in nodes]
        cpu = statistics.mean((a - b) / TICK / args.idle * 100 for a, b in zip(after, before))
        rss = statistics.mean(x.rss_kib() for x in nodes) / 1024
        moves = []
        for folder, version in ((v2, 2), (v3, 3)):
            pulled_before = [x.follow().get("pulled_bytes", 0) for x in nodes]
            t0 = time.time()
            run("push", folder, ref, "--sign-key", key)
            done = {}
            while len(done) < n and time.time() - t0 < 120:
                for i, x in enumerate(nodes):
                    if i not in done and x.follow().get("version") == version and x.follow().get("serving"):
                        done[i] = time.time() - t0
                time.sleep(0.02)
            if len(done) < n:
                sys.exit(f"only {len(done)}/{n} nodes converged on version {version}")
            pulled = statistics.mean(x.follow().get("pulled_bytes", 0) - b for x, b in zip(nodes, pulled_before))
            times = sorted(done.values())
            moves.append({"version": version, "all_s": times[-1], "median_s": statistics.median(times), "pulled_bytes_per_node": pulled})
        return {"nodes": n, "poll_s": args.poll, "first_pull_bytes_per_node": first,
                "idle_cpu_pct_per_node": cpu, "idle_rss_mib_per_node": rss, "moves": moves}
    finally:
        for x in nodes:
            x.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, nargs="+", default=[10, 50])
    p.add_argument("--poll", type=float, default=1.0)
    p.add_argument("--idle", type=float, default=10.0)
    args = p.parse_args()
    for path in (BIN, IRIS):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: cargo build --release -p edgeserve, and scripts/build-examples")
    work = tempfile.mkdtemp(prefix="edgeserve-fleet-bench-")
    port = free_port()
    registry = f"127.0.0.1:{port}"
    storage = os.path.join(work, "registry")
    open(os.path.join(work, "registry.yml"), "w").write(
        f'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n'
        f'storage:\n  filesystem:\n    rootdirectory: "{storage}"\nhttp:\n  addr: {registry}\n'
    )
    reg = subprocess.Popen(["docker-registry", "serve", os.path.join(work, "registry.yml")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def registry_up():
            if reg.poll() is not None:
                sys.exit("docker-registry exited")
            try:
                return get(f"http://{registry}/v2/")[0] == 200
            except OSError:
                return False

        wait("the registry", registry_up, 30)
        key = os.path.join(work, "release")
        run("keygen", "--out", key)
        versions = os.path.join(work, "versions")
        v1 = version_folder(versions, 1, "Iris, first")
        v2 = version_folder(versions, 2, "Iris, second: same component and smoke test")
        v3 = version_folder(versions, 3, "Iris, third: same component and smoke test")
        results = [measure(n, args, registry, work, key + ".key", key + ".pub", v1, v2, v3) for n in args.nodes]
    finally:
        reg.terminate()
        reg.wait()
    os.makedirs(os.path.join(ROOT, "target/bench"), exist_ok=True)
    json.dump(results, open(os.path.join(ROOT, "target/bench/fleet.json"), "w"), indent=2)
    print(f"| nodes | poll | tag move to all serving (s) | median node (s) | first pull per node (bytes) | next version pulled per node (bytes) | idle CPU per node % | idle RSS per node MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for m in r["moves"]:
            print(f"| {r['nodes']} | {r['poll_s']:g} s | {m['all_s']:.2f} | {m['median_s']:.2f} | {r['first_pull_bytes_per_node']:.0f} | {m['pulled_bytes_per_node']:.0f} | {r['idle_cpu_pct_per_node']:.2f} | {r['idle_rss_mib_per_node']:.1f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
