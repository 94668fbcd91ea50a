"""Bounded fuzzing of the real binary: a hostile upstream, hostile agents, mutated configuration files and mutated
receipt logs, and the JSON reader against a strict reference (differential). Each of the first four runs for a
quarter of AIRLOCK_FUZZ_SECONDS (default 60 s in all; `make fuzz` runs longer), the JSON fuzzer for a third of it
(AIRLOCK_JSON_FUZZ_SECONDS overrides), from a fixed seed (AIRLOCK_FUZZ_SEED overrides it), and every failure names
the seed, the case and the exact input, printed as a Python expression that can be pasted into a regression test.

The router must survive everything: it stays alive, /healthz answers, airlock_requests_in_flight is back to 0
once the requests have ended, every connection is answered or closed within a bound, and what it sends is
well-formed HTTP/1.1. The command-line tools must exit with their documented statuses and a sentence, never by a
signal or a Swift trap.
"""

import collections
import concurrent.futures
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

import pytest

import fuzz_inputs
import json_fuzz
from conftest import BINARY, ROOT
from fuzz_inputs import AgentCase
from fuzz_support import (
    JSON_MAX_CASES,
    JSON_SECONDS,
    SECONDS_PER_FUZZER,
    SEED,
    TOTAL_SECONDS,
    HostileUpstream,
    Router,
    Script,
    Workspace,
    case_random,
    cases,
    crash_text,
    exchange,
    literal,
    parse_responses,
)

# Concurrent connections per batch; the router is checked after every batch.
BATCH = 32
# Every exchange must end (the router answers and closes, or just closes) within this. The router's own timers in
# fuzz_support.ROUTER_CONFIG are all 1 s, and a hostile upstream's pauses and hangs add at most about 3 s.
AGENT_DEADLINE = 20.0


@pytest.fixture(scope="module", autouse=True)
def announce_seed(request):
    say(request, f"fuzz: seed {SEED} (AIRLOCK_FUZZ_SEED), {TOTAL_SECONDS:g} s in all (AIRLOCK_FUZZ_SECONDS), "
                 f"{SECONDS_PER_FUZZER:g} s per fuzzer")


