# Two commands matter: `make run` (the whole stack: Better-Auth + the API) and `make test`
# (everything CI checks).
SHELL := /bin/bash
.DEFAULT_GOAL := help

BACKEND := backend
UV ?= uv
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

.PHONY: uv
uv:
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv

.PHONY: install
install: uv ## Install the backend's locked dependencies into backend/.venv
	cd $(BACKEND) && $(UV) sync --frozen --quiet

.PHONY: migrate
migrate: install ## Apply database migrations (DATABASE_URL, default: embedded SQLite)
	cd $(BACKEND) && $(UV) run --frozen alembic upgrade head

.PHONY: run
run: uv ## The whole local stack: Better-Auth on :3000 + the API on :8000 (SQLite unless DATABASE_URL), migrated; prints how to get a token; Ctrl-C stops both
	./scripts/dev.sh

.PHONY: dev
dev: run ## Old name of `make run`

.PHONY: run-api
run-api: migrate ## The API alone on http://localhost:8000, for your own Better-Auth (BETTER_AUTH_URL, BETTER_AUTH_SECRET, DATABASE_URL)
	cd $(BACKEND) && $(UV) run --frozen uvicorn app.main:app --host $(HOST) --port $(PORT) \
		--loop uvloop --http httptools --no-access-log --workers $${WEB_CONCURRENCY:-1}

.PHONY: lint
lint: install ## ruff (lint + format check) and mypy (strict for app/)
	cd $(BACKEND) && $(UV) run --frozen ruff check .
	cd $(BACKEND) && $(UV) run --frozen ruff format --check .
	cd $(BACKEND) && $(UV) run --frozen mypy

.PHONY: test-postgres
test-postgres: install ## Test suite on PostgreSQL (TEST_DATABASE_URL or the local server), with coverage
	cd $(BACKEND) && $(UV) run --frozen pytest -m "not e2e" --cov --cov-report=term --cov-report=xml:coverage.xml

.PHONY: test-sqlite
test-sqlite: install ## The database tests on a temporary SQLite file (the rest do not depend on the dialect: test-postgres runs them)
	cd $(BACKEND) && TEST_DB=sqlite $(UV) run --frozen pytest -m "not e2e" -q -p no:cacheprovider --sqlite-pass

# What the suite needs besides uv: Chromium (installed from the system's packages when root or
# sudo needs no password), Node.js and npm. Missing and not installable: one line, nothing run.
CHROMIUM ?= chromium
.PHONY: test-prerequisites
test-prerequisites: ## Check (and when it can, install) what `make test` needs: Chromium, Node.js, npm
	@CHROMIUM='$(CHROMIUM)' ./scripts/test-prerequisites.sh >/dev/null

.PHONY: test
test: test-prerequisites lint test-postgres test-sqlite docs test-e2e ## Everything CI runs: prerequisites, lint, types, tests on PostgreSQL and SQLite, the documentation site, end-to-end

.PHONY: requirements
requirements: uv ## Re-export requirements*.txt from uv.lock
	cd $(BACKEND) && $(UV) export --frozen --no-dev --no-hashes --no-emit-project -o requirements.txt --quiet
	cd $(BACKEND) && $(UV) export --frozen --only-dev --no-hashes --no-emit-project -o requirements-dev.txt --quiet

.PHONY: admin
admin: migrate ## Make a signed-up user an admin: make admin EMAIL=you@example.com (revoke: python -m app.cli revoke-admin)
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=you@example.com" >&2; exit 2; }
	cd $(BACKEND) && $(UV) run --frozen python -m app.cli grant-admin "$(EMAIL)"

# npm writes node_modules/.package-lock.json on every install: older than package-lock.json
# (or missing) means the auth server's dependencies must be (re)installed.
AUTH_SERVER := auth-server
AUTH_SERVER_INSTALLED := $(AUTH_SERVER)/node_modules/.package-lock.json

$(AUTH_SERVER_INSTALLED): $(AUTH_SERVER)/package-lock.json
	cd $(AUTH_SERVER) && npm ci --no-audit --no-fund
	@touch $@

