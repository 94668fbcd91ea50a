"""The real router binary, run under the kernel restrictions of systemd/airlock-router.service and, separately,
under policies/seccomp/airlock-router.json (the Kubernetes profile). It has to start, serve a chat completion over
TCP (NETLINK_SOCK_DIAG identity) and over a Unix socket (SO_PEERCRED identity, socket chgrp), write receipts
(fdatasync), and exit 0 on SIGTERM.

This is the evidence for MemoryDenyWriteExecute=yes, for the SystemCallFilter= allow list and for the address
families. A control case checks that the harness really enforces W^X, so a passing run is not a no-op.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from seccomp_harness import libseccomp_path, make_preexec, oci_filters, systemd_analyze, unit_filters

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("AIRLOCK_BIN", ROOT / ".build" / "debug" / "airlock"))
UNIT = ROOT / "systemd" / "airlock-router.service"
PROFILE = ROOT / "policies" / "seccomp" / "airlock-router.json"
ROUTER_UID = 1001  # the convention; used only when the test runs as root

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="seccomp and the router are Linux-only")


def require_tools() -> None:
    if libseccomp_path() is None:
        pytest.skip("libseccomp.so.2 not found (Debian: libseccomp2, installed by scripts/install-deps.sh)")
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing; build it with `swift build --product airlock` (make test does)")


CONFIG = """
version: 1
router:
  listeners:
    - tcp: 127.0.0.1:{router_port}
    - unix: {dir}/router.sock
      mode: "0660"
      group: "{gid}"
  state_directory: {dir}/state
  drain_timeout: 2s
tenants:
  - name: deploy
sandboxes:
  - name: deploy-test
    tenant: deploy
    uids: [{client_uid}]
    models: ["gpt-4o-mini"]
upstreams:
  - name: mock
    kind: openai-compatible
    base_url: http://127.0.0.1:{mock_port}
    credential: {{file: {dir}/provider.key}}
models:
  - name: gpt-4o-mini
    api: openai
    targets: [{{upstream: mock}}]
receipts:
  directory: {dir}/state/receipts
  origin: airlock.test/deploy
  signing_keys: [{dir}/signing.key]
  durability: sync
retry:
  attempts: 1
"""


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 30.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 0:
            return path.read_text()
        if process.poll() is not None:
            raise AssertionError(f"{process.args[:2]} exited with {process.returncode}: {process.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {seconds}s")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.unix_path)


def chat(conn: http.client.HTTPConnection) -> tuple[int, dict]:
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]})
    conn.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    return response.status, json.loads(data or b"{}")


@pytest.fixture()
def workdir():
    directory = Path(tempfile.mkdtemp(prefix="airlock-deploy-"))
    directory.chmod(0o755)
    yield directory
    subprocess.run(["rm", "-rf", str(directory)], check=False)


@pytest.fixture()
def mock_upstream(workdir):
    require_tools()
    key = "sk-deploy-" + secrets.token_hex(8)
    port_file = workdir / "mock.port"
    mock = subprocess.Popen(
        [str(BINARY), "mock-upstream", "--port", "0", "--port-file", str(port_file), "--require-key", key],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        port = int(wait_for(port_file, mock).strip())
        yield key, port
    finally:
        mock.send_signal(signal.SIGTERM)
        try:
            mock.wait(timeout=10)
        except subprocess.TimeoutExpired:
            mock.kill()


def run_router_confined(workdir: Path, key: str, mock_port: int, filters) -> None:
    as_root = os.geteuid() == 0
    uid, gid = (ROUTER_UID, ROUTER_UID) if as_root else (os.getuid(), os.getgid())
    key_file = workdir / "provider.key"
    key_file.write_text(key)
    subprocess.run([str(BINARY), "receipts", "keygen", "--name", "airlock.test/deploy", "--out",
                    str(workdir / "signing")], check=True, stdout=subprocess.DEVNULL)
    (workdir / "state").mkdir(mode=0o700)
    config = workdir / "airlock.yaml"
    with socket.socket() as probe:  # a free loopback port (the config wants a fixed one)
        probe.bind(("127.0.0.1", 0))
        router_port = probe.getsockname()[1]
    config.write_text(CONFIG.format(dir=workdir, gid=gid, client_uid=os.getuid(), mock_port=mock_port,
                                    router_port=router_port))
    os.chown(workdir, uid, gid)  # the router creates its socket and ready file here
    for path in (key_file, workdir / "signing.key", workdir / "state", config):
        os.chown(path, uid, gid)
        path.chmod(0o700 if path.is_dir() else 0o600)
    ready = workdir / "ready.json"
    ids = {"user": uid, "group": gid, "extra_groups": []} if as_root else {}
    router = subprocess.Popen(
        [str(BINARY), "router", "--config", str(config), "--ready-file", str(ready), "--log-level", "info"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=workdir,
        preexec_fn=make_preexec(filters), **ids,
    )
    try:
        listeners = json.loads(wait_for(ready, router))["listeners"]
        tcp = next(a for a in listeners if a.startswith("127.0.0.1:"))
        status, body = chat(http.client.HTTPConnection("127.0.0.1", int(tcp.rsplit(":", 1)[1]), timeout=10))
        assert status == 200, body
        assert body["choices"][0]["message"]["content"]
        sock = workdir / "router.sock"
        assert os.stat(sock).st_gid == gid  # the chgrp from `group:` went through the filter
        status, body = chat(UnixHTTPConnection(str(sock)))
        assert status == 200, body
        router.send_signal(signal.SIGTERM)
        assert router.wait(timeout=20) == 0, router.stderr.read()
        stderr = router.stderr.read()
        assert "Operation not permitted" not in stderr, stderr
        assert list((workdir / "state" / "receipts").iterdir()), "no receipt segment written"
    finally:
        if router.poll() is None:
            router.kill()
            router.wait()


def test_router_serves_under_the_systemd_unit_filters(workdir, mock_upstream):
    """SystemCallFilter= + MemoryDenyWriteExecute= + RestrictAddressFamilies= + NoNewPrivileges= of the unit."""
    if systemd_analyze() is None:
        pytest.skip("systemd-analyze is missing (Debian: systemd) and is needed to expand @system-service")
    key, port = mock_upstream
    run_router_confined(workdir, key, port, unit_filters(UNIT))


def test_router_serves_under_the_kubernetes_seccomp_profile(workdir, mock_upstream):
    """policies/seccomp/airlock-router.json, the profile the router container uses in Kubernetes."""
    key, port = mock_upstream
    run_router_confined(workdir, key, port, oci_filters(PROFILE))


@pytest.mark.parametrize("source", ["unit", "profile"])
def test_harness_really_enforces_w_xor_x(source):
    """Control: under the same filters, asking for a writable+executable mapping must fail."""
    if libseccomp_path() is None:
        pytest.skip("libseccomp.so.2 not found")
    if source == "unit" and systemd_analyze() is None:
        pytest.skip("systemd-analyze is missing (Debian: systemd)")
    filters = unit_filters(UNIT) if source == "unit" else oci_filters(PROFILE)
    probe = ("import mmap\n"
             "try:\n"
             "    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
             "    print('mapped')\n"
             "except PermissionError:\n"
             "    print('refused')\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            preexec_fn=make_preexec(filters), timeout=60)
    assert result.stdout.strip() == "refused", (result.stdout, result.stderr)
