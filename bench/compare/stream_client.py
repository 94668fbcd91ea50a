#!/usr/bin/env python3
"""Streaming chat completions, one after another on one keep-alive connection (reopened only if the server
closes it). Per request: time to the first SSE `data:` bytes (from just before sending), total time to the end
of the response, and when each SSE event arrived, to check that events are passed on as the upstream produces
them (the mock upstream pauses --delay-ms between events; a buffering proxy would deliver them together).

Prints one JSON object: percentiles over the requests, plus the spread from the first to the last content event
and the median gap between events, to compare with (chunks - 1) x delay. Raw per-request rows go to --raw.
"""
import argparse
import json
import re
import socket
import statistics
import sys
import time

from tools import percentile

EVENT_END = re.compile(rb"\r?\n\r?\n")


class Connection:
    def __init__(self, host, port, timeout):
        self.address = (host, port)
        self.timeout = timeout
        self.sock = None
        self.buffer = b""

    def open(self):
        self.close()
        self.sock = socket.create_connection(self.address, timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def fill(self):
        """Reads what is there; returns the time it arrived (ns)."""
        data = self.sock.recv(65536)
        now = time.perf_counter_ns()
        if not data:
            raise EOFError("server closed the connection")
        self.buffer += data
        return now


def one_request(conn, request):
    """Sends one request; returns (status, ttfb_ns, total_ns, event_times_ns, keep_alive)."""
    if conn.sock is None:
        conn.open()
    start = time.perf_counter_ns()
    conn.sock.sendall(request)
    while b"\r\n\r\n" not in conn.buffer:
        conn.fill()
    head, conn.buffer = conn.buffer.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    keep_alive = headers.get("connection") != "close"

    pending = bytearray()    # decoded body not yet split into SSE events
    first_data = None
    events = []              # arrival time of each complete `data:` event other than [DONE]
    arrived = time.perf_counter_ns()

    def feed(chunk, at):
        nonlocal first_data
        pending.extend(chunk)
        if first_data is None and b"data:" in pending:
            first_data = at
        while (m := EVENT_END.search(pending)) is not None:
            event = bytes(pending[:m.start()])
            del pending[:m.end()]
            data = [l[5:].strip() for l in event.splitlines() if l.startswith(b"data:")]
            if data and data != [b"[DONE]"]:
                events.append(at)

    if headers.get("transfer-encoding") == "chunked":
        while True:
            while b"\r\n" not in conn.buffer:
                arrived = conn.fill()
            size_line, rest = conn.buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                arrived = conn.fill()
                size_line, rest = conn.buffer.split(b"\r\n", 1)
            if size == 0:
                # Zero chunk: skip optional trailers up to the blank line.
                while b"\r\n" not in rest:
                    arrived = conn.fill()
                    rest = conn.buffer.split(b"\r\n", 1)[1]
                conn.buffer = rest.split(b"\r\n", 1)[1]
                break
            feed(rest[:size], arrived)
            conn.buffer = rest[size + 2:]
    elif "content-length" in headers:
        remaining = int(headers["content-length"])
        while True:
            take = conn.buffer[:remaining]
            conn.buffer = conn.buffer[remaining:]
            remaining -= len(take)
            if take:
                feed(take, arrived)
            if remaining == 0:
                break
            arrived = conn.fill()
    else:
        keep_alive = False
        try:
            while True:
                if conn.buffer:
                    feed(conn.buffer, arrived)
                    conn.buffer = b""
                arrived = conn.fill()
        except EOFError:
            pass
    end = time.perf_counter_ns()
    if not keep_alive:
        conn.close()
    ttfb = (first_data - start) if first_data is not None else None
    return status, ttfb, end - start, [t - start for t in events], keep_alive


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/v1/chat/completions")
    p.add_argument("--model", default="gpt-stream")
    p.add_argument("--header", action="append", default=[], help="extra request header, 'Name: value'")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--chunks", type=int, required=True, help="content events the upstream sends")
    p.add_argument("--delay-ms", type=float, required=True, help="the upstream's pause between events")
    p.add_argument("--timeout", type=float, default=30.0, help="socket timeout per read, seconds")
    p.add_argument("--raw", help="append one JSON row per request here")
    a = p.parse_args()

    body = json.dumps({"model": a.model, "stream": True,
                       "messages": [{"role": "user", "content": "one two three four five"}]}).encode()
    head = [f"POST {a.path} HTTP/1.1", f"Host: {a.host}:{a.port}", "Content-Type: application/json",
            "Accept: text/event-stream", *a.header, f"Content-Length: {len(body)}", "", ""]
    request = "\r\n".join(head).encode() + body

    conn = Connection(a.host, a.port, a.timeout)
    raw = open(a.raw, "a") if a.raw else None
    ttfbs, totals, spreads, gaps, event_counts = [], [], [], [], []
    errors, reconnects = 0, 0
    deadline = time.monotonic() + max(60.0, a.requests * (a.chunks * a.delay_ms / 1000 + 1) * 3)
    for i in range(a.requests):
        if time.monotonic() > deadline:
            print(f"stream_client: gave up after {i} requests (time limit)", file=sys.stderr)
            errors += a.requests - i
            break
        try:
            status, ttfb, total, events, keep_alive = one_request(conn, request)
        except (OSError, EOFError, ValueError, IndexError) as e:
            print(f"stream_client: request {i}: {e}", file=sys.stderr)
            errors += 1
            conn.close()
            continue
        reconnects += 0 if keep_alive else 1
        ok = status == 200 and ttfb is not None and events
        if raw:
            raw.write(json.dumps({"i": i, "status": status, "ttfb_us": ttfb and ttfb / 1e3, "total_us": total / 1e3,
                                  "events_us": [round(t / 1e3) for t in events]}) + "\n")
        if not ok:
            errors += 1
            continue
        ttfbs.append(ttfb / 1e3)
        totals.append(total / 1e3)
        event_counts.append(len(events))
        spreads.append((events[-1] - events[0]) / 1e3)
        gaps.extend((b - a_) / 1e3 for a_, b in zip(events, events[1:]))
    conn.close()
    expected_spread_us = max(0, a.chunks - 1) * a.delay_ms * 1e3
    spread_median = statistics.median(spreads) if spreads else None
    ttfbs.sort()
    totals.sort()
    out = {
        "requests": a.requests,
        "succeeded": len(ttfbs),
        "errors": errors,
        "reconnects": reconnects,
        "ttfb_p50_us": percentile(ttfbs, 50),
        "ttfb_p99_us": percentile(ttfbs, 99),
        "total_p50_us": percentile(totals, 50),
        "total_p99_us": percentile(totals, 99),
        "events_median": statistics.median(event_counts) if event_counts else None,
        "spread_median_us": spread_median,
        "expected_spread_us": expected_spread_us,
        "gap_median_us": statistics.median(gaps) if gaps else None,
        # Passed on as produced: the first-to-last event spread keeps at least half the upstream's pauses.
        "incremental": bool(spread_median is not None and spread_median >= 0.5 * expected_spread_us),
    }
    out["ok"] = errors == 0 and out["succeeded"] > 0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
