# The order back-office. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYSTEM ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/backoffice
# Benchmarks run the production pair: PostgreSQL + Redis (cache, throttles, broker).
# Empty: the database cache and the ORM broker instead.
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=
# Debian packages: gettext (compilemessages), chromium (browser tests),
# fonts-noto-cjk (Chinese in screenshots, charts and PDFs), pango (weasyprint PDFs).
APT_RUN := gettext fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0
APT_TEST := gettext chromium fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export VAR_DIR ?= $(CURDIR)/var

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON_SYSTEM) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[test]"
	touch $@

.PHONY: install
install: $(VENV)/.installed ## Create .venv and install the pinned dependencies

.PHONY: apt-run apt-test
apt-run:
	@missing=""; for p in $(APT_RUN); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi
apt-test:
	@missing=""; for p in $(APT_TEST); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

.PHONY: messages
messages: install ## Extract translatable strings into locale/zh_Hans (then translate them)
	$(MANAGE) makemessages -l zh_Hans --no-location --ignore ".venv/*" --ignore "bench/*"

.PHONY: compilemessages
compilemessages: install apt-run ## Compile the translations
	cd $(CURDIR) && $(MANAGE) compilemessages --ignore ".venv" -v 0

var/secret_key:
	@mkdir -p var
	@$(PYTHON_SYSTEM) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

.PHONY: setup
setup: install compilemessages var/secret_key ## Migrate SQLite, load demo data, declare schedules
	@export SECRET_KEY=$$(cat var/secret_key); \
	$(MANAGE) migrate --no-input -v 0 && \
	$(MANAGE) createcachetable && \
	$(MANAGE) collectstatic --no-input -v 0 && \
	$(MANAGE) seed_demo --if-empty && \
	$(MANAGE) setup_schedules

.PHONY: run
run: setup ## Install, migrate, load demo data and run the web server and a qcluster
	@export SECRET_KEY=$$(cat var/secret_key); \
	export EMAIL_BACKEND=$${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}; \
	trap 'kill 0' EXIT INT TERM; \
	$(MANAGE) qcluster & \
	$(VENV)/bin/gunicorn backoffice.wsgi --bind $(HOST):$(PORT) --workers 2 --threads 4 \
	  --access-logfile - --log-level warning & \
	sleep 2; \
	echo ""; \
	echo "  Order back-office running at http://$(HOST):$(PORT)/admin/"; \
	echo "  Demo supervisor login: supervisor / supervisor-demo"; \
	echo "  Team logins (password demo-pass): sales1 finance1 warehouse1 qc1"; \
	echo "  Mail is written to var/mail/ (set EMAIL_BACKEND/EMAIL_HOST for a real SMTP server)"; \
	echo "  Stop with Ctrl-C."; \
	echo ""; \
	wait

.PHONY: test
test: install apt-test compilemessages ## Run the whole suite (SQLite; PostgreSQL too when DATABASE_URL points to one)
	env -u DATABASE_URL $(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)
	@if [[ "$${DATABASE_URL:-}" == postgres* ]]; then \
	  echo "== PostgreSQL run: $${DATABASE_URL}"; \
	  REQUIRE_POSTGRES_TESTS=1 $(VENV)/bin/pytest -n 2 $(PYTEST_ARGS); \
	fi

.PHONY: test-pg
test-pg: ## The suite on the local PostgreSQL only
	DATABASE_URL=$(PG_URL) REQUIRE_POSTGRES_TESTS=1 $(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

.PHONY: lint
lint: install ## ruff check, ruff format --check, makemigrations --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MANAGE) makemigrations --check --dry-run

.PHONY: format
format: install ## Format the code with ruff
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: bench
bench: install ## Benchmarks on PostgreSQL (PG_URL): admin list 10k vs 1M orders, transitions/s, claims/s, breaker evaluation (BENCH_ARGS="--quick" for 100k)
	DATABASE_URL=$(PG_URL) REDIS_URL=$(BENCH_REDIS_URL) SECRET_KEY=bench $(PY) -m bench $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove the virtualenv, the SQLite database and collected static files
	rm -rf $(VENV) var staticfiles
