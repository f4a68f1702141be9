# Two commands do all the set-up on a fresh machine with Python 3.11+ and make:
#   make demo   # installs into .venv, then diagnoses a bundled real log
#   make test   # installs into .venv (with test extras), then runs the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/caffelog parse sample_logs/nan_explode/train.log
	$(BIN)/caffelog diagnose --fail-on never sample_logs/nan_explode/train.log

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_parse.py

clean:
	rm -rf $(VENV) build dist *.egg-info