# The OpenID Connect provider the OAuth sign-in E2E test signs in at (a Node script, its own lock).
OIDC_PROVIDER := $(BACKEND)/tests/support/oidc_provider
OIDC_PROVIDER_INSTALLED := $(OIDC_PROVIDER)/node_modules/.package-lock.json

$(OIDC_PROVIDER_INSTALLED): $(OIDC_PROVIDER)/package-lock.json
	cd $(OIDC_PROVIDER) && npm ci --no-audit --no-fund
	@touch $@

# The TypeScript client (clients/typescript): its generator, type checker and test runner.
TS_CLIENT := clients/typescript
TS_CLIENT_INSTALLED := $(TS_CLIENT)/node_modules/.package-lock.json

$(TS_CLIENT_INSTALLED): $(TS_CLIENT)/package-lock.json
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: client
client: $(TS_CLIENT_INSTALLED) ## Regenerate clients/typescript/src/schema.d.ts from the OpenAPI contract
	cd $(TS_CLIENT) && npm run -s generate

# The admin console (admin-console/, served by the API at /admin): built into admin-console/dist
# (not committed) when its sources, its lockfile or the TypeScript client changed.
ADMIN_CONSOLE := admin-console
ADMIN_CONSOLE_INSTALLED := $(ADMIN_CONSOLE)/node_modules/.package-lock.json
ADMIN_CONSOLE_BUILT := $(ADMIN_CONSOLE)/dist/index.html
ADMIN_CONSOLE_SOURCES := $(shell find $(ADMIN_CONSOLE)/src $(ADMIN_CONSOLE)/public -type f 2>/dev/null) \
	$(addprefix $(ADMIN_CONSOLE)/,index.html vite.config.ts tsconfig.json package.json) \
	$(TS_CLIENT)/src/index.ts $(TS_CLIENT)/src/schema.d.ts

$(ADMIN_CONSOLE_INSTALLED): $(ADMIN_CONSOLE)/package-lock.json
	cd $(ADMIN_CONSOLE) && npm ci --no-audit --no-fund
	@touch $@

$(ADMIN_CONSOLE_BUILT): $(ADMIN_CONSOLE_INSTALLED) $(ADMIN_CONSOLE_SOURCES)
	cd $(ADMIN_CONSOLE) && npm run -s build

.PHONY: admin-console
admin-console: $(ADMIN_CONSOLE_BUILT) ## Build the admin console (type check + Vite) into admin-console/dist; the API serves it at /admin

.PHONY: test-e2e
test-e2e: install $(AUTH_SERVER_INSTALLED) $(OIDC_PROVIDER_INSTALLED) $(TS_CLIENT_INSTALLED) $(ADMIN_CONSOLE_BUILT) ## End-to-end tests: real Better-Auth server + API processes on PostgreSQL, browsers (docs, admin console), TypeScript client, OpenID provider
	chromium=$$(CHROMIUM='$(CHROMIUM)' ./scripts/test-prerequisites.sh) && cd $(BACKEND) && \
		CHROMIUM_PATH="$$chromium" E2E_REQUIRED=1 $(UV) run --frozen pytest tests/e2e -m e2e -q -p no:cacheprovider

MATRIX_VERSIONS ?= 1.6.34 1.7.29
.PHONY: test-matrix
test-matrix: install $(AUTH_SERVER_INSTALLED) $(OIDC_PROVIDER_INSTALLED) $(TS_CLIENT_INSTALLED) $(ADMIN_CONSOLE_BUILT) ## End-to-end tests against each Better-Auth line (MATRIX_VERSIONS, default the newest 1.6.x and 1.7.x; others installed under auth-server/.variants/); see docs/reference/better-auth-versions.md
	MATRIX_VERSIONS='$(MATRIX_VERSIONS)' CHROMIUM='$(CHROMIUM)' UV='$(UV)' ./scripts/test-matrix.sh

# The documentation site: mkdocs.yml, pages under docs/; built into site/ (git-ignored).
DOCS_PORT ?= 8001
MKDOCS := NO_MKDOCS_2_WARNING=1 $(UV) run --frozen --project $(BACKEND) --only-group docs mkdocs

