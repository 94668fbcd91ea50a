"""Infrastructure for the bounded fuzzers in test_fuzz.py: settings (seed and time budget), exact printing of
inputs, a raw loopback HTTP exchange, a scriptable hostile upstream, and a real router process in front of it.

Settings, all from the environment:
  AIRLOCK_FUZZ_SEED       the seed (default DEFAULT_SEED); every case derives its own generator from it
  AIRLOCK_FUZZ_SECONDS    the time budget of the whole fuzz file, shared equally by the four fuzzers (default 60)
  AIRLOCK_FUZZ_MAX_CASES  a cap on the cases of each fuzzer, whatever the time budget (default 100000)
  AIRLOCK_JSON_FUZZ_SECONDS  the JSON reader's differential fuzzer, which runs besides the four (default a third of
                          AIRLOCK_FUZZ_SECONDS: 20 s in `make test`, 200 s in `make fuzz`)
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from conftest import BINARY, socket_port, wait_for_file

DEFAULT_SEED = 20260105
SEED = int(os.environ.get("AIRLOCK_FUZZ_SEED", DEFAULT_SEED))
TOTAL_SECONDS = float(os.environ.get("AIRLOCK_FUZZ_SECONDS", "60"))
FUZZERS = 4
SECONDS_PER_FUZZER = TOTAL_SECONDS / FUZZERS
MAX_CASES = int(os.environ.get("AIRLOCK_FUZZ_MAX_CASES", "100000"))
JSON_SECONDS = float(os.environ.get("AIRLOCK_JSON_FUZZ_SECONDS", TOTAL_SECONDS / 3))
# Documents are cheap (about 10,000 a second): the JSON fuzzer has its own cap.
JSON_MAX_CASES = int(os.environ.get("AIRLOCK_JSON_FUZZ_MAX_CASES", "100000000"))

# Text a Swift process prints when it traps or crashes (runtime traps, the backtracer, a signal).
CRASH_MARKERS = (
    "Fatal error",
    "fatal error",
    "Program crashed",
    "Crash at",
    "Stack dump",
    "Current stack trace",
    "Thread 0 crashed",
    "Segmentation fault",
    "Illegal instruction",
    "Assertion failed",
    "Precondition failed",
    "Swift runtime failure",
)


def case_random(fuzzer: str, index: int) -> random.Random:
    """The generator of one case: a case is reproduced by (seed, fuzzer, index) alone, whatever ran before it."""
    return random.Random(f"{SEED}/{fuzzer}/{index}")


def cases(seconds: float = SECONDS_PER_FUZZER, limit: int = MAX_CASES):
    """Case indices until the time budget or the count cap runs out (at least one case)."""
    deadline = time.monotonic() + seconds
    index = 0
    while index < limit and (index == 0 or time.monotonic() < deadline):
        yield index
        index += 1


def literal(data: bytes) -> str:
    """`data` as an exact Python expression, with long repetitions written as `b'...' * n` so that a huge input
    stays readable: eval(literal(x)) == x."""
    parts: list[str] = []
    plain_start = 0
    i = 0
    n = len(data)
    while i < n:
        best = None  # (unit length, repetitions)
        for unit in range(1, 17):
            if i + unit * 8 > n:
                break
            piece = data[i : i + unit]
            if data[i : i + unit * 8] != piece * 8:
                continue
            count = 8
            while data[i + unit * count : i + unit * (count + 1)] == piece and i + unit * (count + 1) <= n:
                count += 1
            if unit * count >= 48 and (best is None or unit * count > best[0] * best[1]):
                best = (unit, count)
        if best is None:
            i += 1
            continue
        if plain_start < i:
            parts.append(repr(data[plain_start:i]))
        unit, count = best
        parts.append(f"{data[i : i + unit]!r} * {count}")
        i += unit * count
        plain_start = i
    if plain_start < n or not parts:
        parts.append(repr(data[plain_start:]))
    return " + ".join(parts)


def crash_text(text: str) -> str | None:
    """The first crash marker in a process's output, if any."""
    return next((marker for marker in CRASH_MARKERS if marker in text), None)


# ----------------------------------------------------------------------------------------------------------------
# A raw HTTP exchange with the router, over one loopback connection.


