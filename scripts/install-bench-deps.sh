#!/usr/bin/env bash
# Installs what `make bench` needs on top of `make deps` (which brings the build's C libraries): Debian packages
# (wrk, h2load from nghttp2-client, nginx, bubblewrap, curl, gcc for the sandbox probes, pgrep from procps) and
# LiteLLM's proxy in its own virtual environment. Safe to run again: it skips what is there.
# Usage: scripts/install-bench-deps.sh [VENV]   (default .venv-bench)
set -euo pipefail
venv="${1:-.venv-bench}"
# A version that starts offline with the bench's config (see bench/compare/run.sh). Change it deliberately:
# LiteLLM's proxy options and start-up behaviour move between releases.
litellm_version="${LITELLM_VERSION:-1.106.2}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
updated=0
apt_update_once() {
  ((updated)) && return 0
  $sudo apt-get update -qq
  updated=1
}
# Debian 12 still ships nginx-light (core modules only, enough for return/proxy_pass); later releases only
# ship nginx. Ask apt which one it can install rather than guessing the release.
nginx_package() {
  local p
  for p in nginx-light nginx; do
    case "$(apt-cache policy "$p" 2>/dev/null)" in *"Candidate: "[0-9]*) echo "$p"; return 0 ;; esac
  done
  return 1
}
missing=()
for p in wrk nghttp2-client bubblewrap curl procps gcc; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  nginx_pkg="$(nginx_package || true)"
  if [ -z "$nginx_pkg" ]; then apt_update_once; nginx_pkg="$(nginx_package)"; fi
  missing+=("$nginx_pkg")
fi
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  apt_update_once
  # The nginx package starts a system-wide nginx on port 80 where services may start; the bench runs its own
  # instances, so keep the package from starting one (only with a policy file of our own, removed after).
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    own_policy=1
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  ((own_policy)) && $sudo rm -f "$policy"
  ((status == 0)) || exit "$status"
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; apt_update_once; $sudo apt-get install -y -qq python3-venv >/dev/null; python3 -m venv "$venv"; }
fi
if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" != "$litellm_version" ] \
   || ! "$venv/bin/python" -c 'import uvicorn, fastapi, backoff, yaml' 2>/dev/null; then
  echo "installing litellm[proxy]==$litellm_version into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "litellm[proxy]==$litellm_version"
fi
# A .pth file from litellm runs code at every Python start; no release of the proxy needs one (one that had it
# was a compromised upload). Refuse to benchmark with such an environment.
if compgen -G "$venv/lib/python*/site-packages/litellm*.pth" >/dev/null; then
  echo "install-bench-deps: $venv has a litellm .pth start-up hook; remove $venv and check the pinned version" >&2
  exit 1
fi
