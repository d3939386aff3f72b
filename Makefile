# Two entry points for a fresh machine (see README): `make up` and `make test`.
# Every install step lives here so that CI on a clean clone does the same.
# The venv's interpreter must be one every account can run: dev servers and ranks run as
# each user's own account (docs/security.md), and an interpreter under a private home
# (pyenv in /root) is out of their reach. Debian's /usr/bin/python3 when there is one.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# the JupyterLab extension: TypeScript in src/ + style/ → a prebuilt (federated) extension
LABEXT := hai_labextension/labextension/package.json
LABEXT_SRC := $(wildcard src/*.ts style/*.css style/*.js) tsconfig.json package.json openapi.json
LABEXT_VENV := $(VENV)/share/jupyter/labextensions/hai-hub/package.json
CHROMIUM := /usr/bin/chromium
# the exact versions `make install` and docker/Dockerfile install (pyproject.toml has ranges)
CONSTRAINTS := constraints.txt
UV_COMPILE := pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
	--overrides overrides.txt --custom-compile-command "make constraints"

.PHONY: up scheduler test lint install clean constraints api-types

# everything, every extra (pyproject.toml), at the versions of constraints.txt
# (the lab extension is built first, so the package's build hook has nothing to do)
$(STAMP): pyproject.toml overrides.txt $(CONSTRAINTS) | $(LABEXT)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) uv
	$(BIN)/uv pip install -q --python $(BIN)/python --overrides overrides.txt \
		--compile-bytecode -c $(CONSTRAINTS) -e '.[all,test]'
	touch $(STAMP)

# Re-resolve constraints.txt after a change to pyproject.toml's requirements (kept pins stay;
# `make constraints UPGRADE=--upgrade` moves everything to the newest versions in range).
constraints:
	$(BIN)/uv $(UV_COMPILE) $(UPGRADE) -o $(CONSTRAINTS)

# The API's shapes live in scheduler/service/schema/ (pydantic). After changing them:
# dump the OpenAPI document the lab's TypeScript types are built from (npm run
# build:types, part of build:lib) and regenerate the Python client's types from it; commit
# both (tests/test_api_schema.py fails while either is stale).
api-types: $(STAMP)
	$(BIN)/python -m scheduler.service.handlers.openapi > openapi.json
	$(BIN)/python scripts/gen_api_types.py

# configurable-http-proxy (JupyterHub's proxy), the lab extension's build and lint tools and
# playwright-core (browser test) from the npm registry, exactly as package-lock.json says
# (`npm ci` never rewrites it; the lock holds every platform's optional packages);
# Playwright downloads no browser. After changing package.json: npm install, commit the lock.
$(NODE_STAMP): package.json package-lock.json
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(LABEXT): $(NODE_STAMP) $(LABEXT_SRC)
	npm run --silent build:prod

# the editable install copies the built extension into the venv; refresh it after a rebuild
$(LABEXT_VENV): $(LABEXT) $(STAMP)
	rm -rf $(dir $(LABEXT_VENV))
	mkdir -p $(dir $(LABEXT_VENV))
	cp -R hai_labextension/labextension/. hai_labextension/install.json $(dir $(LABEXT_VENV))
	touch $(LABEXT_VENV)

install: $(STAMP) $(NODE_STAMP) $(LABEXT) $(LABEXT_VENV)

# Debian's chromium for the browser test (tests/test_lab_browser.py), only when missing
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The whole platform on embedded defaults: JupyterHub + proxy + scheduler + lease culler.
up: install
	$(BIN)/jupyterhub -f jupyterhub_config.py

# Only the scheduler service (no hub), with its own token auth.
scheduler: install
	$(BIN)/hai-scheduler up

# Python: ruff; the lab extension's TypeScript: prettier and eslint (eslint.config.mjs)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	npm run --silent lint:check

# the suite on every core, at most 4 workers (pytest-xdist; each end-to-end test starts
# servers, a browser or a hub of its own; worksteal: a worker that is done takes tests
# queued for a busy one); `make test TEST_WORKERS=0` runs it in one process
TEST_WORKERS ?= auto
test: install lint $(CHROMIUM)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxprocesses 4 --dist worksteal

clean:
	rm -rf $(VENV) var node_modules lib tsconfig.tsbuildinfo hai_labextension/labextension \
		src/api.gen.d.ts