@dataclass
class Exchange:
    data: bytes
    closed: bool  # the peer closed (FIN or reset) before the deadline
    seconds: float
    connected: bool = True  # False: the connection was refused (nothing listens: the router is gone)

    def status(self) -> int | None:
        match = re.match(rb"HTTP/1\.[01] (\d{3}) ", self.data)
        return int(match.group(1)) if match else None


def exchange(port: int, pieces: list[bytes], *, pause: float = 0.0, half_close: bool = False, deadline: float = 15.0) -> Exchange:
    """Sends `pieces` (with `pause` seconds between them), optionally half-closes, then reads until the peer
    closes or `deadline` seconds have passed since connecting. A peer that closes while we are still sending is
    not an error: what it said before is read."""
    start = time.monotonic()
    data = bytearray()
    closed = False
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=deadline)
    except OSError:
        return Exchange(b"", True, time.monotonic() - start, connected=False)
    with sock:
        try:
            for index, piece in enumerate(pieces):
                if index and pause:
                    time.sleep(pause)
                sock.sendall(piece)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        while True:
            remaining = deadline - (time.monotonic() - start)
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(1 << 16)
            except socket.timeout:
                break
            except OSError:  # reset
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    return Exchange(bytes(data), closed, time.monotonic() - start)


# ----------------------------------------------------------------------------------------------------------------
# A hostile upstream: a loopback server that answers each request with the bytes scripted for its case.


@dataclass
class Script:
    """What the upstream does with one request: send `pieces` (with `pause` between them), then `end`:
    close, reset (RST), hang (wait `hang` seconds, then close) or keep (read the next request on the connection)."""

    pieces: list[bytes]
    pause: float = 0.0
    end: str = "close"
    hang: float = 0.0

    def __repr__(self) -> str:
        pieces = ", ".join(literal(piece) for piece in self.pieces)
        return f"Script(pieces=[{pieces}], pause={self.pause!r}, end={self.end!r}, hang={self.hang!r})"


@dataclass
class UpstreamRequest:
    head: bytes
    body: bytes

    @property
    def path(self) -> bytes:
        return self.head.split(b" ", 2)[1] if self.head.count(b" ") >= 2 else b""


class HostileUpstream:
    """Answers every request whose body contains `fuzzcase-<n>` with the script registered for case n, and any
    other request with `default(request)`. Listens on 127.0.0.1 only; one thread per connection."""

    MARKER = re.compile(rb"fuzzcase-(\d+)")

    def __init__(self, default):
        self.default = default
        self.scripts: dict[int, Script] = {}
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, name="hostile-upstream", daemon=True)
        self.thread.start()

    def script(self, case: int, script: Script):
        with self.lock:
            self.scripts[case] = script

    def forget(self, case: int):
        with self.lock:
            self.scripts.pop(case, None)

    def stop(self):
        self.stopping.set()
        self.listener.close()
        with self.lock:
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(timeout=5)

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        try:
            conn.settimeout(10)
            buffer = bytearray()
            while not self.stopping.is_set():
                request = read_request(conn, buffer)
                if request is None:
                    return
                match = self.MARKER.search(request.body)
                with self.lock:
                    script = self.scripts.get(int(match.group(1))) if match else None
                script = script or self.default(request)
                for index, piece in enumerate(script.pieces):
                    if index and script.pause:
                        time.sleep(script.pause)
                    conn.sendall(piece)
                if script.end == "keep":
                    continue
                if script.end == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                elif script.end == "hang":
                    self.stopping.wait(script.hang)
                return
        except OSError:
            pass
        finally:
            with self.lock:
                self.connections.discard(conn)
            conn.close()


def read_request(conn: socket.socket, buffer: bytearray) -> UpstreamRequest | None:
    """One HTTP/1.1 request (Content-Length or chunked body) from `conn`; None when the peer closed first."""

    def fill() -> bool:
        chunk = conn.recv(1 << 16)
        buffer.extend(chunk)
        return bool(chunk)

    while b"\r\n\r\n" not in buffer:
        if len(buffer) > 1 << 20 or not fill():
            return None
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    del buffer[:end]
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if length:
        size = int(length.group(1))
        while len(buffer) < size:
            if not fill():
                return None
        body = bytes(buffer[:size])
        del buffer[:size]
    elif re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        while b"\r\n0\r\n\r\n" not in buffer and not buffer.startswith(b"0\r\n\r\n"):
            if not fill():
                return None
        end = buffer.index(b"0\r\n\r\n") + 5 if buffer.startswith(b"0\r\n\r\n") else buffer.index(b"\r\n0\r\n\r\n") + 7
        body = bytes(buffer[:end])
        del buffer[:end]
    else:
        body = b""
    return UpstreamRequest(head, body)


