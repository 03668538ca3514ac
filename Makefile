# Two entry points for a fresh machine (see README): `make crawl` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

.PHONY: install crawl demo test lint
install: $(STAMP)

# The main job: crawl every registered site into ./xunshi.db (needs the sites' network).
crawl: $(STAMP)
	$(BIN)/xunshi crawl

# The whole loop offline: recorded sites on 127.0.0.1, two crawls, the report (~10 s).
demo: $(STAMP)
	$(BIN)/xunshi demo

lint: $(STAMP)
	$(BIN)/ruff check crawler store scheduler.py cli.py cli_common.py cli_deliver.py cli_facts.py cli_serve.py cli_sites.py cli_worker.py tests bench tools
	$(BIN)/ruff format --check crawler store scheduler.py cli.py cli_common.py cli_deliver.py cli_facts.py cli_serve.py cli_sites.py cli_worker.py
	$(BIN)/mypy crawler store scheduler.py

# The tests: lint, types, then the whole suite (local servers on 127.0.0.1 only).
test: lint
	$(BIN)/pytest
