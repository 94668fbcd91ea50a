#!/usr/bin/env bash
# Airlock against the alternatives, on loopback, with one fixed fast upstream for everyone:
#   direct           client -> upstream (the floor)
#   nginx            nginx proxy_pass with upstream keep-alive, one worker
#   litellm          LiteLLM's proxy, one worker, no database
#   airlock-sync     airlock router, receipts durability sync
#   airlock-batched  airlock router, receipts durability batched
#   airlock-off      airlock router, receipts disabled
# Every figure alternates the contenders round-robin inside one run (the start rotates each round) so machine
# noise hits all of them; medians over BENCH_ROUNDS. Raw outputs go to bench/results/<timestamp>/ and the
# report to docs/benchmarks.md. Run through `make bench` (installs the tools first) or directly:
#   AIRLOCK_BIN=path/to/airlock BENCH_SECONDS=3 BENCH_ROUNDS=1 SKIP_SANDBOX=1 bench/compare/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib/common.sh
repo="$PWD"

# The form that is deployed (Dockerfile, install.sh): a --static-swift-stdlib release build, the static `airlock`
# front next to `airlock-core`. The same build serves the sandbox figures and the receipt log benchmark.
AIRLOCK_BIN="${AIRLOCK_BIN:-.build-static/release/airlock}"
BENCH_SECONDS="${BENCH_SECONDS:-10}"            # each wrk run
BENCH_ROUNDS="${BENCH_ROUNDS:-3}"
BENCH_WARMUP="${BENCH_WARMUP:-2}"              # seconds of wrk per contender before measuring
BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-16 64}"
BENCH_RATE="${BENCH_RATE:-1000}"               # requests/s in total for the fixed-rate latency figure
BENCH_RATE_CLIENTS="${BENCH_RATE_CLIENTS:-10}"
BENCH_LATENCY_SECONDS="${BENCH_LATENCY_SECONDS:-$BENCH_SECONDS}"
BENCH_STREAM_REQUESTS="${BENCH_STREAM_REQUESTS:-200}"   # per contender, split over the rounds
BENCH_STREAM_CHUNKS="${BENCH_STREAM_CHUNKS:-8}"
BENCH_STREAM_DELAY_MS="${BENCH_STREAM_DELAY_MS:-10}"
BENCH_HOLD_CONNECTIONS="${BENCH_HOLD_CONNECTIONS:-1000}"
BENCH_CONTENDERS="${BENCH_CONTENDERS:-direct nginx litellm airlock-sync airlock-batched airlock-off}"
BENCH_VENV="${BENCH_VENV:-.venv-bench}"
BENCH_RESULTS="${BENCH_RESULTS:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}"
BENCH_REPORT="${BENCH_REPORT:-docs/benchmarks.md}"
BENCH_NOTE="${BENCH_NOTE:-}"
RECEIPTS_BENCH_BIN="${RECEIPTS_BENCH_BIN:-.build-static/release/airlock-receipts-bench}"
RECEIPTS_ARGS="${RECEIPTS_ARGS:---records 200000 --appends 500 --verify-runs 1}"
SKIP_RECEIPTS="${SKIP_RECEIPTS:-0}"
# A --static-swift-stdlib build, built by bench/sandbox/*.sh when missing. It must sit in a checkout
# (.build-*/release/airlock) or an installed prefix: `airlock run` finds policies/seccomp/agent-strict.json
# above its executable.
SANDBOX_AIRLOCK_BIN="${SANDBOX_AIRLOCK_BIN:-.build-static/release/airlock}"
SANDBOX_RUNS="${SANDBOX_RUNS:-25}"
SECCOMP_RUNS="${SECCOMP_RUNS:-11}"
SKIP_SANDBOX="${SKIP_SANDBOX:-0}"

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for tool in wrk h2load nginx curl python3; do
  command -v "$tool" >/dev/null || die "$tool is missing; run scripts/install-bench-deps.sh (or make bench-deps)"
