"""scripts/install.sh: DESTDIR staging, modes, idempotence (an existing config is never overwritten), --dry-run,
the sysusers.d file, and `systemd-analyze verify` of the units as installed with another prefix."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install.sh"
BINARY = Path(os.environ.get("AIRLOCK_BIN", ROOT / ".build" / "debug" / "airlock"))


def install(*args: str, destdir: Path | None = None) -> subprocess.CompletedProcess:
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing; build it with `swift build --product airlock` (make test does)")
    env = dict(os.environ)
    env.pop("DESTDIR", None)
    if destdir is not None:
        env["DESTDIR"] = str(destdir)
    result = subprocess.run(["bash", str(SCRIPT), "--binary", str(BINARY), *args], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_destdir_layout_and_modes(tmp_path):
    stage = tmp_path / "stage"
    install("--prefix", "/usr", destdir=stage)
    assert mode(stage / "usr/bin/airlock") == 0o755
    assert mode(stage / "usr/libexec/airlock/airlock-core") == 0o755
    for unit in ("airlock-router.service", "airlock-sandbox@.service"):
        text = (stage / "usr/lib/systemd/system" / unit).read_text()
        assert "/usr/bin/airlock " in text and "/usr/local/bin" not in text  # rewritten for the prefix
    assert (stage / "usr/lib/sysusers.d/airlock.conf").exists()
    assert mode(stage / "etc/airlock") == 0o750
    assert mode(stage / "etc/airlock/keys") == 0o750
    assert mode(stage / "etc/airlock/receipts") == 0o750
    assert mode(stage / "etc/airlock/sandbox") == 0o700
    config = stage / "etc/airlock/airlock.yaml"
    assert mode(config) == 0o640 and config.read_text() == (ROOT / "policies/airlock.yaml").read_text()
    for profile in (ROOT / "policies/seccomp").glob("*.json"):
        assert (stage / "etc/airlock/seccomp" / profile.name).exists()
        assert (stage / "usr/share/airlock/seccomp" / profile.name).exists()


def test_installed_front_finds_its_core(tmp_path):
    """`airlock` handles run and policy explain itself and execs PREFIX/libexec/airlock/airlock-core for the rest."""
    stage = tmp_path / "stage"
    install("--prefix", "/usr", destdir=stage)
    front = stage / "usr/bin/airlock"
    version = subprocess.run([str(front), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == "0.1.0"
    dispatched = subprocess.run([str(front), "receipts", "--help"], capture_output=True, text=True, timeout=60)
    assert dispatched.returncode == 0, dispatched.stderr
    assert "USAGE: airlock receipts" in dispatched.stdout
    # Without --policy, the built-in policy takes agent-strict.json from PREFIX/share/airlock/seccomp.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    explained = subprocess.run([str(front), "policy", "explain", "--workdir", str(elsewhere)], capture_output=True,
                               text=True, timeout=60, cwd=elsewhere)
    assert explained.returncode == 0, explained.stderr
    assert "seccomp: " in explained.stdout and "default ERRNO(EPERM)" in explained.stdout


def test_missing_core_is_refused(tmp_path):
    lone = tmp_path / "bin"
    lone.mkdir()
    shutil.copy2(BINARY, lone / "airlock")
    result = subprocess.run(["bash", str(SCRIPT), "--binary", str(lone / "airlock"), "--destdir", str(tmp_path / "s")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "no airlock-core at" in result.stderr


def test_second_run_keeps_existing_config(tmp_path):
    stage = tmp_path / "stage"
    install(destdir=stage)
    config = stage / "etc/airlock/airlock.yaml"
    config.write_text("# the operator's own config\n")
    (stage / "etc/airlock").chmod(0o755)  # drifted; the installer puts it right again
    result = install(destdir=stage)
    assert config.read_text() == "# the operator's own config\n"
    assert "kept existing /etc/airlock/airlock.yaml" in result.stdout
    assert mode(stage / "etc/airlock") == 0o750
    assert (stage / "usr/local/share/airlock/policies/airlock.yaml").read_text() == \
        (ROOT / "policies/airlock.yaml").read_text()


def test_dry_run_changes_nothing(tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    result = install("--dry-run", destdir=stage)
    assert "would run: install -D -m 0755" in result.stdout
    assert list(stage.iterdir()) == []


def test_dry_run_on_a_live_host_creates_the_users_first():
    result = install("--dry-run")
    lines = result.stdout.splitlines()
    user = next(i for i, line in enumerate(lines) if "useradd" in line or line.startswith("user airlock exists"))
    binary = next(i for i, line in enumerate(lines) if "/usr/local/bin/airlock" in line and "install" in line)
    assert user < binary
    if "useradd" in lines[user]:
        uid_taken = subprocess.run(["getent", "passwd", "1001"], capture_output=True).returncode == 0
        assert ("--uid 1001" in lines[user]) != uid_taken
        assert "--shell /usr/sbin/nologin" in lines[user]


def test_sysusers_creates_uid_1001(tmp_path):
    tool = shutil.which("systemd-sysusers")
    if tool is None:
        pytest.skip("systemd-sysusers is not installed (Debian: systemd)")
    (tmp_path / "etc").mkdir()
    subprocess.run([tool, f"--root={tmp_path}", str(ROOT / "systemd/airlock.sysusers")], check=True,
                   capture_output=True, timeout=60)
    passwd = (tmp_path / "etc/passwd").read_text()
    assert "airlock:x:1001:1001:Airlock router:/var/lib/airlock:/usr/sbin/nologin" in passwd
    assert "airlock-agents:" in (tmp_path / "etc/group").read_text()


def test_installed_units_verify(tmp_path):
    """The units as installed with --prefix /usr verify against the installed binary."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    system_units = next((d for d in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                         if (d / "sysinit.target").exists()), None)
    if system_units is None:
        pytest.skip("no distribution unit files (sysinit.target) to verify against; install the `systemd` package")
    stage = tmp_path / "stage"
    install("--prefix", "/usr", destdir=stage)
    for unit in system_units.iterdir():
        target = stage / "usr/lib/systemd/system" / unit.name
        if not target.exists() and not target.is_symlink():
            if unit.is_dir() and not unit.is_symlink():
                shutil.copytree(unit, target, symlinks=True)
            else:
                shutil.copy(unit, target, follow_symlinks=False)
    # ExecReload= runs kill(1); verify wants it present in the root as well.
    (stage / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/kill", stage / "bin/kill")
    result = subprocess.run([tool, "verify", f"--root={stage}", "--man=no", "airlock-router.service",
                             "airlock-sandbox@example.service"], capture_output=True, text=True, timeout=120)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and output == "", output
