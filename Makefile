# The two commands a newcomer needs: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
# Phones get cryptography 43.0.1 (the only release Flet ships for Android and iOS): the crypto
# and store tests run again under it.
PHONE := .venv-crypto43
PHONE_READY := $(PHONE)/.ready

.PHONY: run test clean

$(READY): pyproject.toml
	$(PYTHON) -m venv $(VENV) || { apt-get update -q && apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(PHONE_READY): pyproject.toml
	$(PYTHON) -m venv $(PHONE) || { apt-get update -q && apt-get install -y -q python3-venv && $(PYTHON) -m venv $(PHONE); }
	$(PHONE)/bin/python -m pip install --quiet --upgrade pip
	$(PHONE)/bin/python -m pip install --quiet "cryptography==43.0.1" "tinydb>=4.8,<5" "flet-secure-storage>=1.0.5,<1.1" pytest hypothesis
	$(PHONE)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

DEMO := .demo
HUB := $(BIN)/fieldapp-hub --db sqlite:///$(DEMO)/hub.db --key $(DEMO)/hub.key
PORT ?= 8080

run: $(READY)
	mkdir -p $(DEMO)
	$(HUB) demo | tee $(DEMO)/demo.txt
	$(BIN)/python scripts/demo-day --db sqlite:///$(DEMO)/hub.db --key $(DEMO)/hub.key \
		--port $(PORT) --demo $(DEMO)/demo.txt --phone $(DEMO)/phone-ann

test: $(READY) $(PHONE_READY)
	scripts/ensure-postgres
	scripts/ensure-chromium
	scripts/ensure-proxies
	$(BIN)/ruff check fieldapp tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n auto --dist loadfile --cov --cov-report=term-missing:skip-covered --cov-fail-under=100
	@echo "== crypto and store tests again under the phones' cryptography 43.0.1 =="
	$(PHONE)/bin/python -c "import cryptography; assert cryptography.__version__ == '43.0.1'"
	$(PHONE)/bin/pytest tests/integration -p no:cacheprovider

clean:
	rm -rf $(VENV) $(PHONE) $(DEMO) .pytest_cache .mypy_cache .ruff_cache .coverage .hypothesis
