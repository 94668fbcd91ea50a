#!/usr/bin/env bash
# Seccomp cost: ns per getppid() in the sandbox with agent-strict.json vs the same sandbox without seccomp
# (same pid namespace, which getppid has to translate through), and outside; alternating, median of N runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${RUNS:-11}"
# AIRLOCK_STATIC_BIN: an already built --static-swift-stdlib release binary to use instead of building one.
AIRLOCK="${AIRLOCK_STATIC_BIN:-}"
if [ -z "$AIRLOCK" ]; then
  swift build -c release --static-swift-stdlib --product airlock --scratch-path .build-static >/dev/null
  AIRLOCK="$PWD/.build-static/release/airlock"
fi
WORKDIR="$(mktemp -d /tmp/airlock-bench-XXXX)"
chown 1000:1000 "$WORKDIR"
trap 'rm -rf "$WORKDIR"' EXIT
gcc -O2 -o "$WORKDIR/syscall_loop" bench/sandbox/syscall_loop.c
echo '{"seccompProfile": null}' > "$WORKDIR/no-seccomp.json"
for mode in getppid files; do
python3 - "$RUNS" "$AIRLOCK" "$WORKDIR" "$mode" <<'PY'
import statistics, subprocess, sys
runs, airlock, workdir, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
loop = [f"{workdir}/syscall_loop", mode]
outside, plain, filtered = [], [], []
run = lambda extra: float(subprocess.check_output([airlock, "run", "--no-router", *extra, "--workdir", workdir, "--", *loop], cwd=workdir, stderr=subprocess.DEVNULL))
for _ in range(runs):
    outside.append(float(subprocess.check_output(loop, cwd=workdir)))
    plain.append(run(["--policy", f"{workdir}/no-seccomp.json"]))
    filtered.append(run([]))
o, p, f = (statistics.median(v) for v in (outside, plain, filtered))
print(f"[{mode}] outside {o:.1f} ns/syscall; sandbox without seccomp {p:.1f}; sandbox with agent-strict {f:.1f}")
print(f"[{mode}] seccomp overhead {100 * (f - p) / p:+.1f}% (vs outside {100 * (f - o) / o:+.1f}%) (n={runs})")
PY
done
