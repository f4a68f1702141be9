# Two commands do all the set-up on a fresh machine with Python 3.11+ and make:
#   make demo   # installs into .venv, then diagnoses a bundled real log
#   make test   # installs into .venv (with test extras), then runs the whole test suite
# and for the people changing the code:
#   make test-long  # the exhaustive campaigns: every real log on every engine, long fuzzing
#   make lint       # ruff and mypy, as configured in pyproject.toml
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-long lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/caffelog parse sample_logs/nan_explode/train.log
	$(BIN)/caffelog diagnose --fail-on never sample_logs/nan_explode/train.log

test: $(STAMP)
	$(BIN)/python -m pytest

test-long: $(STAMP)
	CAFFELOG_LONG=1 $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check caffelog tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_parse.py

clean:
	rm -rf $(VENV) build dist *.egg-info
