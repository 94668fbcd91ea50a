#!/usr/bin/env bash
# Installs what building and testing Airlock needs: Debian packages (C libraries, curl, setpriv) and a
# Python virtual environment with the official SDKs and pytest. Safe to run again: it skips what is there.
set -euo pipefail
venv="${1:-.venv}"
packages=(libseccomp-dev libcap-dev curl util-linux openssl systemd nftables iproute2)
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
if ! "$venv/bin/python" -c "import openai, anthropic, pytest, prometheus_client, yaml" 2>/dev/null; then
  echo "installing Python packages into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt
fi

# The demo's sample agent runs inside the sandbox as UID 1000, which cannot read a Python under /root:
# give it a virtual environment of the system Python with the SDKs.
if [ -x /usr/bin/python3 ] && [ ! -x .venv-agent/bin/python ]; then
  /usr/bin/python3 -m venv .venv-agent 2>/dev/null || { apt_install python3-venv; /usr/bin/python3 -m venv .venv-agent; }
fi
if [ -x .venv-agent/bin/python ] && ! .venv-agent/bin/python -c "import openai, anthropic" 2>/dev/null; then
  .venv-agent/bin/pip install -q --disable-pip-version-check openai anthropic
fi
