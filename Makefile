# obs-mcp: every target installs what it needs first (uv, Python deps; the stack
# binaries are built on first use and cached in ~/.cache/obs-mcp).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
RUN := $(UV) run --frozen --all-extras

.PHONY: help setup demo test lint fmt typecheck stack-install stack-up stack-down stack-status serve bench clean

help:
	@echo "make demo          - the whole loop on the native stack: build/start stack, demo services, workload, MCP tools, verified table"
	@echo "make test          - lint + type check + the full test suite (starts its own isolated stack)"
	@echo "make stack-up      - start the native stack (127.0.0.1: 4317/4318 OTLP, 8428 VM, 9428 VL, 10428 VT)"
	@echo "make stack-status  - show each component"
	@echo "make stack-down    - stop the stack (data kept; obs-mcp stack down --wipe deletes it)"
	@echo "make serve         - run the MCP server on stdio"
	@echo "make bench         - benchmarks on an isolated stack -> docs/BENCHMARKS.md (BENCH_ARGS=--quick)"

setup:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --all-extras --quiet

demo: setup
	$(RUN) obs-mcp demo run

test: setup lint typecheck
	$(RUN) pytest -q -ra

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

fmt: setup
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

typecheck: setup
	$(RUN) mypy

stack-install: setup
	$(RUN) obs-mcp stack install

stack-up: setup
	$(RUN) obs-mcp stack up

stack-down: setup
	$(RUN) obs-mcp stack down

stack-status: setup
	$(RUN) obs-mcp stack status

serve: setup
	$(RUN) obs-mcp serve

bench: setup
	$(RUN) python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf .venv .pytest_cache .ruff_cache .mypy_cache
