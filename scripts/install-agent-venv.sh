#!/usr/bin/env bash
# The demo's sample agent runs inside the sandbox as UID 1000, which can read neither a Python under /root nor
# anything under the host's /tmp (the sandbox has its own): give it a virtual environment of the system Python,
# with the official SDKs, in a world-readable place outside /tmp.
set -euo pipefail
venv="${AGENT_VENV:-/opt/airlock-demo/venv}"
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$(dirname "$venv")"
  if ! /usr/bin/python3 -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    /usr/bin/python3 -m venv "$venv"
  fi
fi
if ! "$venv/bin/python" -c "import openai, anthropic, mcp.server.fastmcp" 2>/dev/null; then
  echo "installing the SDKs for the sandboxed demo agent into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check openai anthropic "mcp>=1.12,<2"
fi
chmod -R a+rX "$venv"
