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

.PHONY: run test test-fast lint check bench clean

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

# The whole suite: unit, real-server and browser tests. DATABASE_URL picks the database.
test: $(VENV)/.installed
	$(VENV)/bin/pytest

# Without the tests that start a server or a browser.
test-fast: $(VENV)/.installed
	$(VENV)/bin/pytest -m "not slow"

# Admin pages and the CSV export timed on a large data set (docs/benchmarks.md).
# Needs DATABASE_URL pointing at a database filled by `manage.py generate_demo_data`.
bench: $(VENV)/.installed
	$(PY) bench/admin_pages.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache test-db.sqlite3* $(RUN_LOG)