# ----------------------------------------------------------------------------------------------------------------
# A real router process whose upstreams are a HostileUpstream.

ROUTER_CONFIG = """
version: 1
router:
  listeners:
    - tcp: 127.0.0.1:{router_port}
    - tcp: 127.0.0.1:{operator_port}
      role: operator
  state_directory: {state}
  allow_root: true
  drain_timeout: 2s
  limits:
    header_timeout: 1s
    idle_timeout: 1s
    max_concurrent: 1000
    max_connections_per_peer: 1000
    rate: {{rps: 100000, burst: 100000}}
tenants:
  - name: fuzz-team
    tokens_per_day: 2305843009213693951
sandboxes:
  - name: fuzz-agent
    tenant: fuzz-team
    uids: [{uid}]
    models: ["gpt-4o-mini", "claude-sonnet"]
    max_concurrent: 1000
    rate: {{rps: 100000, burst: 100000}}
    max_tokens: {{cap: 4096, on_exceed: clamp}}
upstreams:
  - name: hostile-openai
    kind: openai-compatible
    base_url: http://127.0.0.1:{upstream_port}
    credential: {{file: {key_file}}}
    timeouts: {{connect: 1s, response_headers: 1s, idle: 1s}}
    breaker: {{failures: 10000, window: 1s, cooldown: 1ms}}
  - name: hostile-anthropic
    kind: anthropic
    base_url: http://127.0.0.1:{upstream_port}
    credential: {{file: {key_file}}}
    timeouts: {{connect: 1s, response_headers: 1s, idle: 1s}}
    breaker: {{failures: 10000, window: 1s, cooldown: 1ms}}
models:
  - name: gpt-4o-mini
    api: openai
    targets: [{{upstream: hostile-openai}}]
  - name: claude-sonnet
    api: anthropic
    targets: [{{upstream: hostile-anthropic}}]
receipts:
  directory: {state}/receipts
  origin: {origin}
  signing_keys: [{signing_key}]
  checkpoint_every: 4
retry:
  attempts: 2
  base: 1ms
  cap: 5ms
  max_retry_after: 50ms
"""

ORIGIN = "airlock.test/fuzz"


class Router:
    """`airlock router` on loopback in front of `upstream_port`, with short timeouts so that every hostile answer
    is decided within seconds, and the receipt log on."""

    def __init__(self, directory: Path, upstream_port: int):
        self.directory = directory
        self.upstream_port = upstream_port
        self.key = "sk-fuzz-" + os.urandom(12).hex()
        key_file = directory / "provider.key"
        key_file.write_text(self.key)
        key_file.chmod(0o600)
        subprocess.run(
            [str(BINARY), "receipts", "keygen", "--name", ORIGIN, "--out", str(directory / "signing")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.public_key = directory / "signing.pub"
        self.receipts = directory / "state" / "receipts"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self):
        with socket_port() as router_port, socket_port() as operator_port:
            pass
        self.port = router_port
        self.operator_url = f"http://127.0.0.1:{operator_port}"
        config = self.directory / "airlock.yaml"
        config.write_text(
            ROUTER_CONFIG.format(
                router_port=router_port,
                operator_port=operator_port,
                state=self.directory / "state",
                uid=os.getuid(),
                upstream_port=self.upstream_port,
                key_file=self.directory / "provider.key",
                origin=ORIGIN,
                signing_key=self.directory / "signing.key",
            )
        )
        self.starts += 1
        ready = self.directory / f"ready-{self.starts}.json"
        self.log = self.directory / f"router-{self.starts}.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [str(BINARY), "router", "--config", str(config), "--ready-file", str(ready), "--log-level", "warning"],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        wait_for_file(ready, self.process)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM and wait (the router drains and writes its last checkpoint); the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def healthz(self) -> bool:
        try:
            with urllib.request.urlopen(self.operator_url + "/healthz", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def in_flight(self) -> float | None:
        try:
            with urllib.request.urlopen(self.operator_url + "/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return None
        for family in text_string_to_metric_families(text):
            if family.name == "airlock_requests_in_flight":
                return sum(sample.value for sample in family.samples)
        return None

    def settle(self, seconds: float = 5.0) -> float | None:
        """Waits up to `seconds` for requests in flight to drop to 0; the last value read."""
        deadline = time.monotonic() + seconds
        while True:
            value = self.in_flight()
            if value == 0 or time.monotonic() >= deadline:
                return value
            time.sleep(0.05)

    def problems(self) -> list[str]:
        """What is wrong with the router after a batch: dead, not healthy, or requests left in flight."""
        if not self.alive():
            return [f"the router died (exit status {self.process.returncode}); its log ends:\n{self.log_tail()}"]
        if not self.healthz():
            return ["/healthz on the operator listener did not answer 200"]
        value = self.settle()
        if value != 0:
            return [f"airlock_requests_in_flight is {value} 5 s after every request ended (expected 0)"]
        return []


@dataclass
class Workspace:
    """A temporary directory, removed at the end unless a failure asks to keep it."""

    prefix: str
    keep: bool = False
    path: Path = field(init=False)

    def __post_init__(self):
        self.path = Path(tempfile.mkdtemp(prefix=self.prefix))

    def close(self):
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------------------
# What the router sent an agent on one connection, checked as HTTP/1.1.

HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\t\x20-\x7e\x80-\xff]*)")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: [\t\x20-\x7e\x80-\xff]*)?")


