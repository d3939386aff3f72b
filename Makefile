# Two entry points for a fresh machine (see README): `make up` and `make test`.
# Every install step lives here so that CI on a clean clone does the same.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: up scheduler test lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test]'
	touch $(STAMP)

# configurable-http-proxy (JupyterHub's proxy) from the npm registry
$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

# The whole platform on embedded defaults: JupyterHub + proxy + scheduler + lease culler.
up: install
	$(BIN)/jupyterhub -f jupyterhub_config.py

# Only the scheduler service (no hub), with its own token auth.
scheduler: install
	$(BIN)/hai-scheduler up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) var node_modules
