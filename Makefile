# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000

.PHONY: install run migrate seed test bench clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

.env:
	cp .env.example .env

migrate: install .env
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_data

run: seed
	$(PY) manage.py runserver $(HOST)

# The whole suite; the tests need no .env (a throwaway key is enough).
test: install
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key-never-used-in-production} $(VENV)/bin/pytest $(ARGS)

# Latency benchmark on PostgreSQL (not part of `make test`); see bench/README.md.
bench: install
	SECRET_KEY=$${SECRET_KEY:-bench-only-secret-key-never-used-in-production} $(PY) bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm .pytest_cache