.PHONY: docs
docs: uv ## Build the documentation site into site/ (--strict: a broken link, anchor or unlisted page fails)
	$(MKDOCS) build --strict

.PHONY: docs-serve
docs-serve: uv ## Serve the documentation site on http://127.0.0.1:8001 (DOCS_PORT), rebuilt on every change
	$(MKDOCS) serve --dev-addr 127.0.0.1:$(DOCS_PORT)

.PHONY: docs-reference
docs-reference: install ## Regenerate docs/reference/{settings,endpoints,error-codes}.md from the code and the contract
	cd $(BACKEND) && $(UV) run --frozen python -m scripts.docs_reference

.PHONY: test-compose
test-compose: install ## The Compose stacks built and run for real: stack, restarts, 4 replicas, dev profile (root; installs Docker when missing; see docs/operations/compose.md)
	./scripts/test-compose.sh

.PHONY: openapi
openapi: install ## Regenerate specs/003-fastapi-better-auth/contracts/openapi.yaml from the app
	cd $(BACKEND) && $(UV) run --frozen python -m scripts.export_openapi

# Extra options of `python -m bench.run` (the recipe passes --profile itself).
BENCH_ARGS ?=
.PHONY: wrk
wrk: ## Check for wrk (the load generator of `make bench`); installs it with apt-get when root
	@command -v wrk >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "wrk is missing: apt-get install -y wrk"; \
			apt-get update -qq && apt-get install -y -qq wrk; \
		else \
			echo "wrk is missing: install it with 'sudo apt-get install -y wrk' (Debian/Ubuntu; brew install wrk on macOS)" >&2; \
			exit 1; \
		fi; }

.PHONY: bench
bench: uv wrk $(AUTH_SERVER_INSTALLED) ## Benchmark vs Better-Auth and the Python peers (PostgreSQL at 127.0.0.1:5432, wrk; about 45 min, "your own endpoint" included): writes docs/benchmarks/ (BENCH_ARGS="--skip-100k ...")
	cd $(BACKEND) && $(UV) run --frozen --group bench python -m bench.run --profile $(BENCH_ARGS)

# The same handler in a bare FastAPI app and added to this one (no auth, CurrentUser, require_permission;
# JWT and session token; 1 and 2 workers): docs/benchmarks/own-endpoint.md.
BENCH_OWN_ARGS ?= --users 1000 --connections 64 --duration 5 --warmup 2 --pause 1 --repeat 5
.PHONY: bench-own
bench-own: uv wrk $(AUTH_SERVER_INSTALLED) ## "Your own endpoint" only: a handler added to this app vs a bare FastAPI app (about 8 min): writes docs/benchmarks/own-endpoint.md
	cd $(BACKEND) && $(UV) run --frozen --group bench python -m bench.run --own $(BENCH_OWN_ARGS)

.PHONY: bench-costs
bench-costs: uv $(AUTH_SERVER_INSTALLED) ## What each dependency of a handler costs, in-process (PostgreSQL at 127.0.0.1:5432; about 2 min): writes docs/benchmarks/endpoint-costs.md
	cd $(BACKEND) && $(UV) run --frozen --group bench python -m bench.endpoint_costs $(BENCH_COSTS_ARGS)

.PHONY: bench-memory
bench-memory: uv ## RSS of one worker with full caches (10k tokens, 10k identities; PostgreSQL at 127.0.0.1:5432): writes docs/benchmarks/memory.md
	cd $(BACKEND) && $(UV) run --frozen --group bench python -m bench.memory

.PHONY: bench-replicas
bench-replicas: install ## Change propagation at 1, 4 and 8 API replicas behind HAProxy (Docker, root; about 10 min): writes docs/benchmarks/replicas.md
	./scripts/test-compose.sh --bench

.PHONY: audit
audit: uv ## Operators: pip-audit + npm audit over the lockfiles, minus audit-ignore.toml (needs the advisory databases; not part of `make test`)
	cd $(BACKEND) && $(UV) run --frozen python -m scripts.audit
