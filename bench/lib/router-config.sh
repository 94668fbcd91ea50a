# Sourced by the bench scripts: the router configuration they all use, so every contender and every A/B build
# is configured alike (limits opened up so the router's own admission never throttles the load generator).

# bench_receipts DURABILITY DIRECTORY ORIGIN SIGNING_KEY: the `receipts:` line (DURABILITY off disables receipts).
bench_receipts() {
  if [ "$1" = off ]; then
    echo "receipts: {enabled: false}"
  else
    echo "receipts: {directory: $2, origin: $3, signing_keys: [$4], durability: $1}"
  fi
}

# bench_router_yaml FILE PORT STATE_DIR KEY_FILE RECEIPTS_LINE MODEL=URL...: writes a router configuration
# listening on 127.0.0.1:PORT with one openai-compatible upstream per MODEL=URL route, all using KEY_FILE.
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