done
case " $BENCH_CONTENDERS " in
  *" litellm "*) [ -x "$BENCH_VENV/bin/litellm" ] || die "$BENCH_VENV/bin/litellm is missing; run scripts/install-bench-deps.sh" ;;
esac
static_build() { swift build -c release --static-swift-stdlib --scratch-path .build-static "$@"; }
if [ "$AIRLOCK_BIN" = .build-static/release/airlock ]; then
  if [ ! -x .build-static/release/airlock ] || [ ! -x .build-static/release/airlock-core ]; then
    say "building the release binaries (--static-swift-stdlib, .build-static)"
    static_build --product airlock-core
    static_build --product airlock
  fi
fi
[ -x "$AIRLOCK_BIN" ] || die "$AIRLOCK_BIN is missing (set AIRLOCK_BIN to a release build of airlock)"
AIRLOCK_BIN="$(cd "$(dirname "$AIRLOCK_BIN")" && pwd)/$(basename "$AIRLOCK_BIN")"
if [ "$SKIP_RECEIPTS" != 1 ] && [ ! -x "$RECEIPTS_BENCH_BIN" ] && [ "$RECEIPTS_BENCH_BIN" = .build-static/release/airlock-receipts-bench ]; then
  say "building the receipt log benchmark"
  static_build --product airlock-receipts-bench
fi

# 1,000 held connections, plus the proxies' own upstream connections.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

mkdir -p "$BENCH_RESULTS"/{raw,logs,config}
results="$(cd "$BENCH_RESULTS" && pwd)"
records="$results/records.jsonl"
commands="$results/commands.log"
: > "$records"; : > "$commands"
work="$(mktemp -d /tmp/airlock-compare-XXXXXX)"
chmod 755 "$work"   # nginx workers run as nobody: keep their prefix reachable
started="$(date +%s)"
key="sk-bench-upstream-$RANDOM$RANDOM"            # the upstream credential (the mock upstream requires it)
master="sk-bench-master-$RANDOM$RANDOM$RANDOM"    # LiteLLM's master key, which its clients send