def say(request, line: str):
    """A line on the terminal even when pytest captures output, so the seed and the counts are always visible."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)


def failure(fuzzer: str, index: int, problem: str, **inputs) -> str:
    lines = [f"fuzz {fuzzer}: {problem}", f"  reproduce: AIRLOCK_FUZZ_SEED={SEED}, case {index} of fuzzer {fuzzer!r}"]
    lines += [f"  {name}: {value}" for name, value in inputs.items()]
    return "\n".join(lines)


def received(data: bytes) -> str:
    """What an agent received, for a failure message (an output, so it may be shortened)."""
    return literal(data[:4000]) + (f" ... ({len(data)} bytes in all)" if len(data) > 4000 else "")


# ----------------------------------------------------------------------------------------------------------------
# Batches against a live router, shared by the two router fuzzers.


def run_batch(router: Router, batch: list, run_case, describe) -> list[bytes]:
    """Runs the cases of `batch` concurrently, then checks the router and each case's own result; returns what each
    agent received. On a problem of the router's (death, /healthz, a slot left in flight) the cases are replayed
    one at a time, on a fresh router if needed, to name the one that causes it."""
    with concurrent.futures.ThreadPoolExecutor(len(batch)) as pool:
        results = list(pool.map(lambda case: run_case(router, case), batch))
    problems = router.problems()
    if not problems:
        for case, (_, problem) in zip(batch, results):
            if problem:
                pytest.fail(describe(case, problem), pytrace=False)
        return [data for data, _ in results]
    for case in batch:
        if not router.alive():
            router.start()
        before = router.settle(1.0) or 0
        _, problem = run_case(router, case)
        if not router.alive():
            pytest.fail(describe(case, router.problems()[0]), pytrace=False)
        if problem:
            pytest.fail(describe(case, problem), pytrace=False)
        after = router.settle()
        if after is None or after > before:
            pytest.fail(describe(case, f"airlock_requests_in_flight went from {before} to {after} and stayed there "
                                       "5 s after the request ended (expected it back where it was)"), pytrace=False)
        if not router.healthz():
            pytest.fail(describe(case, "/healthz on the operator listener did not answer 200"), pytrace=False)
    pytest.fail(f"fuzz: {problems[0]}\n  after this batch, but no case reproduces it alone:\n"
                + "\n".join(describe(case, "(one of the batch)") for case in batch), pytrace=False)


def outcome(data: bytes) -> str:
    """A short name for what an agent got, for the summary line: the first status, or how it ended."""
    statuses, _ = parse_responses(data, first_only=True)
    return str(statuses[0]) if statuses else ("closed" if not data else "other")


def fuzz_router(request, name: str, upstream: HostileUpstream, make_case, run_case, describe):
    """Runs batches of `make_case(index)` through `run_case(router, case) -> (received bytes, problem or None)`
    against one router in front of `upstream`, for this fuzzer's time budget."""
    workspace = Workspace(f"airlock-fuzz-{name}-")
    router = Router(workspace.path, upstream.port)
    outcomes = collections.Counter()
    try:
        router.start()
        started = time.monotonic()
        batch = []
        for index in cases():
            batch.append(make_case(index))
            if len(batch) == BATCH:
                outcomes.update(outcome(data) for data in run_batch(router, batch, run_case, describe))
                batch = []
        if batch:
            outcomes.update(outcome(data) for data in run_batch(router, batch, run_case, describe))
        status = router.stop()
        if status != 0:
            pytest.fail(f"fuzz {name}: after the run the router exited with status {status} on SIGTERM (expected 0); "
                        f"its log ends:\n{router.log_tail()}", pytrace=False)
        summary = ", ".join(f"{key} x{value}" for key, value in sorted(outcomes.items()))
        say(request, f"fuzz {name}: {outcomes.total()} cases in {time.monotonic() - started:.1f} s, router healthy; answers: {summary}")
    except BaseException:
        workspace.keep = True
        say(request, f"fuzz {name}: the router's files are kept in {workspace.path}")
        raise
    finally:
        router.stop()
        upstream.stop()
        workspace.close()


# ----------------------------------------------------------------------------------------------------------------
# 1. A hostile upstream: normal agent requests, answered with mutated bytes.


@dataclass
class UpstreamCase:
    index: int
    api: str
    stream: bool
    request: bytes
    answer: Script


def test_fuzz_hostile_upstream(request):
    upstream = HostileUpstream(fuzz_inputs.well_behaved_answer)

    def make_case(index: int) -> UpstreamCase:
        rng = case_random("upstream", index)
        api = rng.choice(["openai", "openai", "anthropic", "anthropic", "responses"])
        stream = rng.random() < 0.5
        include_usage = rng.random() < 0.5
        answer = fuzz_inputs.hostile_answer(rng, api, stream)
        return UpstreamCase(index, api, stream, fuzz_inputs.normal_request(api, stream, index, include_usage), answer)

    def run_case(router: Router, case: UpstreamCase) -> tuple[bytes, str | None]:
        upstream.script(case.index, case.answer)
        try:
            result = exchange(router.port, [case.request], deadline=AGENT_DEADLINE)
        finally:
            upstream.forget(case.index)
        return result.data, check(router, result)

    def check(router: Router, result) -> str | None:
        if not result.connected:
            return "the connection to the router was refused"
        if not result.closed:
            return f"the router neither finished answering nor closed within {AGENT_DEADLINE:g} s; received {received(result.data)}"
        if router.key.encode() in result.data:
            return f"the provider key reached the agent: {received(result.data)}"
        statuses, malformed = parse_responses(result.data)
        if malformed:
            return f"the agent received malformed HTTP ({malformed}): {received(result.data)}"
        if not statuses:
            return "the router closed the connection without answering"
        if len(statuses) > 1 or any(status < 200 for status in statuses):
            return f"the agent received statuses {statuses} for one request (expected one final status): {received(result.data)}"
        return None

    def describe(case: UpstreamCase, problem: str) -> str:
        return failure("upstream", case.index, problem, agent_request=literal(case.request), upstream_answer=repr(case.answer))

    fuzz_router(request, "upstream", upstream, make_case, run_case, describe)


