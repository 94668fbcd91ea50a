"""Fixtures that run the real `airlock` binary: a mock upstream and a router in front of it, on loopback."""

import json
import os
import secrets
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("AIRLOCK_BIN", ROOT / ".build" / "debug" / "airlock"))


def wait_for_file(path: Path, process: subprocess.Popen, seconds: float = 20.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[1]} exited with {process.returncode}")
        time.sleep(0.05)
    raise TimeoutError(f"{path} did not appear within {seconds}s")


CONFIG = """
version: 1
router:
  listeners:
    - tcp: 127.0.0.1:{router_port}
    - tcp: 127.0.0.1:{operator_port}
      role: operator
  state_directory: {state}
  allow_root: true
tenants:
  - name: sdk-team
    tokens_per_day: 1000000
sandboxes:
  - name: sdk-agent
    tenant: sdk-team
    uids: [{uid}]
    models: ["gpt-4o-mini", "claude-sonnet"]
    rate: {{rps: 1000, burst: 1000}}
upstreams:
  - name: mock-openai
    kind: openai-compatible
    base_url: http://127.0.0.1:{mock_port}
    credential: {{file: {key_file}}}
  - name: mock-anthropic
    kind: anthropic
    base_url: http://127.0.0.1:{mock_port}
    credential: {{file: {key_file}}}
models:
  - name: gpt-4o-mini
    api: openai
    targets: [{{upstream: mock-openai}}]
  - name: embed-small
    api: openai
    targets: [{{upstream: mock-openai}}]
  - name: claude-sonnet
    api: anthropic
    targets: [{{upstream: mock-anthropic}}]
receipts:
  directory: {state}/receipts
  origin: airlock.test/sdk
  signing_keys: [{signing_key}]
retry:
  attempts: 2
  base: 10ms
  cap: 50ms
"""


class Stack:
    def __init__(self, directory: Path, key: str, mock_port: int, router_port: int):
        self.directory = directory
        self.key = key
        self.mock_url = f"http://127.0.0.1:{mock_port}"
        self.router_url = f"http://127.0.0.1:{router_port}"

    def mock_requests(self):
        import urllib.request

        with urllib.request.urlopen(self.mock_url + "/__mock/requests", timeout=5) as response:
            return json.loads(response.read())

    def add_fault(self, fault: dict):
        import urllib.request

        request = urllib.request.Request(
            self.mock_url + "/__mock/faults", data=json.dumps([fault]).encode(), method="POST"
        )
        urllib.request.urlopen(request, timeout=5).read()


def workspace(prefix: str) -> Path:
    """A fresh directory for one test's router; fails the test if the binary is not built."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing; build it with `swift build --product airlock` (make test does)")
    return Path(tempfile.mkdtemp(prefix=prefix))


def secret_file(path: Path, value: str) -> Path:
    """A key file as the router requires it: readable by its owner only."""
    path.write_text(value)
    path.chmod(0o600)
    return path


def keygen(directory: Path, origin: str) -> Path:
    """A receipt signing key pair `signing.key` / `signing.pub` in `directory`; returns the private key's path."""
    subprocess.run(
        [str(BINARY), "receipts", "keygen", "--name", origin, "--out", str(directory / "signing")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return directory / "signing.key"


def start_router(directory: Path, config_text: str) -> subprocess.Popen:
    """Writes `airlock.yaml` and starts a router on it, logging to `router.log`; returns once it is ready."""
    config = directory / "airlock.yaml"
    config.write_text(config_text)
    ready = directory / "ready.json"
    log = open(directory / "router.log", "w")
    router = subprocess.Popen(
        [str(BINARY), "router", "--config", str(config), "--ready-file", str(ready), "--log-level", "info"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    wait_for_file(ready, router)
    return router


def stop_processes(processes):
    """SIGTERM, then SIGKILL after 10 s, in reverse order of start."""
    for process in reversed(processes):
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture()
def stack():
    directory = workspace("airlock-sdk-")
    key = "sk-sdk-" + secrets.token_hex(12)
    key_file = secret_file(directory / "provider.key", key)
    mock_port_file = directory / "mock.port"
    mock = subprocess.Popen(
        [str(BINARY), "mock-upstream", "--port", "0", "--port-file", str(mock_port_file), "--require-key", key],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    router = None
    try:
        mock_port = int(wait_for_file(mock_port_file, mock).strip())
        with socket_port() as router_port, socket_port() as operator_port:
            pass
        signing_key = keygen(directory, "airlock.test/sdk")
        router = start_router(
            directory,
            CONFIG.format(
                router_port=router_port,
                operator_port=operator_port,
                state=directory / "state",
                uid=os.getuid(),
                mock_port=mock_port,
                key_file=key_file,
                signing_key=signing_key,
            ),
        )
        stack = Stack(directory, key, mock_port, router_port)
        stack.operator_url = f"http://127.0.0.1:{operator_port}"
        stack.config = directory / "airlock.yaml"
        stack.router = router
        yield stack
    finally:
        stop_processes([mock, router])


class socket_port:
    """A free loopback port (bound then released)."""

    def __enter__(self):
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()
