"""Load seccomp filters through libseccomp (ctypes), in a forked child just before execve.

This lets the tests run the real router binary under the same kernel-level restrictions that systemd's
SystemCallFilter=/MemoryDenyWriteExecute=/RestrictAddressFamilies=/NoNewPrivileges= produce, and that a container
runtime produces from an OCI seccomp profile. systemd does not have to be PID 1 for this. The semantics follow
systemd 252's src/shared/seccomp-util.c: an allow list with an errno default, W^X rules for mmap, mprotect,
pkey_mprotect and shmat, and an allow list of socket() address families.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_KILL_PROCESS = 0x80000000


def SCMP_ACT_ERRNO(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
       "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
PROT_WRITE, PROT_EXEC = 0x2, 0x4
SHM_EXEC = 0o100000
PR_SET_NO_NEW_PRIVS = 38
AF_MAX = 46
FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17}


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


@dataclass
class Rule:
    action: int
    syscall: str
    args: list[tuple[int, int, int, int]] = field(default_factory=list)  # (index, op, datum_a, datum_b)


@dataclass
class Filter:
    default_action: int
    rules: list[Rule]


def libseccomp_path() -> str | None:
    return ctypes.util.find_library("seccomp")


def systemd_analyze() -> str | None:
    return shutil.which("systemd-analyze")


@functools.lru_cache(maxsize=None)
def expand_group(group: str) -> frozenset[str]:
    """All syscall names in a systemd syscall group, nested groups resolved (from `systemd-analyze syscall-filter`)."""
    out = subprocess.run(
        ["systemd-analyze", "syscall-filter", "--no-pager", group], capture_output=True, text=True, check=True
    ).stdout
    names: set[str] = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        names |= expand_group(item) if item.startswith("@") else {item}
    return frozenset(names)


def unit_directives(unit: Path) -> list[tuple[str, str]]:
    """(key, value) pairs of a unit file, in order, with comments and section headers dropped."""
    pairs = []
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        pairs.append((key.strip(), value.strip()))
    return pairs


def unit_syscall_allowlist(unit: Path) -> frozenset[str]:
    """The effective allow list of a unit whose first SystemCallFilter= is an allow list, in systemd's order."""
    allowed: set[str] | None = None
    for key, value in unit_directives(unit):
        if key != "SystemCallFilter" or not value:
            continue
        deny = value.startswith("~")
        items = value.lstrip("~").split()
        names: set[str] = set()
        for item in items:
            names |= expand_group(item) if item.startswith("@") else {item}
        if allowed is None:
            if deny:
                raise ValueError(f"{unit}: the first SystemCallFilter= is a deny list; expected an allow list")
            allowed = names
        elif deny:
            allowed -= names
        else:
            allowed |= names
    if allowed is None:
        raise ValueError(f"{unit}: no SystemCallFilter=")
    return frozenset(allowed)


def unit_errno(unit: Path) -> int:
    for key, value in unit_directives(unit):
        if key == "SystemCallErrorNumber":
            return getattr(errno, value)
    return errno.EPERM


def unit_filters(unit: Path) -> list[Filter]:
    """The seccomp filters systemd installs for this unit's SystemCallFilter=, MemoryDenyWriteExecute= and
    RestrictAddressFamilies= (as stacked filters, like systemd: the strictest verdict wins)."""
    directives = dict(unit_directives(unit))
    filters = [Filter(SCMP_ACT_ERRNO(unit_errno(unit)),
                      [Rule(SCMP_ACT_ALLOW, name) for name in sorted(unit_syscall_allowlist(unit))])]
    if directives.get("MemoryDenyWriteExecute") == "yes":
        eperm = SCMP_ACT_ERRNO(errno.EPERM)
        masked = OPS["SCMP_CMP_MASKED_EQ"]
        filters.append(Filter(SCMP_ACT_ALLOW, [
            Rule(eperm, "mmap", [(2, masked, PROT_EXEC | PROT_WRITE, PROT_EXEC | PROT_WRITE)]),
            Rule(eperm, "mprotect", [(2, masked, PROT_EXEC, PROT_EXEC)]),
            Rule(eperm, "pkey_mprotect", [(2, masked, PROT_EXEC, PROT_EXEC)]),
            Rule(eperm, "shmat", [(2, masked, SHM_EXEC, SHM_EXEC)]),
        ]))
    families = directives.get("RestrictAddressFamilies")
    if families:
        allowed = {FAMILIES[name] for name in families.split()}
        refuse = SCMP_ACT_ERRNO(errno.EAFNOSUPPORT)
        rules = [Rule(refuse, "socket", [(0, OPS["SCMP_CMP_EQ"], family, 0)])
                 for family in range(AF_MAX) if family not in allowed]
        rules.append(Rule(refuse, "socket", [(0, OPS["SCMP_CMP_GE"], AF_MAX, 0)]))
        filters.append(Filter(SCMP_ACT_ALLOW, rules))
    return filters


def oci_filters(profile_path: Path) -> list[Filter]:
    """One filter from an OCI runtime-spec seccomp profile (the format runc/crun and the SPO use)."""
    profile = json.loads(profile_path.read_text())

    def action(name: str, errno_ret: int | None) -> int:
        if name == "SCMP_ACT_ALLOW":
            return SCMP_ACT_ALLOW
        if name == "SCMP_ACT_ERRNO":
            return SCMP_ACT_ERRNO(errno.EPERM if errno_ret is None else errno_ret)
        if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS"):
            return SCMP_ACT_KILL_PROCESS
        raise ValueError(f"unsupported action {name}")

    default = action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    rules = []
    for entry in profile["syscalls"]:
        act = action(entry["action"], entry.get("errnoRet"))
        args = [(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in entry.get("args", [])]
        for name in entry["names"]:
            rules.append(Rule(act, name, args))
    return [Filter(default, rules)]


def make_preexec(filters: list[Filter]):
    """A subprocess preexec_fn that sets no_new_privs and loads the filters. Rules are resolved before fork."""
    lib = ctypes.CDLL(libseccomp_path(), use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ArgCmp)]
    lib.seccomp_load.restype = ctypes.c_int
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    libc = ctypes.CDLL(None, use_errno=True)

    contexts = []
    # Filters whose default is to allow go in first: a filter with an allow list may refuse seccomp() itself, and
    # so has to be the last one loaded. Stacked filters are all evaluated whatever their order.
    for flt in sorted(filters, key=lambda f: f.default_action != SCMP_ACT_ALLOW):
        ctx = lib.seccomp_init(flt.default_action)
        if not ctx:
            raise OSError("seccomp_init failed")
        for rule in flt.rules:
            number = lib.seccomp_syscall_resolve_name(rule.syscall.encode())
            if number < 0:  # not a syscall on this architecture (e.g. mmap2 on x86_64)
                continue
            if rule.action == flt.default_action:
                continue
            array = (ArgCmp * max(1, len(rule.args)))(*[ArgCmp(*a) for a in rule.args])
            rc = lib.seccomp_rule_add_array(ctx, rule.action, number, len(rule.args), array)
            if rc != 0:
                raise OSError(-rc, f"seccomp_rule_add_array({rule.syscall}) failed")
        contexts.append(ctx)

    def preexec() -> None:
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        for ctx in contexts:
            rc = lib.seccomp_load(ctx)
            if rc != 0:
                raise OSError(-rc, "seccomp_load")

    return preexec


def profile_syscalls(profile_path: Path) -> set[str]:
    profile = json.loads(profile_path.read_text())
    return {name for entry in profile["syscalls"] if entry["action"] == "SCMP_ACT_ALLOW" for name in entry["names"]}


OVERALL = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)")
