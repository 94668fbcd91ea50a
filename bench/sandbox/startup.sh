#!/usr/bin/env bash
# Startup: `airlock run -- /bin/true` vs bubblewrap, alternating, median of N runs each (release build, as root):
#   RUNS=21 bench/sandbox/startup.sh
# bubblewrap gets a comparable isolation set: the same allowlisted root view (every entry `airlock policy explain`
# prints: /usr, the merged-usr links, the curated /etc), an empty /run, a private /tmp, /dev, /proc, the workdir
# read-write, all namespaces, a new session and no capabilities. It has no Landlock and no seccomp filter here.
# airlock runs with --no-router: handing the listeners to a router is not part of the comparison (bubblewrap has
# nothing like it). Its seccomp program comes from the cache, which the warm-up run fills; the third row compiles
# the profile on every launch instead (--no-seccomp-cache), to show what the cache saves.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (namespaces, a workdir owned by the worker UID 480000); run it as root, or SKIP_SANDBOX=1 for make bench" >&2; exit 1; }
command -v bwrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }
RUNS="${RUNS:-25}"
# AIRLOCK_STATIC_BIN: an already built --static-swift-stdlib release binary to use instead of building one.
AIRLOCK="${AIRLOCK_STATIC_BIN:-}"
if [ -z "$AIRLOCK" ]; then
  swift build -c release --static-swift-stdlib --product airlock --scratch-path .build-static >/dev/null
  AIRLOCK="$PWD/.build-static/release/airlock"
fi
WORKDIR="$(mktemp -d /tmp/airlock-bench-XXXX)"
chown 480000:480000 "$WORKDIR"
chmod 755 "$WORKDIR"  # bubblewrap enters it as root without CAP_DAC_OVERRIDE
trap 'rm -rf "$WORKDIR"' EXIT
python3 - "$RUNS" "$AIRLOCK" "$WORKDIR" <<'PY'
import os, statistics, subprocess, sys, time
runs, airlock, workdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
launch = [airlock, "run", "--no-router", "--workdir", workdir]
# The view airlock builds, entry by entry, given to bubblewrap the same way.
explain = subprocess.run([airlock, "policy", "explain", "--workdir", workdir], capture_output=True, text=True,
                         check=True, cwd=workdir).stdout
view = []
for line in explain.splitlines():
    fields = line.split()
    if len(fields) >= 3 and fields[1] == "->" and fields[0].startswith("/"):
        view += ["--symlink", fields[2], fields[0]]
    elif len(fields) >= 2 and fields[0].startswith("/") and fields[1] == "host's,":
        view += ["--ro-bind", fields[0], fields[0]]
    elif line.endswith("written by the launcher") and os.path.exists(fields[0]):
        view += ["--ro-bind", fields[0], fields[0]]  # the host's file, where airlock writes its own
assert "--ro-bind" in view and "/usr" in view, explain
commands = {
    "airlock": launch + ["--", "/bin/true"],
    "bwrap": ["bwrap", *view, "--tmpfs", "/run", "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc",
              "--bind", workdir, workdir, "--chdir", workdir, "--remount-ro", "/", "--unshare-all",
              "--die-with-parent", "--new-session", "--cap-drop", "ALL", "/bin/true"],
    "airlock, profile compiled": launch + ["--no-seccomp-cache", "--", "/bin/true"],
}
times = {name: [] for name in commands}
for name, cmd in commands.items():  # warm-up; fills the seccomp cache
    subprocess.run(cmd, check=True, cwd=workdir)
for _ in range(runs):
    for name, cmd in commands.items():
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=workdir)
        times[name].append((time.perf_counter() - start) * 1000)
for name, values in times.items():
    print(f"{name:26s} median {statistics.median(values):6.2f} ms  min {min(values):6.2f}  max {max(values):6.2f}  (n={runs})")
print("(airlock: --no-router, the router hand-off is not part of the comparison; seccomp program from the cache"
      " unless the row says otherwise)")
PY
