#!/usr/bin/env bash
# Two router builds side by side: A and B serve the same nginx upstream (fixed chat completion), wrk alternates
# between them round by round, so machine noise hits both alike. Reports requests/s, p50/p99 and the CPU each
# router used per 10,000 requests, with B's ratio to A.
# Usage: bench/router/ab.sh A_BIN B_BIN [SECONDS] [ROUNDS] [DURABILITY] [CONNECTIONS]
#   A_BIN, B_BIN: `airlock` front binaries (each finds airlock-core next to it); DURABILITY: off | batched | sync
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib/common.sh
usage() { echo "usage: bench/router/ab.sh A_BIN B_BIN [SECONDS] [ROUNDS] [off|batched|sync] [CONNECTIONS]" >&2; exit 2; }
[ $# -ge 2 ] || usage
a_bin="$1"; b_bin="$2"
seconds="${3:-5}"; rounds="${4:-5}"; durability="${5:-off}"; conns="${6:-16}"
case "$durability" in off|batched|sync) ;; *) usage ;; esac
for tool in wrk nginx h2load python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (make bench-deps installs it)" >&2; exit 1; }
done
for bin in "$a_bin" "$b_bin"; do
  [ -x "$bin" ] || { echo "bench: $bin is not an executable airlock binary" >&2; exit 1; }
done

work="$(mktemp -d /tmp/airlock-ab-XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

upstream_port=$(bench_tools free-port)
mkdir -p "$work/nginx/tmp"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/tmp/body;
$(bench_upstream_server "$upstream_port")
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" -g 'daemon off;' &
pids+=($!)
printf 'sk-ab-%s' "$RANDOM$RANDOM" > "$work/key"; chmod 600 "$work/key"

start_router() { # NAME BIN -> sets router_port[NAME], router_pid[NAME]
  local name="$1" bin="$2" port
  port=$(bench_tools free-port)
  [ "$durability" = off ] || "$bin" receipts keygen --name "airlock.ab/$name" --out "$work/$name-signing" >/dev/null
  bench_router_yaml "$work/$name.yaml" "$port" "$work/$name-state" "$work/key" \
    "$(bench_receipts "$durability" "$work/$name-receipts" "airlock.ab/$name" "$work/$name-signing.key")" \
    "gpt-bench=http://127.0.0.1:$upstream_port"
  "$bin" router --config "$work/$name.yaml" --ready-file "$work/$name.ready" --log-level error 2>"$work/$name.log" &
  local pid=$!
  pids+=("$pid")
  eval "router_pid_$name=$pid; router_port_$name=$port"
  bench_wait_file "$work/$name.ready" 10 "$pid" || { echo "bench: router $name ($bin) did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
}
start_router A "$a_bin"
start_router B "$b_bin"

run() { # NAME ROUND: one wrk round -> "NAME rps p50_us p99_us cpu_s_per_10k non2xx"
  local port_var="router_port_$1" pid_var="router_pid_$1" before after
  before=$(bench_tools cpu "${!pid_var}")
  wrk -t2 -c"$conns" -d"${seconds}s" --latency -s bench/router/chat.lua "http://127.0.0.1:${!port_var}/v1/chat/completions" > "$work/$1-$2.txt"
  after=$(bench_tools cpu "${!pid_var}")
  bench_tools wrk "$work/$1-$2.txt" | python3 -c '
import json, sys
w, (name, before, after) = json.load(sys.stdin), sys.argv[1:]
cpu = (float(after) - float(before)) * 10000 / max(w["requests"], 1)
print(name, round(w["rps"]), round(w["p50_us"] or 0), round(w["p99_us"] or 0), f"{cpu:.3f}", w["non2xx"] + w["socket_errors"])' "$1" "$before" "$after"
}
# Warm both (connection pools, page cache, allocator).
for name in A B; do
  port_var="router_port_$name"
  wrk -t2 -c"$conns" -d2s -s bench/router/chat.lua "http://127.0.0.1:${!port_var}/v1/chat/completions" >/dev/null
done
: > "$work/results"
for r in $(seq "$rounds"); do
  # Alternate which goes first, so neither always follows the other's after-effects.
  if [ $((r % 2)) -eq 1 ]; then order="A B"; else order="B A"; fi
  for name in $order; do run "$name" "$r" >> "$work/results"; done
done
# Added latency at a fixed rate (1,000 requests/s over 10 connections, one request in flight on each).
printf '%s' '{"model":"gpt-bench","messages":[{"role":"user","content":"one two three four five"}]}' > "$work/body.json"
: > "$work/latency"
for r in $(seq "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order="A B"; else order="B A"; fi
  for name in $order; do
    port_var="router_port_$name"
    h2load --h1 -t1 -c10 --rps=100 -D "$seconds" --warm-up-time=1 -d "$work/body.json" \
      -H 'content-type: application/json' --log-file="$work/h2-$name-$r.log" \
      "http://127.0.0.1:${!port_var}/v1/chat/completions" > "$work/h2-$name-$r.txt" 2>&1 || true
    [ -f "$work/h2-$name-$r.log" ] || : > "$work/h2-$name-$r.log"
    bench_tools h2load "$work/h2-$name-$r.log" "$work/h2-$name-$r.txt" | python3 -c '
import json, sys
h = json.load(sys.stdin)
print(sys.argv[1], h["p50_us"] or 0, h["p99_us"] or 0, h["succeeded"])' "$name" >> "$work/latency"
  done
done
echo "rounds (name rps p50_us p99_us cpu_s_per_10k non2xx):"; sed 's/^/  /' "$work/results"
[ -s "$work/latency" ] && { echo "fixed-rate rounds (name p50_us p99_us answered):"; sed 's/^/  /' "$work/latency"; }
if awk '$6 > 0 {bad=1} END {exit !bad}' "$work/results"; then
  echo "bench: some responses were not 2xx; see $work/*.log" >&2; trap - EXIT; cleanup; exit 1
fi
rows() { # FILE LABEL:COLUMN...: one table row per figure, the medians of A and B and B's ratio to A
  local file="$1" spec label c a b
  shift
  for spec; do
    label="${spec%%:*}"; c="${spec##*:}"
    a=$(awk -v c="$c" '$1=="A" {print $c}' "$file" | bench_median)
    b=$(awk -v c="$c" '$1=="B" {print $c}' "$file" | bench_median)
    awk -v l="$label" -v a="$a" -v b="$b" 'BEGIN { printf "| %s (median) | %s | %s | %.2f |\n", l, a, b, (a > 0 ? b/a : 0) }'
  done
}
printf '\n| wrk -t2 -c%s, %ss x %s rounds, receipts %s | A | B | B/A |\n|---|---|---|---|\n' "$conns" "$seconds" "$rounds" "$durability"
rows "$work/results" "requests/s:2" "p50 µs:3" "p99 µs:4" "CPU s per 10k requests:5"
rows "$work/latency" "p50 µs at 1,000 requests/s:2" "p99 µs at 1,000 requests/s:3"
echo "A: $a_bin"; echo "B: $b_bin"
