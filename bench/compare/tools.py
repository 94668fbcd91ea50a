#!/usr/bin/env python3
"""Small helpers for bench/compare/run.sh; each subcommand prints one line (a number or a JSON object).

  free-port                 a free TCP port on 127.0.0.1
  wrk FILE                  wrk --latency output -> JSON (requests/s, requests, non-2xx, socket errors, p50/p99 µs)
  h2load LOG STDOUT         h2load --log-file rows + its summary -> JSON (p50/p99 µs, statuses, achieved rate)
  cpu PID                   CPU seconds (user + system) of PID and its live descendants, plus reaped children
  mem PID                   JSON {rss_kib, hwm_kib, processes}: VmRSS and VmHWM summed over PID and its descendants
"""
import json
import os
import re
import socket
import sys


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def to_us(text):
    """wrk prints 812.00us, 1.23ms, 1.02s, 2.00m."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[m.group(2)]


def percentile(sorted_values, q):
    """Nearest-rank percentile (q in 0..100) of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100)
    return sorted_values[int(rank) - 1]


def parse_wrk(path):
    text = open(path).read()
    out = {"non2xx": 0, "socket_errors": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", text)
    out["requests"] = int(m.group(1)) if m else 0
    out["duration_s"] = to_us(m.group(2) + m.group(3)) / 1e6 if m else 0.0
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    out["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(g) for g in m.groups())
        out["socket_detail"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    for label, key in (("50%", "p50_us"), ("99%", "p99_us")):
        m = re.search(rf"^\s+{re.escape(label)}\s+(\S+)", text, re.M)
        out[key] = to_us(m.group(1)) if m else None
    out["ok"] = out["requests"] > 0 and out["non2xx"] == 0 and out["socket_errors"] == 0
    print(json.dumps(out))


def parse_h2load(log_path, stdout_path):
    times, statuses = [], {}
    starts = []
    for line in open(log_path):
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        start_us, status, elapsed_us = int(fields[0]), int(fields[1]), int(fields[2])
        statuses[status] = statuses.get(status, 0) + 1
        if 200 <= status < 300:
            times.append(elapsed_us)
            starts.append(start_us)
    times.sort()
    text = open(stdout_path).read()
    out = {
        "requests": sum(statuses.values()),
        "succeeded": len(times),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_us": percentile(times, 50),
        "p90_us": percentile(times, 90),
        "p99_us": percentile(times, 99),
        "max_us": times[-1] if times else None,
    }
    # Achieved rate over the logged (measured) window: the first to the last request start.
    if len(starts) > 1:
        span = (max(starts) - min(starts)) / 1e6
        out["achieved_rps"] = (len(starts) - 1) / span if span > 0 else None
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        out["h2load"] = dict(zip(("total", "started", "done", "succeeded", "failed", "errored", "timeout"), map(int, m.groups())))
    failed = out["requests"] - out["succeeded"]
    if "h2load" in out:
        failed = max(failed, out["h2load"]["failed"] + out["h2load"]["errored"] + out["h2load"]["timeout"])
    out["errors"] = failed
    out["ok"] = out["succeeded"] > 0 and failed == 0
    print(json.dumps(out))


def children_map():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(pid):
    kids = children_map()
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(kids.get(p, []))
    return found


def cpu(pid):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for i, p in enumerate(tree(pid)):
        try:
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        # fields[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17 in proc(5) numbering.
        utime, stime, cutime, cstime = (int(fields[k - 3]) for k in (14, 15, 16, 17))
        total += utime + stime
        if i == 0:
            total += cutime + cstime
    print(f"{total / tick:.2f}")


def mem(pid):
    rss = hwm = count = 0
    for p in tree(pid):
        try:
            status = open(f"/proc/{p}/status").read()
        except OSError:
            continue
        count += 1
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1])
    print(json.dumps({"rss_kib": rss, "hwm_kib": hwm, "processes": count}))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "free-port":
        free_port()
    elif command == "wrk":
        parse_wrk(*args)
    elif command == "h2load":
        parse_h2load(*args)
    elif command == "cpu":
        cpu(int(args[0]))
    elif command == "mem":
        mem(int(args[0]))
    else:
        sys.exit(f"tools.py: unknown command {command}")


if __name__ == "__main__":
    main()
