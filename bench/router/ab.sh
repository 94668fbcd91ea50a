#!/usr/bin/env bash
# Two router builds side by side: A and B serve the same nginx upstream (fixed chat completion), wrk alternates
# between them round by round, so machine noise hits both alike. Reports requests/s, p50/p99 and the CPU each
# router used per 10,000 requests, with B's ratio to A.
# Usage: bench/router/ab.sh A_BIN B_BIN [SECONDS] [ROUNDS] [DURABILITY] [CONNECTIONS]
#   A_BIN, B_BIN: `airlock` front binaries (each finds airlock-core next to it); DURABILITY: off | batched | sync
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib/router-config.sh
usage() { echo "usage: bench/router/ab.sh A_BIN B_BIN [SECONDS] [ROUNDS] [off|batched|sync] [CONNECTIONS]" >&2; exit 2; }
[ $# -ge 2 ] || usage
a_bin="$1"; b_bin="$2"
seconds="${3:-5}"; rounds="${4:-5}"; durability="${5:-off}"; conns="${6:-16}"
case "$durability" in off|batched|sync) ;; *) usage ;; esac
for tool in wrk nginx python3; do
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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }

upstream_port=$(free_port)
mkdir -p "$work/nginx/tmp"
completion='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the bench upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}'
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
  server {
    listen 127.0.0.1:$upstream_port;
    location = /v1/chat/completions { default_type application/json; return 200 '$completion'; }
  }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" -g 'daemon off;' &
pids+=($!)
printf 'sk-ab-%s' "$RANDOM$RANDOM" > "$work/key"; chmod 600 "$work/key"

start_router() { # NAME BIN -> sets router_port[NAME], router_pid[NAME]
  local name="$1" bin="$2" port
  port=$(free_port)
  [ "$durability" = off ] || "$bin" receipts keygen --name "airlock.ab/$name" --out "$work/$name-signing" >/dev/null
  bench_router_yaml "$work/$name.yaml" "$port" "$work/$name-state" "$work/key" \
    "$(bench_receipts "$durability" "$work/$name-receipts" "airlock.ab/$name" "$work/$name-signing.key")" \
    "gpt-bench=http://127.0.0.1:$upstream_port"
  "$bin" router --config "$work/$name.yaml" --ready-file "$work/$name.ready" --log-level error 2>"$work/$name.log" &
  pids+=($!)
  eval "router_pid_$name=$!; router_port_$name=$port"
  wait_file "$work/$name.ready" || { echo "bench: router $name ($bin) did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
}
start_router A "$a_bin"
start_router B "$b_bin"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in clock ticks
hz=$(getconf CLK_TCK)
run() { # NAME ROUND
  local port_var="router_port_$1" pid_var="router_pid_$1" before after
  before=$(cpu_ticks "${!pid_var}")
  wrk -t2 -c"$conns" -d"${seconds}s" --latency -s bench/router/chat.lua "http://127.0.0.1:${!port_var}/v1/chat/completions" > "$work/$1-$2.txt"
  after=$(cpu_ticks "${!pid_var}")
  awk -v name="$1" -v ticks=$((after - before)) -v hz="$hz" '
    /^Requests\/sec/ {rps=$2} /^ +[0-9]+ requests in/ {n=$1} $1=="50%" {p50=$2} $1=="99%" {p99=$2}
    /Non-2xx/ {bad=$NF}
    function us(v) { x=v+0; if (v ~ /us$/) return x; if (v ~ /ms$/) return x*1000; if (v ~ /s$/) return x*1000000; return x }
    END { printf "%s %.0f %.0f %.0f %.3f %d\n", name, rps, us(p50), us(p99), (ticks/hz) * 10000 / (n>0?n:1), bad+0 }' "$work/$1-$2.txt"
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
if command -v h2load >/dev/null; then
  for r in $(seq "$rounds"); do
    if [ $((r % 2)) -eq 1 ]; then order="A B"; else order="B A"; fi
    for name in $order; do
      port_var="router_port_$name"
      h2load --h1 -t1 -c10 --rps=100 -D "$seconds" --warm-up-time=1 -d "$work/body.json" \
        -H 'content-type: application/json' --log-file="$work/h2-$name-$r.log" \
        "http://127.0.0.1:${!port_var}/v1/chat/completions" > "$work/h2-$name-$r.txt" 2>&1 || true
      python3 - "$name" "$work/h2-$name-$r.log" >> "$work/latency" <<'PY'
import sys
times = sorted(int(line.split("\t")[2]) for line in open(sys.argv[2]) if line.strip() and line.split("\t")[1] == "200")
pick = lambda q: times[max(0, -(-len(times) * q // 100) - 1)] if times else 0
print(sys.argv[1], pick(50), pick(99), len(times))
PY
    done
  done
fi
echo "rounds (name rps p50_us p99_us cpu_s_per_10k non2xx):"; sed 's/^/  /' "$work/results"
[ -s "$work/latency" ] && { echo "fixed-rate rounds (name p50_us p99_us answered):"; sed 's/^/  /' "$work/latency"; }
if awk '$6 > 0 {bad=1} END {exit !bad}' "$work/results"; then
  echo "bench: some responses were not 2xx; see $work/*.log" >&2; trap - EXIT; cleanup; exit 1
fi
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { awk -v n="$1" -v c="$2" '$1==n {print $c}' "$work/results" | median; }
printf '\n| wrk -t2 -c%s, %ss x %s rounds, receipts %s | A | B | B/A |\n|---|---|---|---|\n' "$conns" "$seconds" "$rounds" "$durability"
for spec in "requests/s:2" "p50 µs:3" "p99 µs:4" "CPU s per 10k requests:5"; do
  label="${spec%%:*}"; c="${spec##*:}"
  awk -v l="$label" -v a="$(col A "$c")" -v b="$(col B "$c")" 'BEGIN { printf "| %s (median) | %s | %s | %.2f |\n", l, a, b, (a > 0 ? b/a : 0) }'
done
if [ -s "$work/latency" ]; then
  lat() { awk -v n="$1" -v c="$2" '$1==n {print $c}' "$work/latency" | median; }
  for spec in "p50 µs at 1,000 requests/s:2" "p99 µs at 1,000 requests/s:3"; do
    label="${spec%%:*}"; c="${spec##*:}"
    awk -v l="$label" -v a="$(lat A "$c")" -v b="$(lat B "$c")" 'BEGIN { printf "| %s (median) | %s | %s | %.2f |\n", l, a, b, (a > 0 ? b/a : 0) }'
  done
fi
echo "A: $a_bin"; echo "B: $b_bin"
