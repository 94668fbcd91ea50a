#!/usr/bin/env bash
# Installs what building and testing Airlock needs: Debian packages (C libraries, curl, setpriv) and a
# Python virtual environment with the official SDKs and pytest. Safe to run again: it skips what is there.
# postgresql: the shared-ledger tests and bench start throwaway servers from its binaries (as nobody under root);
# Debian starts its own cluster on install, which nothing here uses.
set -euo pipefail
venv="${1:-.venv}"
packages=(libseccomp-dev libcap-dev curl util-linux openssl systemd nftables iproute2 postgresql)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_install() {
  echo "installing Debian packages: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  apt_install "${missing[@]}"
fi
if [ ! -x "$venv/bin/python" ]; then
  # A Debian python3 ships venv separately; a pyenv or upstream build has it built in.
  python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; apt_install python3-venv; python3 -m venv "$venv"; }
fi
if ! "$venv/bin/python" -c "import openai, anthropic, mcp.server.fastmcp, pytest, prometheus_client, yaml" 2>/dev/null; then
  echo "installing Python packages into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt
fi

