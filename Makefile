# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000
WORKERS ?= 2
# Seconds a gunicorn worker may spend on one request: a streamed export of a large list takes minutes.
TIMEOUT ?= 600
# Test processes for `make test` (`auto`: one per core; 0 runs the suite in this process).
TEST_WORKERS ?= auto

.PHONY: install run serve worker migrate static seed test lint bench clean

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

# The admin's and the API docs' assets, served by the app itself (WhiteNoise) when DEBUG is off.
static: install .env
	$(PY) manage.py collectstatic --noinput --verbosity 0

# Creates the demo once; prints the demo accounts every time.
seed: migrate
	$(PY) manage.py seed_data

# Development server with the demo data (DEBUG as in .env).
run: seed static
	$(PY) manage.py runserver $(HOST)

# A production-style start: gunicorn serving the API, the admin and their static files (see docs/operations.md).
serve: migrate static
	$(VENV)/bin/gunicorn crmAdmin.wsgi --workers $(WORKERS) --bind $(HOST) --timeout $(TIMEOUT)

# Background jobs (webhooks, mail, imports, purges) when REDIS_URL is set; without it the app runs them itself.
worker: install .env
	$(VENV)/bin/celery -A crmAdmin worker --beat --loglevel INFO

# The whole suite, spread over the cores (at most eight processes); the tests need no .env (a throwaway key
# is enough). It stays off the Redis a .env names, which its processes would empty under each other: the
# tests that need Redis use a database of each process's own (crmApp/tests/test_processes.py).
test: install
	REDIS_URL= SECRET_KEY=$${SECRET_KEY:-test-only-secret-key-never-used-in-production} \
		$(VENV)/bin/pytest --numprocesses $(TEST_WORKERS) --maxprocesses 8 $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Benchmark on PostgreSQL and Redis (not part of `make test`); see bench/README.md. Its load modes drive wrk.
bench: install
	@case " $(ARGS) " in *" --http"*|*" --webhooks"*) command -v wrk >/dev/null || \
		{ echo "make bench $(ARGS) needs wrk; install it with: sudo apt-get install wrk" >&2; exit 1; } ;; esac
	SECRET_KEY=$${SECRET_KEY:-bench-only-secret-key-never-used-in-production} $(PY) bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm .pytest_cache staticfiles
