# The two commands a newcomer needs: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

.PHONY: run test clean

$(READY): pyproject.toml
	$(PYTHON) -m venv $(VENV) || { apt-get update -q && apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(READY)
	$(BIN)/fieldapp-walkthrough

test: $(READY)
	$(BIN)/ruff check fieldapp tests bench
	$(BIN)/mypy
	$(BIN)/pytest --cov --cov-report=term-missing:skip-covered --cov-fail-under=100

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .hypothesis
