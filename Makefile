# The two commands of the README: `make run` and `make test`. Everything else is a helper.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
# Local settings (DJANGO_LOCAL, the generated secret key) that manage.py and wsgi read.
ENV_FILE ?= .env
# Where `make run` sends everything but its banner: migrations, gunicorn's logs.
RUN_LOG ?= run.log
export DJANGO_ENV_FILE := $(abspath $(ENV_FILE))

.PHONY: run demo test test-fast lint check bench bench-admin clean

# What running needs; the test tools come only with `make test`.
$(VENV)/.runtime: pyproject.toml
	@echo "Installing the runtime dependencies into $(VENV)..."
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed: $(VENV)/.runtime
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Written once, never committed. A key from an older `.secret_key` is kept, so sessions survive.
$(ENV_FILE):
	@umask 077 && { \
	  echo "# Local settings written by make run (git-ignored); the environment wins over them."; \
	  echo "DJANGO_LOCAL=1"; \
	  echo "DJANGO_SECRET_KEY=$$(cat .secret_key 2>/dev/null || \
	    python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"; \
	} > $@

run: $(VENV)/.runtime $(ENV_FILE)
	@echo "Preparing the database..."
	@$(PY) manage.py migrate --noinput > $(RUN_LOG) 2>&1 || { tail -20 $(RUN_LOG); exit 1; }
	@echo "Sumotext CRM: http://localhost:$(PORT)/admin/"
	@$(PY) manage.py ensure_admin
	@echo "Callback URLs to paste into Sumotext:"
	@$(PY) manage.py callback_urls --base-url http://localhost:$(PORT)
	@echo "Server output goes to $(RUN_LOG) (tail -f $(RUN_LOG)); Ctrl-C stops the server."
	@$(VENV)/bin/gunicorn -c gunicorn.conf.py crm.wsgi --bind $(HOST):$(PORT) >> $(RUN_LOG) 2>&1 \
	  || { echo "The server stopped; the end of $(RUN_LOG):"; tail -5 $(RUN_LOG); exit 1; }

# A fresh SQLite database (demo.sqlite3) with sample campaigns and two weeks of history, the
# server, and a few hundred callbacks through its real callback URLs; then it keeps serving.
DEMO_DB ?= demo.sqlite3
DEMO_LOG ?= demo.log
DEMO_CALLBACKS ?= 300
demo: $(VENV)/.runtime $(ENV_FILE)
	@rm -f $(DEMO_DB) $(DEMO_DB)-*
	@export DATABASE_URL="sqlite:///$(abspath $(DEMO_DB))"; \
	echo "Preparing the demo database ($(DEMO_DB)): sample campaigns, two weeks of callbacks..."; \
	$(PY) manage.py migrate --noinput > $(DEMO_LOG) 2>&1 || { tail -20 $(DEMO_LOG); exit 1; }; \
	urls=$$($(PY) manage.py seed_demo --base-url http://127.0.0.1:$(PORT)) || exit 1; \
	$(VENV)/bin/gunicorn -c gunicorn.conf.py crm.wsgi --bind $(HOST):$(PORT) >> $(DEMO_LOG) 2>&1 & \
	server=$$!; trap 'kill $$server 2>/dev/null' EXIT; \
	$(PY) manage.py simulate_campaign $$urls --count $(DEMO_CALLBACKS) --rate 60 --wait 30 \
	  || exit 1; \
	echo "Sumotext CRM demo: http://localhost:$(PORT)/admin/"; \
	$(PY) manage.py ensure_admin; \
	echo "Server output goes to $(DEMO_LOG); Ctrl-C stops the server."; \
	wait $$server

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
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache test-db.sqlite3* $(RUN_LOG) \
	  demo.sqlite3* $(DEMO_LOG)