# ----------------------------------------------------------------------------------------------------------------
# 2. Hostile agents: mutated request heads, framing and JSON bodies on raw connections.


@dataclass
class AgentFuzzCase:
    index: int
    sent: AgentCase


def test_fuzz_agent_requests(request):
    upstream = HostileUpstream(fuzz_inputs.well_behaved_answer)

    def make_case(index: int) -> AgentFuzzCase:
        return AgentFuzzCase(index, fuzz_inputs.agent_case(case_random("agent", index)))

    def run_case(router: Router, case: AgentFuzzCase) -> tuple[bytes, str | None]:
        sent = case.sent
        result = exchange(router.port, sent.pieces, pause=sent.pause, half_close=sent.half_close, deadline=AGENT_DEADLINE)
        return result.data, check(router, sent, result)

    def check(router: Router, sent: AgentCase, result) -> str | None:
        if not result.connected:
            return "the connection to the router was refused"
        if not result.closed:
            return f"the connection was neither answered and closed nor closed within {AGENT_DEADLINE:g} s; received {received(result.data)}"
        if router.key.encode() in result.data:
            return f"the provider key reached the agent: {received(result.data)}"
        # After a HEAD request the bodies of the answers are not there to frame them; check the first head only.
        _, malformed = parse_responses(result.data, first_only=sent.pieces[0].startswith(b"HEAD"))
        if malformed:
            return f"the agent received malformed HTTP ({malformed}): {received(result.data)}"
        return None

    def describe(case: AgentFuzzCase, problem: str) -> str:
        return failure("agent", case.index, problem, agent_sent=repr(case.sent))

    fuzz_router(request, "agent", upstream, make_case, run_case, describe)


# ----------------------------------------------------------------------------------------------------------------
# The command-line fuzzers: one process per case, a few at a time.

TOOL_TIMEOUT = 30.0
# Two processes at a time: enough to keep two cores busy, as the machine running the tests has.
TOOL_WORKERS = 2
# A tool run is stopped after this many distinct failures, each reported with its input.
MAX_FAILURES = 5
# The status of a command line the argument parser refuses (swift-argument-parser's EX_USAGE), with "Usage:".
USAGE_STATUS = 64
# What a Swift value printed as is, rather than a sentence written for a person.
SWIFT_DUMPS = ("Swift.", "DecodingError", "CodingKeys", "Optional(", "Error Domain=", "NSCocoaErrorDomain", "(extension in", "AirlockPolicy.", "AirlockReceipts.")


