#!/usr/bin/env bash
# Startup: `airlock run -- /bin/true` vs bubblewrap, alternating, median of N runs each (release build, as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${RUNS:-25}"
# AIRLOCK_STATIC_BIN: an already built --static-swift-stdlib release binary to use instead of building one.
AIRLOCK="${AIRLOCK_STATIC_BIN:-}"
if [ -z "$AIRLOCK" ]; then
  swift build -c release --static-swift-stdlib --product airlock --scratch-path .build-static >/dev/null
  AIRLOCK="$PWD/.build-static/release/airlock"
fi
WORKDIR="$(mktemp -d /tmp/airlock-bench-XXXX)"
chown 1000:1000 "$WORKDIR"
trap 'rm -rf "$WORKDIR"' EXIT
python3 - "$RUNS" "$AIRLOCK" "$WORKDIR" <<'PY'
import statistics, subprocess, sys, time
runs, airlock, workdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
commands = {
    "airlock": [airlock, "run", "--no-router", "--workdir", workdir, "--", "/bin/true"],
    "bwrap": ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
              "--die-with-parent", "--new-session", "--cap-drop", "ALL", "/bin/true"],
}
times = {name: [] for name in commands}
for name, cmd in commands.items():  # warm-up
    subprocess.run(cmd, check=True, cwd=workdir)
for _ in range(runs):
    for name, cmd in commands.items():
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=workdir)
        times[name].append((time.perf_counter() - start) * 1000)
for name, values in times.items():
    print(f"{name:8s} median {statistics.median(values):6.2f} ms  min {min(values):6.2f}  max {max(values):6.2f}  (n={runs})")
PY
