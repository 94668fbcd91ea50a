"""Every claim in docs/threat-model.md names the test that proves it: each reference in its "Proven by" column must
name a test that exists, so a renamed or deleted test cannot leave a claim standing on nothing.

References are `Suite › test name` (Swift Testing display names; `…` abbreviates, and `… ›` or `›` alone means the
suite named just before) and `tests/…/file.py::test_name` (`…::` and `::` mean the file named just before)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _swift_names():
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "Tests").rglob("*.swift"))
    unescape = lambda s: s.replace('\\"', '"').replace("\\\\", "\\")
    suites = {unescape(m) for m in re.findall(r'@Suite\(\s*"((?:[^"\\]|\\.)*)"', text)}
    suites |= set(re.findall(r"^(?:final class|struct|class) (\w+)", text, re.M))
    tests = [unescape(m) for m in re.findall(r'@Test\(\s*"((?:[^"\\]|\\.)*)"', text)]
    tests += re.findall(r"func (\w+)\(", text)
    return suites, tests


def _python_tests():
    found = {}
    for path in (ROOT / "tests").rglob("*.py"):
        names = re.findall(r"^(?:async )?def (test_\w+)", path.read_text(encoding="utf-8"), re.M)
        found[str(path.relative_to(ROOT))] = set(names)
    return found


def _matches(reference, name):
    """Whether the display name `name` is what `reference` names: equal, or, where the reference abbreviates with
    `…`, its pieces appear in order (the first at the start)."""
    reference = reference.strip().rstrip("()")
    if "…" not in reference:
        return name == reference or name.rstrip("()") == reference
    pieces = [p.strip(" :;,") for p in reference.split("…")]
    position = 0
    for index, piece in enumerate(pieces):
        if not piece:
            continue
        found = name.find(piece, position)
        if found < 0 or (index == 0 and found != 0):
            return False
        position = found + len(piece)
    return True


def test_every_threat_model_reference_names_an_existing_test():
    suites, tests = _swift_names()
    python = _python_tests()
    unresolved = []
    for number, line in enumerate((ROOT / "docs/threat-model.md").read_text(encoding="utf-8").splitlines(), 1):
        cells = line.split("|")
        if not line.startswith("|") or len(cells) < 4:
            continue
        suite_named = False
        last_file = None
        for reference in re.findall(r"`([^`]+)`", cells[-2]):
            if "::" in reference:
                file, name = reference.split("::", 1)
                file = file.strip()
                if file in ("", "…"):
                    file = last_file
                last_file = file
                if name.split("[")[0] not in python.get(file or "", set()):
                    unresolved.append(f"line {number}: {reference}")
                continue
            if "›" not in reference:
                continue
            suite, name = (part.strip() for part in reference.split("›", 1))
            if suite not in ("", "…"):
                suite_named = any(_matches(suite, s) for s in suites)
                if not suite_named:
                    unresolved.append(f"line {number}: suite of {reference}")
                    continue
            if name in ("", "…"):
                continue
            if not any(_matches(name, t) for t in tests):
                unresolved.append(f"line {number}: {reference}")
    assert not unresolved, "docs/threat-model.md names tests that do not exist (rename the reference or restore the test):\n" + "\n".join(unresolved)
