#!/bin/sh
# Starts a throwaway PostgreSQL server (fsync on, loopback only, as nobody when run as root), builds the ledger
# benchmark in release mode and runs it against the server; options pass through (--seconds N, --concurrency N).
# LEDGER_BENCH_BIN: an already built airlock-ledger-bench to run instead of building one.
set -eu
cd "$(dirname "$0")/../.."
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbin/postgres" ] || { echo "PostgreSQL server binaries not found; run scripts/install-deps.sh" >&2; exit 1; }
bin="${LEDGER_BENCH_BIN:-}"
if [ -z "$bin" ]; then
  swift build -c release --product airlock-ledger-bench --scratch-path .build-release
  bin=.build-release/release/airlock-ledger-bench
fi
dir=$(mktemp -d /tmp/airlock-ledger-bench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_server=""
if [ "$(id -u)" -eq 0 ]; then
  chown nobody "$dir"
  as_server="setpriv --reuid=nobody --regid=nogroup --clear-groups"
fi
cleanup() {
  [ -n "${pid:-}" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
head -c 18 /dev/urandom | base64 > "$dir/password"
chmod 0600 "$dir/password"
cp "$dir/password" "$dir/server-password"
[ -z "$as_server" ] || chown nobody "$dir/server-password"
$as_server "$pgbin/initdb" -D "$dir/data" -U airlock --pwfile="$dir/server-password" --auth=scram-sha-256 \
  -E UTF8 --locale=C >/dev/null
$as_server "$pgbin/postgres" -D "$dir/data" -c listen_addresses=127.0.0.1 -c port="$port" \
  -c unix_socket_directories= -c max_connections=200 >"$dir/server.log" 2>&1 &
pid=$!
ready=""
for _ in $(seq 1 100); do
  if PGPASSWORD=$(cat "$dir/password") "$pgbin/psql" -h 127.0.0.1 -p "$port" -U airlock -d postgres -Atqc \
    'CREATE DATABASE airlock' >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { echo "PostgreSQL did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
"$bin" --port "$port" --password-file "$dir/password" --dir "$dir/journal" "$@"
