#!/usr/bin/env bash
# What the sandbox costs a syscall-heavy worker, as root: RUNS=7 bench/sandbox/seccomp_cost.sh
#
#   getppid  the cheapest syscall, so only the fixed cost of entering the kernel with a seccomp filter shows
#   files    stat, open, read, close of a small file and a write to /dev/null: what agent tooling does all day
#   agent    a shell loop of git status, python3 -c, grep -r and ls (agent_loop.sh), timed from inside
#
# Each runs outside, and in the sandbox without seccomp, with a filter that allows everything (the cost of having a
# filter at all) and with agent-strict.json, alternating, median of RUNS. Then, outside the sandbox, one mechanism at
# a time (isolation_parts.c): which part of the difference comes from where.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (namespaces, a workdir owned by UID 1000); run it as root, or SKIP_SANDBOX=1 for make bench" >&2; exit 1; }
RUNS="${RUNS:-7}"
# AIRLOCK_STATIC_BIN: an already built --static-swift-stdlib release binary to use instead of building one.
AIRLOCK="${AIRLOCK_STATIC_BIN:-}"
if [ -z "$AIRLOCK" ]; then
  swift build -c release --static-swift-stdlib --product airlock --scratch-path .build-static >/dev/null
  AIRLOCK="$PWD/.build-static/release/airlock"
fi
WORKDIR="$(mktemp -d /tmp/airlock-bench-XXXX)"
trap 'rm -rf "$WORKDIR"' EXIT
gcc -O2 -o "$WORKDIR/syscall_loop" bench/sandbox/syscall_loop.c
gcc -O2 -o "$WORKDIR/isolation_parts" bench/sandbox/isolation_parts.c
cp bench/sandbox/agent_loop.sh "$WORKDIR/"
echo '{"seccompProfile": null}' >"$WORKDIR/no-seccomp.json"
echo '{"defaultAction": "SCMP_ACT_ALLOW"}' >"$WORKDIR/allow-all-profile.json"
echo "{\"seccompProfile\": \"$WORKDIR/allow-all-profile.json\"}" >"$WORKDIR/allow-all.json"
chown -R 1000:1000 "$WORKDIR"
# agent-strict exactly as the launcher compiles it, for isolation_parts: the program is what follows the 92-byte
# header of a cache entry (Sources/AirlockSandbox/Seccomp/SeccompCache.swift).
"$AIRLOCK" run --no-router --seccomp-cache "$WORKDIR/cache" --workdir "$WORKDIR" -- /bin/true
tail -c +93 "$WORKDIR"/cache/*.bpf >"$WORKDIR/agent-strict.bpf"
python3 - "$RUNS" "$AIRLOCK" "$WORKDIR" <<'PY'
import statistics, subprocess, sys
runs, airlock, w = int(sys.argv[1]), sys.argv[2], sys.argv[3]
as_worker = ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "env", f"HOME={w}"]
sandbox = lambda policy: [airlock, "run", "--no-router", *policy, "--workdir", w, "--"]
places = {
    "outside": lambda cmd: as_worker + cmd,
    "no seccomp": lambda cmd: sandbox(["--policy", f"{w}/no-seccomp.json"]) + cmd,
    "allow-all filter": lambda cmd: sandbox(["--policy", f"{w}/allow-all.json"]) + cmd,
    "agent-strict": lambda cmd: sandbox([]) + cmd,
}
parts = {
    "namespaces": "namespaces", "landlock": "landlock", "allow-all filter": "seccomp-allow",
    "agent-strict": f"seccomp={w}/agent-strict.bpf",
}
def measure(variants, cmd):
    samples = {name: [] for name in variants}
    for _ in range(runs):
        for name, wrap in variants.items():
            samples[name].append(float(subprocess.check_output(wrap(cmd), cwd=w, stderr=subprocess.DEVNULL)))
    return {name: statistics.median(v) for name, v in samples.items()}
pct = lambda a, b: f"{100 * (a - b) / b:+.1f}%"
for mode, unit, cmd in [("getppid", "ns/syscall", [f"{w}/syscall_loop", "getppid"]),
                        ("files", "ns/syscall", [f"{w}/syscall_loop", "files"]),
                        ("agent", "us/iteration", ["/bin/sh", f"{w}/agent_loop.sh", "10", w])]:
    m = measure(places, cmd)
    o, n, a, s = m["outside"], m["no seccomp"], m["allow-all filter"], m["agent-strict"]
    print(f"[{mode}] {unit}, median of {runs}: outside {o:.1f}; sandbox without seccomp {n:.1f}, "
          f"with an allow-all filter {a:.1f}, with agent-strict {s:.1f}")
    print(f"[{mode}] agent-strict vs no seccomp {pct(s, n)} (any filter at all {pct(a, n)}, "
          f"agent-strict's rules on top {pct(s, a)}); sandbox with agent-strict vs outside {pct(s, o)}")
    if mode == "agent":
        continue
    one = measure({"none": lambda c: [f"{w}/isolation_parts", "none", w, "--"] + c,
                   **{name: (lambda p: lambda c: [f"{w}/isolation_parts", p, w, "--"] + c)(p) for name, p in parts.items()}},
                  cmd)
    print(f"[{mode}] one mechanism at a time, outside the sandbox: "
          + ", ".join(f"{name} {pct(v, one['none'])}" for name, v in one.items() if name != "none"))
PY
echo "(sandbox runs use --no-router: the router hand-off is not part of the syscall cost)"