# --- processes ------------------------------------------------------------------------------------------------
pids=()
descendants() { local c; for c in $(pgrep -P "$1" 2>/dev/null || true); do echo "$c"; descendants "$c"; done; }
stop_all() {
  local pid all=() alive i
  for pid in "${pids[@]}"; do
    all+=("$pid" $(descendants "$pid"))
  done
  ((${#all[@]})) || return 0
  for pid in "${all[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 50); do   # up to 5 s for a graceful stop
    alive=0
    for pid in "${all[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${all[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
cleanup() {
  local status=$?
  stop_all
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# log_cmd COMMAND...: the command line, shell-quoted, with the run's keys replaced by placeholders.
log_cmd() {
  local line
  line="$(printf '%q ' "$@")"
  line="${line% }"
  line="${line//$key/<upstream-key>}"
  printf '%s\n' "${line//$master/<master-key>}" >> "$commands"
}
# start NAME COMMAND...: in the background, output to logs/NAME.log; sets $last_pid.
start() {
  local name="$1"; shift
  log_cmd "$@"
  "$@" > "$results/logs/$name.log" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}
wait_http() { # URL SECONDS [ok|any] [PID]: until URL answers 2xx (any HTTP status with "any"); gives up if PID exits
  local i f=-f
  [ "${3:-}" = any ] && f=
  for i in $(seq $(($2 * 5))); do
    curl -s $f -o /dev/null --max-time 2 "$1" && return 0
    [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
    sleep 0.2
  done
  return 1
}
port() { bench_tools free-port; }

# --- upstreams ------------------------------------------------------------------------------------------------
printf '%s' "$key" > "$work/upstream.key"; chmod 600 "$work/upstream.key"

nginx_conf() { # NAME SERVERS: an nginx.conf with one worker, everything under $work/NAME
  local dir="$work/$1"
  mkdir -p "$dir/tmp"
  cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
worker_rlimit_nofile 16384;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
$2
}
NGINX
  cp "$dir/nginx.conf" "$results/config/$1.nginx.conf"
}
start_nginx() { # NAME
  start "$1" nginx -p "$work/$1" -c "$work/$1/nginx.conf" -e "$work/$1/error.log" -g 'daemon off;'
}

upstream_port=$(port)
nginx_conf upstream "$(bench_upstream_server "$upstream_port")"
start_nginx upstream; upstream_pid=$last_pid

start mock "$AIRLOCK_BIN" mock-upstream --port 0 --port-file "$work/mock.port" --require-key "$key" \
  --chunks "$BENCH_STREAM_CHUNKS" --chunk-delay-ms "$BENCH_STREAM_DELAY_MS"
bench_wait_file "$work/mock.port" 20 "$last_pid" || die "mock upstream did not start; see $results/logs/mock.log"
mock_port=$(cat "$work/mock.port")
wait_http "http://127.0.0.1:$upstream_port/" 20 any "$upstream_pid" || true
curl -sf -o /dev/null -X POST -d '{}' "http://127.0.0.1:$upstream_port/v1/chat/completions" \
  || die "the nginx upstream does not answer; see $results/logs/upstream.log"

# --- contenders -----------------------------------------------------------------------------------------------
declare -A pid_of fast_port stream_port auth broken
has() { case " $BENCH_CONTENDERS " in *" $1 "*) return 0 ;; esac; return 1; }

if has direct; then
  fast_port[direct]=$upstream_port; stream_port[direct]=$mock_port; auth[direct]="Bearer $key"
fi

if has nginx; then
  p1=$(port); p2=$(port)
  nginx_conf proxy "  upstream fast { server 127.0.0.1:$upstream_port; keepalive 64; keepalive_requests 1000000; }
  upstream stream { server 127.0.0.1:$mock_port; keepalive 64; }
  proxy_http_version 1.1;
  proxy_set_header Connection \"\";
  server {
    listen 127.0.0.1:$p1;
    location / { proxy_pass http://fast; }
  }
  server {
    listen 127.0.0.1:$p2;
    location / { proxy_pass http://stream; proxy_buffering off; }
  }"
  start_nginx proxy; pid_of[nginx]=$last_pid
  fast_port[nginx]=$p1; stream_port[nginx]=$p2; auth[nginx]="Bearer $key"
fi

if has litellm; then
  p=$(port)
  cat > "$work/litellm.yaml" <<YAML
model_list:
  - model_name: gpt-bench
    litellm_params: {model: openai/gpt-bench, api_base: "http://127.0.0.1:$upstream_port/v1", api_key: "$key"}
  - model_name: gpt-stream
    litellm_params: {model: openai/gpt-stream, api_base: "http://127.0.0.1:$mock_port/v1", api_key: "$key"}
general_settings:
  master_key: "$master"
litellm_settings:
  telemetry: false
YAML
  cp "$work/litellm.yaml" "$results/config/litellm.yaml"
  # Offline: the bundled model cost map instead of fetching one, no database, no telemetry. A keep-alive
  # timeout like nginx's so the held-connections figure holds them (uvicorn's default closes after 5 s).
  start litellm env -u DATABASE_URL LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR LITELLM_TELEMETRY=False \
    DISABLE_ADMIN_UI=True "$repo/$BENCH_VENV/bin/litellm" --config "$work/litellm.yaml" --host 127.0.0.1 --port "$p" \
    --num_workers 1 --keepalive_timeout 120
  pid_of[litellm]=$last_pid
  fast_port[litellm]=$p; stream_port[litellm]=$p; auth[litellm]="Bearer $master"
fi

"$AIRLOCK_BIN" receipts keygen --name airlock.bench/receipts --out "$work/signing" >/dev/null
for c in airlock-sync airlock-batched airlock-off; do
  has "$c" || continue
  p=$(port)
  durability="${c#airlock-}"
  mkdir -p "$work/$c"
  bench_router_yaml "$work/$c/airlock.yaml" "$p" "$work/$c/state" "$work/upstream.key" \
    "$(bench_receipts "$durability" "$work/$c/receipts" airlock.bench/receipts "$work/signing.key")" \
    "gpt-bench=http://127.0.0.1:$upstream_port" "gpt-stream=http://127.0.0.1:$mock_port"
  cp "$work/$c/airlock.yaml" "$results/config/$c.yaml"
  start "$c" "$AIRLOCK_BIN" router --config "$work/$c/airlock.yaml" --ready-file "$work/$c/ready.json" --log-level error
  pid_of[$c]=$last_pid
  fast_port[$c]=$p; stream_port[$c]=$p; auth[$c]=""
done

contenders=()
for c in $BENCH_CONTENDERS; do
  [ -n "${fast_port[$c]:-}" ] || die "unknown contender $c"
  contenders+=("$c")
done
for c in "${contenders[@]}"; do
  case "$c" in
    airlock-*) bench_wait_file "$work/$c/ready.json" 30 "${pid_of[$c]}" || broken[$c]="did not start (logs/$c.log)" ;;
    litellm) wait_http "http://127.0.0.1:${fast_port[$c]}/health/liveliness" 120 ok "${pid_of[$c]}" || broken[$c]="no answer on /health/liveliness (exited, or not within 120 s; logs/$c.log)" ;;
    nginx) wait_http "http://127.0.0.1:${fast_port[$c]}/" 20 any "${pid_of[$c]}" || true ;;
  esac
done

# One request of each kind per contender; a contender that fails here is reported as broken and skipped.
hdr() { [ -n "${auth[$1]}" ] && printf 'Authorization: %s' "${auth[$1]}" || printf 'X-Bench: 1'; }
for c in "${contenders[@]}"; do
  [ -z "${broken[$c]:-}" ] || continue
  code=$(curl -s -o "$results/raw/sanity-$c.json" -w '%{http_code}' --max-time 30 -H "$(hdr "$c")" \
    -H 'Content-Type: application/json' -d '{"model":"gpt-bench","messages":[{"role":"user","content":"hi"}]}' \
    "http://127.0.0.1:${fast_port[$c]}/v1/chat/completions" || true)
  if [ "$code" != 200 ] || ! grep -q '"choices"' "$results/raw/sanity-$c.json"; then
    broken[$c]="answered HTTP $code to a chat completion (raw/sanity-$c.json)"
    continue
  fi
  code=$(curl -s -N -o "$results/raw/sanity-stream-$c.txt" -w '%{http_code}' --max-time 30 -H "$(hdr "$c")" \
    -H 'Content-Type: application/json' -d '{"model":"gpt-stream","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
    "http://127.0.0.1:${stream_port[$c]}/v1/chat/completions" || true)
  if [ "$code" != 200 ] || ! grep -q '^data: ' "$results/raw/sanity-stream-$c.txt"; then
    broken[$c]="answered HTTP $code to a streaming chat completion (raw/sanity-stream-$c.txt)"
  fi
done
live=()
for c in "${contenders[@]}"; do
  if [ -n "${broken[$c]:-}" ]; then
    say "$c: ${broken[$c]}"
    printf '{"figure":"broken","contender":"%s","reason":"%s"}\n' "$c" "${broken[$c]}" >> "$records"
  else
    live+=("$c")
  fi
done
((${#live[@]})) || die "no contender works"

# rotated ROUND: the live contenders, starting one further each round.
rotated() { local n=${#live[@]} i; for i in $(seq 0 $((n - 1))); do echo "${live[$(((i + $1) % n))]}"; done; }
cpu_of() { [ -n "${pid_of[$1]:-}" ] && bench_tools cpu "${pid_of[$1]}" || echo null; }
mem_of() { [ -n "${pid_of[$1]:-}" ] && bench_tools mem "${pid_of[$1]}" || echo null; }
record() { printf '%s\n' "$1" >> "$records"; }

# --- idle memory ----------------------------------------------------------------------------------------------
sleep 2
for c in "${live[@]}"; do
  [ -n "${pid_of[$c]:-}" ] && record "{\"figure\":\"mem-idle\",\"contender\":\"$c\",\"mem\":$(mem_of "$c")}"
done

# --- throughput (wrk), CPU per request, peak memory -----------------------------------------------------------
body='{"model":"gpt-bench","messages":[{"role":"user","content":"one two three four five"}]}'
printf '%s' "$body" > "$work/body.json"
wrk_key() { [ -n "${auth[$1]}" ] && echo "${auth[$1]#Bearer }" || echo ""; }
say "warm-up: ${BENCH_WARMUP}s of wrk per contender"
for c in "${live[@]}"; do
  BENCH_KEY="$(wrk_key "$c")" wrk -t2 -c16 -d"${BENCH_WARMUP}s" --timeout 10s -s bench/router/chat.lua \
    "http://127.0.0.1:${fast_port[$c]}/v1/chat/completions" > "$results/raw/warmup-$c.txt" 2>&1 || true
done
for r in $(seq "$BENCH_ROUNDS"); do
  for n in $BENCH_CONNECTIONS; do
    for c in $(rotated "$r"); do
      say "round $r/$BENCH_ROUNDS: wrk -c$n ${BENCH_SECONDS}s $c"
      out="$results/raw/wrk-c$n-$c-r$r.txt"
      cmd=(wrk -t2 -c"$n" -d"${BENCH_SECONDS}s" --timeout 10s --latency -s bench/router/chat.lua
           "http://127.0.0.1:${fast_port[$c]}/v1/chat/completions")
      if [ "$r" = 1 ]; then
        if [ -n "$(wrk_key "$c")" ]; then log_cmd env BENCH_KEY="$(wrk_key "$c")" "${cmd[@]}"; else log_cmd "${cmd[@]}"; fi
      fi
      before=$(cpu_of "$c")
      BENCH_KEY="$(wrk_key "$c")" "${cmd[@]}" > "$out" 2>&1 || true
      after=$(cpu_of "$c")
      record "{\"figure\":\"rps\",\"contender\":\"$c\",\"conns\":$n,\"round\":$r,\"cpu_before\":$before,\"cpu_after\":$after,\"wrk\":$(bench_tools wrk "$out")}"
    done
  done
done
for c in "${live[@]}"; do
  [ -n "${pid_of[$c]:-}" ] && record "{\"figure\":\"mem-peak\",\"contender\":\"$c\",\"mem\":$(mem_of "$c")}"
done

# --- latency at a fixed rate (h2load) -------------------------------------------------------------------------
per_client=$((BENCH_RATE / BENCH_RATE_CLIENTS))
for r in $(seq "$BENCH_ROUNDS"); do
  for c in $(rotated "$r"); do
    say "round $r/$BENCH_ROUNDS: h2load ${BENCH_RATE} req/s ${BENCH_LATENCY_SECONDS}s $c"
    log="$results/raw/h2load-$c-r$r.log"; out="$results/raw/h2load-$c-r$r.txt"
    extra=()
    [ -n "${auth[$c]}" ] && extra=(-H "authorization: ${auth[$c]}")
    cmd=(h2load --h1 -t1 -c"$BENCH_RATE_CLIENTS" --rps="$per_client" -D "$BENCH_LATENCY_SECONDS" --warm-up-time=1
         -d "$work/body.json" -H 'content-type: application/json' --log-file="$log"
         "http://127.0.0.1:${fast_port[$c]}/v1/chat/completions")
    [ "$r" = 1 ] && log_cmd "${cmd[@]}" "${extra[@]}"
    # h2load stops on its own after -D; the outer timeout only guards against a hung run.
    timeout $((BENCH_LATENCY_SECONDS + 60)) "${cmd[@]}" "${extra[@]}" > "$out" 2>&1 || true
    [ -f "$log" ] || : > "$log"
    record "{\"figure\":\"latency\",\"contender\":\"$c\",\"round\":$r,\"h2load\":$(bench_tools h2load "$log" "$out")}"
  done
done

# --- streaming: time to first chunk -----------------------------------------------------------------------------
per_round=$(((BENCH_STREAM_REQUESTS + BENCH_ROUNDS - 1) / BENCH_ROUNDS))
for r in $(seq "$BENCH_ROUNDS"); do
  for c in $(rotated "$r"); do
    say "round $r/$BENCH_ROUNDS: $per_round streaming requests $c"
    extra=()
    [ -n "${auth[$c]}" ] && extra=(--header "Authorization: ${auth[$c]}")
    cmd=(python3 bench/compare/stream_client.py --port "${stream_port[$c]}" --model gpt-stream --requests "$per_round"
         --chunks "$BENCH_STREAM_CHUNKS" --delay-ms "$BENCH_STREAM_DELAY_MS" --raw "$results/raw/stream-$c.jsonl")
    [ "$r" = 1 ] && log_cmd "${cmd[@]}" "${extra[@]}"
    summary=$("${cmd[@]}" "${extra[@]}" 2>>"$results/raw/stream-$c.err") || summary='{"ok": false}'
    record "{\"figure\":\"stream\",\"contender\":\"$c\",\"round\":$r,\"summary\":$summary}"
  done
done

# --- memory with many open keep-alive connections ---------------------------------------------------------------
for c in "${live[@]}"; do
  [ -n "${pid_of[$c]:-}" ] || continue
  say "$BENCH_HOLD_CONNECTIONS open connections: $c"
  hold="$work/hold-$c"; rm -f "$hold".*
  extra=()
  [ -n "${auth[$c]}" ] && extra=(--header "Authorization: ${auth[$c]}")
  cmd=(python3 bench/compare/hold_conns.py --port "${fast_port[$c]}" --count "$BENCH_HOLD_CONNECTIONS" "${extra[@]}"
       --ready-file "$hold.ready" --stop-file "$hold.stop" --result-file "$hold.result")
  log_cmd "${cmd[@]}"
  "${cmd[@]}" 2>"$results/raw/hold-$c.err" &
  holder=$!
  pids+=("$holder")
  mem=null
  if bench_wait_file "$hold.ready" 120 "$holder"; then
    sleep 1
    mem=$(mem_of "$c")
  fi
  touch "$hold.stop"
  bench_wait_file "$hold.result" 20 || true
  kill "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
  unset 'pids[-1]'
  ready=$(cat "$hold.ready" 2>/dev/null || echo null); result=$(cat "$hold.result" 2>/dev/null || echo null)
  record "{\"figure\":\"mem-held\",\"contender\":\"$c\",\"mem\":$mem,\"ready\":$ready,\"result\":$result}"
done

# Versions while everything is at hand.
{
  echo "airlock: $("$AIRLOCK_BIN" --version 2>&1)"
  echo "nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //')"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "h2load: $(h2load --version 2>&1 | head -1)"
  [ -x "$BENCH_VENV/bin/python" ] && echo "litellm: $("$BENCH_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>&1)"
  [ -x "$BENCH_VENV/bin/python" ] && echo "python (litellm): $("$BENCH_VENV/bin/python" --version 2>&1)"
  echo "python (clients): $(python3 --version 2>&1)"
  echo "bubblewrap: $(bwrap --version 2>&1 || echo missing)"
} > "$results/versions.txt"
stop_all

# --- receipt log and sandbox (their own scripts) -----------------------------------------------------------------
# The receipt log benchmark needs its own product: built above when the default path is missing, else given.
if [ "$SKIP_RECEIPTS" = 1 ]; then
  echo "skipped: SKIP_RECEIPTS=1" > "$results/receipts.txt"
elif [ -x "$RECEIPTS_BENCH_BIN" ]; then
  say "receipt log benchmark ($RECEIPTS_ARGS)"
  printf '%s\n' "RECEIPTS_BENCH_BIN=$RECEIPTS_BENCH_BIN bench/receipts/run.sh $RECEIPTS_ARGS" >> "$commands"
  # shellcheck disable=SC2086 # RECEIPTS_ARGS is a list of options
  RECEIPTS_BENCH_BIN="$RECEIPTS_BENCH_BIN" BENCH_DIR="$work/receipts-bench" \
    timeout 900 bench/receipts/run.sh $RECEIPTS_ARGS > "$results/receipts.txt" 2>&1 \
    || echo "failed: exit $?" >> "$results/receipts.txt"
else
  echo "skipped: $RECEIPTS_BENCH_BIN is missing (build it with \`swift build -c release --static-swift-stdlib --product airlock-receipts-bench --scratch-path .build-static\` or set RECEIPTS_BENCH_BIN)" > "$results/receipts.txt"
  say "$(cat "$results/receipts.txt")"
fi
# The sandbox scripts build a static binary unless given one.
if [ "$SKIP_SANDBOX" = 1 ]; then
  echo "skipped: SKIP_SANDBOX=1" > "$results/sandbox-startup.txt"
  echo "skipped: SKIP_SANDBOX=1" > "$results/sandbox-seccomp.txt"
else
  static=""
  [ -x "$SANDBOX_AIRLOCK_BIN" ] && static="$(cd "$(dirname "$SANDBOX_AIRLOCK_BIN")" && pwd)/$(basename "$SANDBOX_AIRLOCK_BIN")"
  say "sandbox start-up and seccomp cost${static:+ ($static)}"
  printf '%s\n' "AIRLOCK_STATIC_BIN=$static RUNS=$SANDBOX_RUNS bench/sandbox/startup.sh" \
    "AIRLOCK_STATIC_BIN=$static RUNS=$SECCOMP_RUNS bench/sandbox/seccomp_cost.sh" >> "$commands"
  AIRLOCK_STATIC_BIN="$static" RUNS="$SANDBOX_RUNS" timeout 900 bench/sandbox/startup.sh > "$results/sandbox-startup.txt" 2>&1 \
    || echo "failed: exit $?" >> "$results/sandbox-startup.txt"
  AIRLOCK_STATIC_BIN="$static" RUNS="$SECCOMP_RUNS" timeout 900 bench/sandbox/seccomp_cost.sh > "$results/sandbox-seccomp.txt" 2>&1 \
    || echo "failed: exit $?" >> "$results/sandbox-seccomp.txt"
fi

# --- report ---------------------------------------------------------------------------------------------------
cat > "$results/params.json" <<JSON
{"seconds": $BENCH_SECONDS, "rounds": $BENCH_ROUNDS, "warmup": $BENCH_WARMUP, "connections": "$BENCH_CONNECTIONS",
 "rate": $BENCH_RATE, "rate_clients": $BENCH_RATE_CLIENTS, "latency_seconds": $BENCH_LATENCY_SECONDS,
 "stream_requests": $((per_round * BENCH_ROUNDS)), "stream_chunks": $BENCH_STREAM_CHUNKS, "stream_delay_ms": $BENCH_STREAM_DELAY_MS,
 "hold_connections": $BENCH_HOLD_CONNECTIONS, "contenders": "$BENCH_CONTENDERS", "elapsed_s": $(($(date +%s) - started)),
 "note": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$BENCH_NOTE"),
 "results": "${BENCH_RESULTS#"$repo"/}"}
JSON
python3 bench/compare/report.py "$results" "$BENCH_REPORT"
say "done in $(($(date +%s) - started)) s: $BENCH_REPORT (raw outputs in $BENCH_RESULTS)"
