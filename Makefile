# `make run` and `make test` create the virtualenv and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: $(VENV)/.installed-test
	$(BIN)/python examples/demo_mlp.py

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

lint: $(BIN)/python
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check .

bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
