#!/bin/sh
# Builds and runs the receipt log benchmark in release mode. Pass options through, e.g. --records 200000.
set -eu
cd "$(dirname "$0")/../.."
swift build -c release --product airlock-receipts-bench --scratch-path .build-release
exec .build-release/release/airlock-receipts-bench --dir "${BENCH_DIR:-$PWD/.bench-receipts}" "$@"
