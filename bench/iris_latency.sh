#!/usr/bin/env bash
# Latency of single Iris requests over one keep-alive connection, with wrk
# (Debian package `wrk`) pinned to CPU 1. Usage: bench/iris_latency.sh [host:port] [seconds]
set -euo pipefail
addr=${1:-127.0.0.1:8080}
secs=${2:-5}
script=$(mktemp)
trap 'rm -f "$script"' EXIT
cat > "$script" <<'LUA'
wrk.method = "POST"
wrk.body = '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
wrk.headers["Content-Type"] = "application/json"
LUA
taskset -c 1 wrk -t1 -c1 -d"${secs}s" --latency -s "$script" "http://$addr/v2/models/iris/infer"
