# Airlock — entry points for a fresh machine:
#   make demo   router + embedded mock upstream + a sample agent, no API key needed
#   make test   the whole test suite (Swift and the official Python SDKs)
#   make bench  Airlock against direct, nginx and LiteLLM on loopback; writes docs/benchmarks.md
SWIFT ?= swift
VENV ?= .venv
PYTHON := $(VENV)/bin/python
BIN := $(CURDIR)/.build/debug/airlock

.PHONY: all build deps demo test test-swift test-python fuzz format-check install clean bench bench-deps

all: build

deps:
	@scripts/install-deps.sh "$(VENV)"

# `airlock` (the sandbox launcher and dispatcher) execs `airlock-core` (router, receipts, ...) found next to it.
build:
	$(SWIFT) build --product airlock-core
	$(SWIFT) build --product airlock

# The demo agent runs inside the sandbox as UID 480000 in a view of the host built from an allowlist: its Python
# lives under /opt/airlock-demo, which policies/sandbox/demo-agent.json adds read-only.
AGENT_VENV ?= /opt/airlock-demo/venv

demo: deps build
	@AGENT_VENV="$(AGENT_VENV)" scripts/install-agent-venv.sh
	@scripts/demo.sh "$(BIN)" "$(PYTHON)" "$(AGENT_VENV)/bin/python"

# The agent virtual environment is what the sandbox tests run real agent programs with (the official SDKs).
test: deps
	@AGENT_VENV="$(AGENT_VENV)" scripts/install-agent-venv.sh
	$(SWIFT) build --build-tests
	$(MAKE) test-swift test-python

test-swift:
	AGENT_VENV="$(AGENT_VENV)" $(SWIFT) test --skip-build

test-python:
	AIRLOCK_BIN=$(BIN) $(PYTHON) -m pytest tests/python tests/deploy -q -rs

# The fuzzers of tests/python/test_fuzz.py (hostile upstream, hostile agents, configuration files, receipt logs)
# against the real binary, for longer than the minute `make test` gives them: AIRLOCK_FUZZ_SECONDS in all, shared
# by the four; the JSON reader's differential fuzzer (airlock-json-probe against a strict reference) runs a third
# of it besides. The seed is fixed unless AIRLOCK_FUZZ_SEED is given; a failure names its seed, case and input.
AIRLOCK_FUZZ_SECONDS ?= 600

fuzz: deps build
	$(SWIFT) build --product airlock-json-probe
	AIRLOCK_BIN=$(BIN) AIRLOCK_FUZZ_SECONDS=$(AIRLOCK_FUZZ_SECONDS) $(PYTHON) -m pytest tests/python/test_fuzz.py -q -rs

format-check:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

# Release binary, units, policies and the airlock user (see docs/operations.md). PREFIX and DESTDIR as usual.
PREFIX ?= /usr/local
install:
	$(SWIFT) build -c release --product airlock-core --scratch-path .build-release
	$(SWIFT) build -c release --product airlock --scratch-path .build-release
	scripts/install.sh --prefix "$(PREFIX)" --binary .build-release/release/airlock $(if $(DESTDIR),--destdir "$(DESTDIR)")

# Benchmarks (docs/benchmarks.md). Tools come from Debian and PyPI (LiteLLM in its own venv); the release binary
# (--static-swift-stdlib, as deployed) is built into .build-static when AIRLOCK_BIN is not given. Durations: BENCH_SECONDS, BENCH_ROUNDS, ...
# (see bench/compare/run.sh). Raw outputs go to bench/results/<timestamp>/.
BENCH_VENV ?= .venv-bench

bench-deps:
	@scripts/install-bench-deps.sh "$(BENCH_VENV)"

bench: deps bench-deps
	BENCH_VENV="$(BENCH_VENV)" bench/compare/run.sh

clean:
	rm -rf .build $(VENV)
