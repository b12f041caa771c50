# Two entry points for people: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# bench/baseline_logreader.py is not one: cruise_control.py runs it in a subprocess
BENCHMARKS := read_can cruise_control engine api route

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m jupyter_cts.demo

test: lint
	$(BIN)/python scripts/ensure_programs.py chromium
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check jupyter_cts tests bench scripts
	$(BIN)/ruff format --check jupyter_cts tests bench scripts
	$(BIN)/mypy jupyter_cts

bench: $(STAMP)
	$(BIN)/python scripts/ensure_programs.py wrk
	for b in $(BENCHMARKS); do $(BIN)/python bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info
