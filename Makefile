# Linli: the two commands are `make demo` and `make test`; `make check-fast` is the quick loop while editing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check check-fast fast lint typecheck unit bench soak mutate clean system-deps

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,deploy]'
	@touch $(STAMP)

system-deps:
	@scripts/install-system-deps

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy crdt edge sync_server kiosk_ui

unit: $(STAMP) system-deps
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q --durations=15

# The whole suite: format check, lint, mypy, every test (integration, slow and deploy included).
test: lint typecheck unit

# The edit loop (under 2 minutes): the same checks, without tests/integration/, `slow` and `deploy` tests.
fast: $(STAMP)
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q -m "not slow and not deploy"

check-fast: lint typecheck fast

check: test

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

soak: $(STAMP)
	HYPOTHESIS_PROFILE=soak LINLI_SIM_SEEDS=500 LINLI_CRASH_KILLS=300 $(BIN)/python -m pytest -q

# Mutation testing of the core modules, one at a time (see docs/testing.md); `make mutate MODULE=crdt/hlc.py`.
mutate: $(STAMP)
	$(BIN)/python scripts/mutate $(MODULE)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
