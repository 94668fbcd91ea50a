# Sourced by the bench scripts (run from the repository root): helpers they share, and the router configuration
# they all use, so every contender and every A/B build is configured alike.

# Debian installs nginx in /usr/sbin, which a non-root PATH lacks.
PATH="$PATH:/usr/sbin:/sbin"

# bench_tools SUBCOMMAND ARGS...: bench/compare/tools.py (free-port, wrk, h2load, cpu, mem; see its header),
# found from wherever the caller has changed to since sourcing this.
bench_repo="$PWD"
bench_tools() { python3 "$bench_repo/bench/compare/tools.py" "$@"; }

# bench_wait_file FILE SECONDS [PID]: waits until FILE is not empty; gives up early if PID exits.
bench_wait_file() {
  local i
  for i in $(seq $(($2 * 10))); do
    [ -s "$1" ] && return 0
    [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null && { [ -s "$1" ]; return; }
    sleep 0.1
  done
  return 1
}

# bench_upstream_server PORT: the nginx `server` block of the fixed fast upstream every contender calls: one
# chat completion, always the same bytes.
bench_upstream_server() {
  local completion='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the bench upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}'
  cat <<NGINX
  server {
    listen 127.0.0.1:$1;
    location = /v1/chat/completions {
      default_type application/json;
      return 200 '$completion';
    }
  }
NGINX
}

# bench_median: the median of the numbers on stdin, one per line.
bench_median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# bench_receipts DURABILITY DIRECTORY ORIGIN SIGNING_KEY: the `receipts:` line (DURABILITY off disables receipts).
bench_receipts() {
  if [ "$1" = off ]; then
    echo "receipts: {enabled: false}"
  else
    echo "receipts: {directory: $2, origin: $3, signing_keys: [$4], durability: $1}"
  fi
}

# bench_router_yaml FILE PORT STATE_DIR KEY_FILE RECEIPTS_LINE MODEL=URL...: writes a router configuration
# listening on 127.0.0.1:PORT with one openai-compatible upstream per MODEL=URL route, all using KEY_FILE, and
# limits opened up so the router's own admission never throttles the load generator.
bench_router_yaml() {
  local file="$1" port="$2" state="$3" key="$4" receipts="$5" route i=0 upstreams="" models=""
  shift 5
  for route in "$@"; do
    upstreams+="  - {name: up$i, kind: openai-compatible, base_url: \"${route#*=}\", credential: {file: $key}}"$'\n'
    models+="  - {name: ${route%%=*}, api: openai, targets: [{upstream: up$i}]}"$'\n'
    i=$((i + 1))
  done
  {
    cat <<YAML
version: 1
router:
  listeners: [{tcp: "127.0.0.1:$port"}]
  state_directory: $state
  allow_root: true
  limits: {max_concurrent: 100000, rate: {rps: 1000000, burst: 10000000}}
tenants: [{name: bench}]
sandboxes:
  - {name: bench, tenant: bench, uids: [$(id -u)], models: ["*"], max_concurrent: 100000, rate: {rps: 1000000, burst: 10000000}}
upstreams:
YAML
    printf '%smodels:\n%s%s\n' "$upstreams" "$models" "$receipts"
  } > "$file"
}
