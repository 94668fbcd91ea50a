#!/bin/sh
# The request path's JSON reading, before and after AirlockJSON, in one run (bench/json/main.swift says what it times).
# Builds with swiftc -O: AirlockJSON as its own module, as the router links it, and the router's JSONScanner as it
# was before it was replaced (from git, BASE defaults to the parent of the commit that deleted it) in the bench's
# own module, as it was in the router. Pass a number of rounds (default 15).
set -eu
cd "$(dirname "$0")/../.."
old=Sources/AirlockRouter/JSON/JSONScanner.swift
base="${BASE:-$(git rev-list -1 HEAD -- "$old")^}"
out="${JSON_BENCH_DIR:-$PWD/.build-json-bench}"
mkdir -p "$out"
git show "$base:$old" | sed 's/JSONScanner/LegacyJSONScanner/g' > "$out/LegacyJSONScanner.swift"
swiftc -O -wmo -parse-as-library -module-name AirlockJSON -emit-module -emit-module-path "$out/AirlockJSON.swiftmodule" \
  -emit-library -static -o "$out/libAirlockJSON.a" Sources/AirlockJSON/*.swift
swiftc -O -wmo -module-name JSONBench -I "$out" -L "$out" -lAirlockJSON -o "$out/json-bench" \
  bench/json/main.swift "$out/LegacyJSONScanner.swift"
exec "$out/json-bench" "$@"
