#!/usr/bin/env bash
# Router overhead: requests/s and latency through `airlock router` versus calling the mock upstream directly,
# with wrk (16 keep-alive connections), alternating A and B in one run so machine noise hits both. Also the
# router's RSS idle and under load. Usage: bench/router/run.sh [BIN] [SECONDS] [ROUNDS] [DURABILITY]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib/common.sh
bin="${1:-.build-release/release/airlock}"
seconds="${2:-8}"
rounds="${3:-3}"
durability="${4:-sync}"    # sync | batched | off
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
[ -x "$bin" ] || { echo "bench: $bin is missing; build both binaries (airlock execs airlock-core next to it) with: swift build -c release --product airlock-core --scratch-path .build-release && swift build -c release --product airlock --scratch-path .build-release" >&2; exit 1; }

work="$(mktemp -d /tmp/airlock-bench-XXXXXX)"
cleanup() { kill -TERM ${router_pid:-} ${mock_pid:-} 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
key="sk-bench-$RANDOM$RANDOM"
printf '%s' "$key" > "$work/key"; chmod 600 "$work/key"
"$bin" receipts keygen --name airlock.bench/receipts --out "$work/signing" >/dev/null

"$bin" mock-upstream --port 0 --port-file "$work/mock.port" --require-key "$key" 2>/dev/null &
mock_pid=$!
bench_wait_file "$work/mock.port" 10 "$mock_pid" || { echo "bench: the mock upstream did not start" >&2; exit 1; }
mock_port=$(cat "$work/mock.port")
router_port=$(bench_tools free-port)

bench_router_yaml "$work/airlock.yaml" "$router_port" "$work/state" "$work/key" \
  "$(bench_receipts "$durability" "$work/receipts" airlock.bench/receipts "$work/signing.key")" \
  "gpt-bench=http://127.0.0.1:$mock_port"
"$bin" router --config "$work/airlock.yaml" --ready-file "$work/ready.json" --log-level error 2>"$work/router.log" &
router_pid=$!
bench_wait_file "$work/ready.json" 10 "$router_pid" || { echo "bench: the router did not start:" >&2; cat "$work/router.log" >&2; exit 1; }
sleep 1
rss() { awk '/^VmRSS/ {print $2}' "/proc/$router_pid/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$router_pid/status"; }
idle_rss=$(rss)

run() { # label url key -> "label rps p50_us p99_us"
  BENCH_KEY="$3" wrk -t2 -c16 -d"${seconds}s" --latency -s bench/router/chat.lua "$2" > "$work/$1.txt"
  bench_tools wrk "$work/$1.txt" | python3 -c '
import json, sys
w = json.load(sys.stdin)
print(sys.argv[1], w["rps"], w["p50_us"] or 0, w["p99_us"] or 0)' "$1"
}
# Warm both paths (connection pools, JIT-free but page cache and allocator).
BENCH_KEY="$key" wrk -t2 -c16 -d2s -s bench/router/chat.lua "http://127.0.0.1:$mock_port/v1/chat/completions" >/dev/null
wrk -t2 -c16 -d2s -s bench/router/chat.lua "http://127.0.0.1:$router_port/v1/chat/completions" >/dev/null
: > "$work/results"
for r in $(seq "$rounds"); do
  run "direct-$r" "http://127.0.0.1:$mock_port/v1/chat/completions" "$key" >> "$work/results"
  run "router-$r" "http://127.0.0.1:$router_port/v1/chat/completions" "" >> "$work/results"
done
loaded_rss=$(hwm)
col() { grep "^$1-" "$work/results" | awk -v c="$2" '{print $c}' | bench_median; }
d_rps=$(col direct 2); r_rps=$(col router 2)
d_p50=$(col direct 3); r_p50=$(col router 3)
d_p99=$(col direct 4); r_p99=$(col router 4)
echo "rounds (label rps p50_us p99_us):"; sed 's/^/  /' "$work/results"
printf '\n| figure (wrk -t2 -c16, %ss x %s rounds, receipts %s) | direct to mock | through router | router/direct |\n|---|---|---|---|\n' "$seconds" "$rounds" "$durability"
awk -v d="$d_rps" -v r="$r_rps" 'BEGIN { printf "| requests/s (median) | %.0f | %.0f | %.2f |\n", d, r, r/d }'
awk -v d="$d_p50" -v r="$r_p50" 'BEGIN { printf "| p50 latency µs (median) | %.0f | %.0f | +%.0f µs added |\n", d, r, r-d }'
awk -v d="$d_p99" -v r="$r_p99" 'BEGIN { printf "| p99 latency µs (median) | %.0f | %.0f | +%.0f µs added |\n", d, r, r-d }'
printf '| router RSS idle / peak under load | | %s KiB / %s KiB | |\n' "$idle_rss" "$loaded_rss"
