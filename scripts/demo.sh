#!/usr/bin/env bash
# `make demo`: the router in front of the embedded mock upstream, and a sample agent that calls it the way an
# agent in the sandbox would — plain HTTP and the official SDKs — holding no provider key.
set -euo pipefail
bin="${1:-.build/debug/airlock}"
python="${2:-.venv/bin/python}"
agent_python="${3:-/opt/airlock-demo/venv/bin/python}"
work=/tmp/airlock-demo
config=policies/demo.yaml

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  for pid in ${router_pid:-} ${mock_pid:-} ${mirror_pid:-} ${tools_pid:-}; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

for port in 8443 9901 9902 9903; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: 127.0.0.1:$port is already in use; stop what listens there (an earlier demo?) and retry." >&2
    exit 1
  fi
done

rm -rf "$work" && mkdir -p "$work"
# The provider "key" the router injects. The agent never sees this file or its contents.
key="sk-demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$key" > "$work/openai.key"
cp "$work/openai.key" "$work/anthropic.key"
tools_token="tools-demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$tools_token" > "$work/tools.key"
chmod 600 "$work"/*.key

bold "Making the receipt log's checkpoint signing key"
"$bin" receipts keygen --name airlock.demo/receipts --out "$work/receipts-signing"

bold "Checking the demo policy"
"$bin" policy check "$config"

bold "Starting the mock upstream on 127.0.0.1:9901 (it requires the provider key)"
"$bin" mock-upstream --port 9901 --port-file "$work/mock.port" --require-key-file "$work/openai.key" \
  2>"$work/mock.log" &
mock_pid=$!
for _ in $(seq 100); do [ -s "$work/mock.port" ] && break; sleep 0.05; done

bold "Starting the package mirror on 127.0.0.1:9902 (static index pages only; the sandbox may reach this port alone)"
"$python" -m http.server 9902 --bind 127.0.0.1 --directory demo/mirror 2>"$work/mirror.log" >&2 &
mirror_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9902) 2>/dev/null && break; sleep 0.05; done

bold "Starting an MCP tool server on 127.0.0.1:9903 (FastMCP; it logs what it receives)"
"$python" tests/python/mcp_server.py --port 9903 --log "$work/tools.log" 2>"$work/tools.err" &
tools_pid=$!
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/9903) 2>/dev/null && break; sleep 0.05; done

bold "Starting the router on 127.0.0.1:8443 and $work/router.sock"
# The router reads the keys and binds as root, then drops every thread to `nobody` before serving.
mkdir -p "$work/run" && chmod 1777 "$work/run"
"$bin" router --config "$config" --user nobody --ready-file "$work/run/ready.json" 2>"$work/router.log" &
router_pid=$!
for _ in $(seq 200); do [ -s "$work/run/ready.json" ] && break; sleep 0.05; done
[ -s "$work/run/ready.json" ] || { cat "$work/router.log" >&2; exit 1; }
cat "$work/run/ready.json"
echo "  router process runs as: $(ps -o user= -p "$router_pid")"

bold "Running the sample agent inside the sandbox (UID 480000, owning nothing on the host; own namespaces, seccomp, Landlock, no key)"
# The agent's script goes into its workdir. The sandbox shows only an allowlist of the host (/usr, a curated /etc);
# policies/sandbox/demo-agent.json adds the agent's virtual environment read-only.
mkdir -p "$work/work" && cp demo/agent.py "$work/work/agent.py" && chown -R 480000:480000 "$work/work"
"$bin" run --sandbox demo-agent --policy policies/sandbox/demo-agent.json --control "$work/control.sock" --uid 480000 --gid 480000 --workdir "$work/work" \
  -- "$agent_python" "$work/work/agent.py"

bold "What the upstream received (the router injected the key; the agent's placeholder never left)"
"$python" - "$key" <<'PY'
import json, sys, urllib.request
key = sys.argv[1]
seen = json.load(urllib.request.urlopen("http://127.0.0.1:9901/__mock/requests", timeout=5))
injected = sum(1 for r in seen if key in (r["headers"].get("authorization", "") + r["headers"].get("x-api-key", "")))
leaked = sum(1 for r in seen if "airlock-injects-the-key" in json.dumps(r["headers"]))
print(f"  upstream requests: {len(seen)}; carrying the router's key: {injected}; carrying the agent's placeholder: {leaked}")
assert injected == len(seen) and leaked == 0
PY

bold "What the tool server received (the router's token on every request; the forbidden tool never arrived)"
"$python" - "$tools_token" "$work/tools.log" <<'PY'
import json, sys
token, log = sys.argv[1], sys.argv[2]
seen = [json.loads(line) for line in open(log)]
calls = [entry.get("tool") for entry in seen if entry.get("rpc") == "tools/call"]
print(f"  MCP requests: {len(seen)}; carrying the router's token: {sum(e['authorization'] == 'Bearer ' + token for e in seen)}; tools called: {calls}")
assert all(e["authorization"] == "Bearer " + token for e in seen) and calls == ["add"]
PY

bold "Stopping the router with SIGTERM (drains, exits 0)"
kill -TERM "$router_pid"
wait "$router_pid" && echo "  router exited 0"
router_pid=
bold "Verifying the receipt log offline, as an auditor would"
"$bin" receipts verify "$work/receipts" --key "$work/receipts-signing.pub"

bold "The receipts themselves (no prompt or completion text, only digests)"
"$bin" receipts export "$work/receipts" --from 2 --to 6

echo
echo "Demo complete. Logs: $work/router.log, $work/mock.log, $work/mirror.log"
