# Heroshhi Pro. `make run` starts everything on one machine; `make test` proves it.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test lint check venv lock bench clean help

help:
	@echo "make run    install, migrate, seed a demo workspace, start web + worker + beat"
	@echo "make test   run the whole test suite (SQLite, or PostgreSQL/Redis when set)"
	@echo "make lint   ruff + mypy"
	@echo "make check  Django deploy checks with production-like settings"
	@echo "make bench  print the benchmark figures"

venv:
	@scripts/bootstrap.sh

run: venv
	@PORT=$(PORT) $(PY) manage.py runstack

test: venv
	@scripts/test.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

check: venv
	@scripts/check-deploy.sh

bench: venv
	$(PY) bench/crypto.py
	$(PY) bench/leads.py

lock: venv
	$(PY) -m pip install --quiet -e '.[dev]' && \
	{ echo "# Exact versions for reproducible installs. Regenerate with: make lock"; \
	  $(PY) -m pip freeze --exclude-editable; } > requirements.lock

clean:
	rm -rf $(VENV) var/test .pytest_cache .mypy_cache .ruff_cache