def run_tool(arguments: list[str]) -> subprocess.CompletedProcess | None:
    """`airlock ARGUMENTS`; None if it did not finish within TOOL_TIMEOUT (it is killed)."""
    try:
        return subprocess.run([str(BINARY), *arguments], capture_output=True, text=True, errors="replace", timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None


def tool_problem(result: subprocess.CompletedProcess | None, statuses: set[int], *, verdict_on_stdout: bool = False) -> str | None:
    """What every tool run must satisfy: it ends in time, by exiting (not by a signal) with one of `statuses` or
    the argument parser's usage status, without a trap's or crash's output; when it fails, it says why on stderr
    in words, not with a dump of a Swift value (unless `verdict_on_stdout`: `receipts verify` prints FAILED there)."""
    if result is None:
        return f"did not finish within {TOOL_TIMEOUT:g} s"
    output = f"stdout: {result.stdout[-3000:]!r}\n  stderr: {result.stderr[-3000:]!r}"
    if result.returncode < 0:
        return f"killed by signal {-result.returncode} ({signal.Signals(-result.returncode).name})\n  {output}"
    marker = crash_text(result.stdout + result.stderr)
    if marker:
        return f"printed {marker!r}\n  {output}"
    usage = result.returncode == USAGE_STATUS and "Usage:" in result.stderr
    if result.returncode not in statuses and not usage:
        return f"exit status {result.returncode}, expected one of {sorted(statuses)} (or {USAGE_STATUS} with a usage message)\n  {output}"
    if result.returncode != 0 and not verdict_on_stdout and not re.match(r"[A-Za-z/]", result.stderr):
        return f"exit status {result.returncode} without a message on stderr\n  {output}"
    dump = next((text for text in SWIFT_DUMPS if text in result.stderr), None)
    if dump:
        return f"its message shows a Swift value ({dump!r}) instead of a sentence\n  {output}"
    return None


def fuzz_tool(request, name: str, run_case, seconds: float = SECONDS_PER_FUZZER) -> collections.Counter:
    """Runs `run_case(index) -> (outcome, failure message or None)` for the time budget, TOOL_WORKERS at a time;
    fails with every failure found (at most MAX_FAILURES). Returns the outcomes counted."""
    outcomes = collections.Counter()
    failures: list[str] = []
    started = time.monotonic()
    indices = cases(seconds)
    with concurrent.futures.ThreadPoolExecutor(TOOL_WORKERS) as pool:
        while len(failures) < MAX_FAILURES:
            batch = [index for _, index in zip(range(TOOL_WORKERS * 4), indices)]
            if not batch:
                break
            for outcome_name, problem in pool.map(run_case, batch):
                outcomes[outcome_name] += 1
                if problem:
                    failures.append(problem)
    summary = ", ".join(f"{key} x{value}" for key, value in sorted(outcomes.items()))
    say(request, f"fuzz {name}: {outcomes.total()} cases in {time.monotonic() - started:.1f} s, {len(failures)} failure(s); {summary}")
    if failures:
        pytest.fail("\n\n".join(failures[:MAX_FAILURES]), pytrace=False)
    return outcomes


# ----------------------------------------------------------------------------------------------------------------
# 3. The configuration loader: `airlock policy check` on mutated configuration files.

CONFIG_SOURCES = [ROOT / "policies" / "airlock.yaml", ROOT / "policies" / "demo.yaml"]


def test_fuzz_policy_check(request):
    sources = [path.read_text() for path in CONFIG_SOURCES]
    workspace = Workspace("airlock-fuzz-config-")

    def run_case(index: int) -> tuple[str, str | None]:
        rng = case_random("config", index)
        data = fuzz_inputs.mutate_config(rng, rng.choice(sources))
        path = workspace.path / f"case-{index}.yaml"
        path.write_bytes(data)
        result = run_tool(["policy", "check", str(path)])
        problem = tool_problem(result, {0, 1})
        if problem is None and result.returncode == 0 and not result.stdout.startswith(f"{path}: OK"):
            problem = f"exit status 0 without `{path}: OK` on stdout: {result.stdout[:1000]!r}"
        if problem is None and result.returncode == 1 and not result.stderr.startswith(f"{path}:"):
            problem = f"exit status 1 without a message naming the file on stderr: {result.stderr[:1000]!r}"
        if problem:
            workspace.keep = True
            return "failure", failure("config", index, f"`airlock policy check {path}` {problem}", file_content=literal(data))
        path.unlink()
        return ("valid" if result.returncode == 0 else "refused"), None

    try:
        fuzz_tool(request, "config", run_case)
    finally:
        workspace.close()


# ----------------------------------------------------------------------------------------------------------------
# 4. The receipt tools on mutated logs: `airlock receipts verify`, `show`, `export` and `prove`.


@pytest.fixture(scope="module")
def receipt_log():
    """A real receipt log: a router served allowed, streamed and refused requests, then stopped (writing its last
    checkpoint). Yields (log directory, verifier key file, trusted checkpoint, another signer's key file)."""
    workspace = Workspace("airlock-fuzz-receipts-")
    upstream = HostileUpstream(fuzz_inputs.well_behaved_answer)
    router = Router(workspace.path, upstream.port)
    try:
        router.start()
        for index, (api, stream) in enumerate([("openai", False), ("openai", True), ("anthropic", False), ("anthropic", True)] * 2):
            assert exchange(router.port, [fuzz_inputs.normal_request(api, stream, index)]).status() == 200
        refused = [  # a model not allowed, an unknown route, invalid JSON, a method not allowed
            (b"POST /v1/chat/completions", b'{"model":"nope","messages":[{"role":"user","content":"hi"}]}', 403),
            (b"POST /v1/other", b"{}", 404),
            (b"POST /v1/messages", b"{", 400),
            (b"DELETE /v1/models", b"", 405),
        ]
        for line, body, status in refused:
            sent = line + b" HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body
            assert exchange(router.port, [sent]).status() == status
        assert router.stop() == 0, router.log_tail()
        trusted = workspace.path / "trusted.checkpoint"
        verified = run_tool(["receipts", "verify", str(router.receipts), "--key", str(router.public_key), "--save-checkpoint", str(trusted)])
        assert verified is not None and verified.returncode == 0, verified
        subprocess.run([str(BINARY), "receipts", "keygen", "--name", "airlock.test/other", "--out", str(workspace.path / "other")],
                       check=True, stdout=subprocess.DEVNULL)
        yield router.receipts, router.public_key, trusted, workspace.path / "other.pub"
    finally:
        router.stop()
        upstream.stop()
        workspace.close()


def verdict(result: subprocess.CompletedProcess | None) -> str:
    """What `receipts verify` concluded, for the summary line: verified, the failure code, or Error."""
    if result is None:
        return "timeout"
    if result.returncode == 0:
        return "verified"
    failed = re.match(r"FAILED: ([a-z-]+)", result.stdout)
    return failed.group(1) if failed else "Error" if result.stderr.startswith("Error: ") else f"exit {result.returncode}"


def test_fuzz_receipt_tools(request, receipt_log):
    pristine, public_key, trusted, other_key = receipt_log
    records = len(fuzz_inputs.frames(fuzz_inputs.segments(pristine)[0].read_bytes()))
    workspace = Workspace("airlock-fuzz-receipt-cases-")

    def run_case(index: int) -> tuple[str, str | None]:
        rng = case_random("receipts", index)
        directory = workspace.path / f"case-{index}"
        shutil.copytree(pristine, directory)
        changes = []
        if rng.random() < 0.4:
            changes.append(fuzz_inputs.split_segments(rng, directory))
        mutations = [m for m in (fuzz_inputs.mutate_log(rng, directory) for _ in range(rng.choice([1, 1, 1, 2, 3]))) if m]
        changes = [change for change in changes if change] + [m.description for m in mutations]
        # One change of a kind the verifier must catch (a record, a segment or the signed checkpoint altered),
        # with nothing else touched: `verify` must not say OK.
        tampering = len(mutations) == 1 and mutations[0].tampering

        key = rng.choices([str(public_key), public_key.read_text().strip(), str(other_key), "garbage+00000000+AAAA"], [80, 10, 5, 5])[0]
        verify = ["receipts", "verify", str(directory), "--key", key]
        roll = rng.random()
        if roll < 0.35:
            verify += ["--trusted-checkpoint", str(trusted)]
        elif roll < 0.5:
            damaged = directory / "trusted.checkpoint.damaged"  # in the log directory: the verifier ignores other files
            damaged.write_bytes(fuzz_inputs.damage(rng, trusted.read_bytes()))
            verify += ["--trusted-checkpoint", str(damaged)]
            changes.append(f"trusted checkpoint damaged: {literal(damaged.read_bytes())}")
        index_arg = rng.choice([0, 1, records - 1, records, records + 5, 2**63 - 1, 2**64 - 1, 2**64])
        other = rng.choice([
            ["receipts", "show", str(directory)],
            ["receipts", "show", str(directory), str(index_arg)],
            ["receipts", "export", str(directory), "--from", str(rng.choice([0, 3, records, 2**64 - 1])), "--to", str(rng.choice([0, 2, records + 1]))],
            ["receipts", "prove", str(index_arg), "--log", str(directory)],
        ])

        problems = []
        verified = run_tool(verify)
        problem = tool_problem(verified, {0, 1}, verdict_on_stdout=True)
        if problem is None:
            first_line = (verified.stdout.splitlines() or [""])[0]
            if verified.returncode == 0 and first_line != "OK: receipt log verified":
                problem = f"exit status 0 without `OK: receipt log verified`: {verified.stdout[:1000]!r}"
            elif verified.returncode == 1 and not re.match(r"FAILED: [a-z-]+ ", first_line) and not verified.stderr.startswith("Error: "):
                problem = f"exit status 1 without `FAILED: <code>` on stdout or `Error: ` on stderr: {verified.stdout[:1000]!r} {verified.stderr[:1000]!r}"
            elif verified.returncode == 0 and tampering:
                problem = f"verified a tampered log as OK: {verified.stdout[:2000]!r}"
        if problem:
            problems.append(f"`airlock {' '.join(verify)}` {problem}")
        result = run_tool(other)
        problem = tool_problem(result, {0, 1})
        if problem:
            problems.append(f"`airlock {' '.join(other)}` {problem}")

        if problems:
            workspace.keep = True
            return verdict(verified), failure("receipts", index, "\n  ".join(problems), changes="; ".join(changes),
                                    files_changed="; ".join(fuzz_inputs.log_changes(pristine, directory)),
                                    logs=f"the mutated log is kept in {directory}, the original in {pristine}")
        shutil.rmtree(directory, ignore_errors=True)
        return verdict(verified), None

    try:
        fuzz_tool(request, "receipts", run_case)
    finally:
        workspace.close()


# ----------------------------------------------------------------------------------------------------------------
# 5. The JSON reader (Sources/AirlockJSON) against an independent strict reference (json_fuzz.reference), through
# airlock-json-probe: the same verdict for every document, and the same decoded value for every accepted one.

JSON_PROBE = BINARY.parent / "airlock-json-probe"


def test_fuzz_json_reader(request):
    if not JSON_PROBE.exists():
        pytest.fail(f"{JSON_PROBE} is missing; build it with `swift build --build-tests` (make test does)")
    seeds = json_fuzz.corpus()
    assert len(seeds) >= 40, f"the seed corpus {json_fuzz.CORPUS} is missing"
    probe = json_fuzz.Probe(JSON_PROBE)
    failures: list[str] = []
    outcomes = collections.Counter()
    started = time.monotonic()

    def compare(index: int, origin: str, document: bytes):
        got = probe.verdict(document)
        expected = json_fuzz.reference(document)
        outcomes["accepted" if expected.startswith("ok ") else "refused"] += 1
        if not json_fuzz.agree(got, expected):
            failures.append(failure("json", index, "the reader and the strict reference disagree", origin=origin,
                                    document=literal(document), reader=got[:2000], reference=expected[:2000]))
        if probe.process.poll() is not None:
            pytest.fail("\n\n".join(failures), pytrace=False)

    try:
        # The committed corpus: each document as it is, and named for the verdict it must get.
        for name, document in seeds:
            compare(-1, f"corpus file {name}", document)
            if name.startswith("valid-") != json_fuzz.reference(document).startswith("ok "):
                failures.append(f"fuzz json: corpus file {name} has the wrong verdict in its name")
        for index in cases(JSON_SECONDS, JSON_MAX_CASES):
            if len(failures) >= MAX_FAILURES:
                break
            rng = case_random("json", index)
            if rng.random() < 0.4:
                name, seed = rng.choice(seeds)
                origin, document = f"mutated corpus file {name}", json_fuzz.mutated(rng, seed)
            else:
                document = json_fuzz.generated(rng)
                origin = "generated"
                if rng.random() < 0.3:
                    origin, document = "generated, then mutated", json_fuzz.mutated(rng, document)
            compare(index, origin, document)
    finally:
        probe.close()
    summary = ", ".join(f"{key} x{value}" for key, value in sorted(outcomes.items()))
    say(request, f"fuzz json: {outcomes.total()} documents compared in {time.monotonic() - started:.1f} s, "
                 f"{len(failures)} failure(s); {summary}")
    if failures:
        pytest.fail("\n\n".join(failures[:MAX_FAILURES]), pytrace=False)