def parse_responses(data: bytes, *, first_only: bool = False) -> tuple[list[int], str | None]:
    """Splits the bytes the router sent on one connection into HTTP/1.1 responses. Returns their statuses (interim
    ones included) and what is malformed, or None. A response cut short at the very end is not malformed: the
    router closes the connection when its upstream broke off mid-body, so the agent sees an incomplete answer."""
    statuses: list[int] = []
    rest = data
    while rest:
        end = rest.find(b"\r\n\r\n")
        if end < 0:
            return statuses, f"a response head that never ends: {rest[:300]!r}"
        lines = rest[:end].split(b"\r\n")
        rest = rest[end + 4 :]
        status_line = STATUS_LINE.fullmatch(lines[0])
        if not status_line:
            return statuses, f"not an HTTP/1.1 status line with a status 100-599: {lines[0][:300]!r}"
        status = int(status_line.group(1))
        statuses.append(status)
        headers: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            header = HEADER_LINE.fullmatch(line)
            if not header:
                return statuses, f"a malformed header line: {line[:300]!r}"
            headers.setdefault(header.group(1).lower(), []).append(header.group(2).strip())
        if first_only:
            return statuses, None
        if status < 200:
            continue
        lengths = headers.get(b"content-length", [])
        encodings = headers.get(b"transfer-encoding", [])
        if len(lengths) > 1 or (lengths and encodings):
            return statuses, f"ambiguous framing: content-length {lengths}, transfer-encoding {encodings}"
        if status in (204, 304):
            continue
        if encodings:
            if encodings != [b"chunked"]:
                return statuses, f"transfer-encoding {encodings}"
            while True:
                line_end = rest.find(b"\r\n")
                if line_end < 0:
                    return statuses, None  # cut short
                size_text = rest[:line_end].split(b";")[0]
                if not re.fullmatch(rb"[0-9a-fA-F]{1,16}", size_text):
                    return statuses, f"a malformed chunk size line: {rest[:line_end][:300]!r}"
                size = int(size_text, 16)
                rest = rest[line_end + 2 :]
                if size == 0:
                    if not rest:
                        return statuses, None  # cut short before the final CRLF
                    if not rest.startswith(b"\r\n"):
                        return statuses, f"trailers or garbage after the last chunk: {rest[:300]!r}"
                    rest = rest[2:]
                    break
                if len(rest) < size + 2:
                    return statuses, None  # cut short
                if rest[size : size + 2] != b"\r\n":
                    return statuses, f"a chunk of {size} bytes not followed by CRLF: {rest[size : size + 40]!r}"
                rest = rest[size + 2 :]
        elif lengths:
            if not lengths[0].isdigit():
                return statuses, f"content-length {lengths[0]!r}"
            size = int(lengths[0])
            if len(rest) < size:
                return statuses, None  # cut short
            rest = rest[size:]
        else:
            rest = b""  # delimited by the close
    return statuses, None
