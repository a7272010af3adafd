# Headwater: `make demo` and `make test` are the two commands a newcomer needs (README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HW := $(VENV)/bin/headwater
PYTEST := $(PY) -m pytest

.PHONY: help setup up down status demo demo-cluster test test-unit test-integration lint clean

help:
	@echo "make setup             install everything (venv, Kafka/Flink jars, FerretDB, MinIO); idempotent"
	@echo "make demo              setup + stack up + run the four jobs on the embedded MiniCluster on sample events + show results"
	@echo "make demo-cluster      the same, with the jobs submitted to a local Flink cluster (headwater cluster up)"
	@echo "make test              setup + stack up + unit and integration tests + stack down"
	@echo "make up|down|status    the local stack (Kafka, FerretDB over PostgreSQL, MinIO) on 127.0.0.1"
	@echo "make test-unit         unit tests only (no stack needed)"
	@echo "make lint              ruff check and ruff format --check (make test runs it first)"
	@echo "make bench-skeleton    throughput, latency and peak memory of the skeleton job (exactly-once path)"
	@echo "make bench-unification api-unification events/s, latency, memory; batches of 1/10/50, parallelism 1/2"
	@echo "make bench-action      action-streaming messages/s, CPU, latency, state, memory: 100k and 1M users; one tenant at p1/p2 on the local cluster"
	@echo "make bench-reaction    reaction-streaming deltas/s and documents/s beside a plain pymongo loop"
	@echo "make bench-dedupe      profile-dedupe messages/s, outbound events/s, latency, memory; 3 destinations each"
	@echo "make bench-audiences   audience-computation events/s, messages/s, latency, memory: 50 audiences over 100k users, one tenant"
	@echo "make bench-e2e         freshness from produce to MongoDB under stepped load, on the local cluster (CSV + PNG)"
	@echo "make chaos             kill TaskManagers, restart a job without savepoint, restart Kafka, poison inter-job topics, stop FerretDB during 200k events; check nothing lost or twice"
	@echo "make clean             stop the stack and delete .data/ (keeps installed tools)"

setup:
	@bash infra/setup.sh

up: setup
	@$(HW) up

down:
	@if [ -x $(HW) ]; then $(HW) down; fi

status:
	@$(HW) status

# DEMO_ARGS=--reset starts the jobs with empty state instead of resuming their newest checkpoints.
demo: up
	@$(PY) -m harness.demo $(DEMO_ARGS)

# The same demo with the jobs submitted to a local Flink standalone cluster (left running).
demo-cluster: up
	@$(HW) cluster up
	@$(PY) -m harness.demo --cluster $(DEMO_ARGS)

test-unit: setup lint
	@$(PYTEST) -q tests/unit

# House rules (pyproject.toml [tool.ruff]): lint, import order, no print, formatting.
lint: setup
	@$(VENV)/bin/ruff check --output-format=concise . && $(VENV)/bin/ruff format --check --quiet . \
		|| { echo "lint failed: \`.venv/bin/ruff check --fix . && .venv/bin/ruff format .\` mends most of it"; exit 1; }

test-integration: up
	@$(PYTEST) -q -m integration tests/integration

# Runs setup, starts the stack, runs every test, always stops the stack, and fails if any test failed.
# The failed tests are named again last, so CI's tail of the output says what broke.
test: setup lint
	@$(HW) up; rc=$$?; \
	if [ $$rc -eq 0 ]; then $(PYTEST) -q -rfEs --durations=15 --cache-clear tests; rc=$$?; fi; \
	$(HW) down; \
	if [ $$rc -ne 0 ]; then $(PY) -m harness.failed_tests; fi; exit $$rc

clean: down
	@# .data/postgres may link to /var/lib/postgresql/headwater/... (when run as root from a private folder)
	@if [ -L .data/postgres ]; then rm -rf "$$(readlink -f .data/postgres)"; fi
	rm -rf .data

# Crashes survived during 200k events: TaskManagers killed, a job restarted without a savepoint, Kafka
# restarted, poison records, a failing MongoDB login, FerretDB stopped for 3 minutes (harness/chaos.py).
.PHONY: chaos
chaos: up
	@$(PY) -m harness.chaos $(CHAOS_ARGS)

.PHONY: bench-skeleton bench-unification bench-action bench-reaction bench-dedupe bench-audiences bench-e2e
bench-skeleton: up
	@$(PY) -m bench.skeleton

bench-unification: up
	@$(PY) -m bench.unification

bench-action: up
	@$(PY) -m bench.action $(BENCH_ARGS)

bench-reaction: up
	@$(PY) -m bench.reaction $(BENCH_ARGS)

bench-dedupe: up
	@$(PY) -m bench.dedupe $(BENCH_ARGS)

bench-audiences: up
	@$(PY) -m bench.audiences $(BENCH_ARGS)

bench-e2e: up
	@$(PY) -m bench.e2e $(BENCH_ARGS)
