#!/usr/bin/env python3
"""Opens N keep-alive connections to a server, sends one chat completion on each, reads the answers, then keeps
every connection open until --stop-file appears (or --max-hold seconds pass). Writes --ready-file once all
answers are in, so the caller can read the server's memory with N connections open; on stop it writes
--result-file with how many connections the server still had open (a server may close idle ones).
"""
import argparse
import json
import os
import re
import resource
import selectors
import socket
import sys
import time


def complete(buffer):
    """(status, done) for an HTTP/1.1 response in buffer."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None, False
    head = buffer[:end].decode("latin-1")
    status = int(head.split(None, 2)[1])
    body = buffer[end + 4:]
    m = re.search(r"^content-length:\s*(\d+)", head, re.I | re.M)
    if m:
        return status, len(body) >= int(m.group(1))
    if re.search(r"^transfer-encoding:\s*chunked", head, re.I | re.M):
        return status, body.endswith(b"0\r\n\r\n")
    return status, False


def write_json(path, value):
    with open(path + ".tmp", "w") as f:
        json.dump(value, f)
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--path", default="/v1/chat/completions")
    p.add_argument("--model", default="gpt-bench")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--ready-file", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--result-file", required=True)
    p.add_argument("--timeout", type=float, default=90.0, help="limit for opening and answering, seconds")
    p.add_argument("--max-hold", type=float, default=60.0, help="longest hold without a stop file, seconds")
    a = p.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    body = json.dumps({"model": a.model, "messages": [{"role": "user", "content": "one two three four five"}]}).encode()
    head = [f"POST {a.path} HTTP/1.1", f"Host: 127.0.0.1:{a.port}", "Content-Type: application/json",
            *a.header, f"Content-Length: {len(body)}", "", ""]
    request = "\r\n".join(head).encode() + body

    start = time.monotonic()
    deadline = start + a.timeout
    socks, failed = [], 0
    for _ in range(a.count):
        try:
            s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
            s.sendall(request)
            s.setblocking(False)
            socks.append(s)
        except OSError as e:
            failed += 1
            print(f"hold_conns: connect/send: {e}", file=sys.stderr)
        if time.monotonic() > deadline:
            break
    sel = selectors.DefaultSelector()
    buffers = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        buffers[s] = b""
    ok, statuses = 0, {}
    pending = len(socks)
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                buffers[s] += data
                status, done = complete(buffers[s])
            else:
                status, done = None, True  # closed before answering
            if done:
                sel.unregister(s)
                pending -= 1
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if status == 200:
                    ok += 1
                else:
                    failed += 1
    failed += pending
    answered = time.monotonic() - start
    write_json(a.ready_file, {"opened": len(socks), "ok": ok, "failed": failed, "statuses": statuses,
                              "seconds": round(answered, 2)})

    hold_until = time.monotonic() + a.max_hold
    while not os.path.exists(a.stop_file) and time.monotonic() < hold_until:
        time.sleep(0.1)
    still_open = 0
    for s in socks:
        try:
            still_open += 1 if s.recv(1, socket.MSG_PEEK) else 0  # data would be unexpected, but the socket is up
        except BlockingIOError:
            still_open += 1
        except OSError:
            pass
        s.close()
    write_json(a.result_file, {"opened": len(socks), "ok": ok, "failed": failed, "still_open": still_open})


if __name__ == "__main__":
    main()
