# The two commands of the README: `make run` and `make test`. Everything else is a helper.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
SECRET_KEY_FILE := .secret_key

# Local runs: plain HTTP on localhost, a generated secret key kept out of git.
export DJANGO_LOCAL ?= 1

.PHONY: run test test-fast lint check bench bench-admin clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(SECRET_KEY_FILE):
	umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(50))' > $@

run: $(VENV)/.installed $(SECRET_KEY_FILE)
	@export DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat $(SECRET_KEY_FILE))}" && \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py ensure_admin && \
	echo "Admin: http://localhost:$(PORT)/admin/" && \
	$(PY) manage.py callback_urls --base-url http://localhost:$(PORT) && \
	exec $(VENV)/bin/gunicorn crm.wsgi --bind $(HOST):$(PORT) --access-logfile - \
		--workers $${WEB_CONCURRENCY:-2} --threads 4 --limit-request-line 8190

# The whole suite: unit, real-server and browser tests. DATABASE_URL picks the database.
test: $(VENV)/.installed
	$(VENV)/bin/pytest

# Without the tests that start a server or a browser.
test-fast: $(VENV)/.installed
	$(VENV)/bin/pytest -m "not slow"

# Callbacks against a one-INSERT floor, one vote's profile and the million-row CSV export, on
# SQLite and PostgreSQL (127.0.0.1:5432, user postgres), written to docs/benchmarks.md.
# Needs Debian's wrk (apt-get install wrk).
bench: $(VENV)/.installed
	$(PY) bench/report.py

# Admin pages timed on a large data set (docs/benchmarks-admin.md). Needs DATABASE_URL
# pointing at a database filled by `manage.py generate_demo_data`.
bench-admin: $(VENV)/.installed
	$(PY) bench/admin_pages.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache test-db.sqlite3*
