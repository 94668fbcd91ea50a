#!/bin/sh
# Builds and runs the receipt log benchmark in release mode. Pass options through, e.g. --records 200000.
# RECEIPTS_BENCH_BIN: an already built airlock-receipts-bench to run instead of building one.
set -eu
cd "$(dirname "$0")/../.."
bin="${RECEIPTS_BENCH_BIN:-}"
if [ -z "$bin" ]; then
  swift build -c release --product airlock-receipts-bench --scratch-path .build-release
  bin=.build-release/release/airlock-receipts-bench
fi
exec "$bin" --dir "${BENCH_DIR:-$PWD/.bench-receipts}" "$@"
