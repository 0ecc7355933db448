# Set-up and everyday tasks. `make demo` and `make test` install what they need first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install browser postgres demo test lint bench bench-peers clean

install: $(STAMP)

# torch + torchvision are pinned to the pair that installs from this machine's disk and
# imports together; the project (and its dev tools) come after them.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev,dashboard,daemon,postgresql]' --config-settings editable_mode=compat
	touch $(STAMP)

demo: install
	$(PY) -m cli.demo

# The dashboard's real-browser test drives Debian's Chromium; install it when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; the browser test will be skipped"; }

# The PostgreSQL tests start a private server with Debian's postgresql-15; install it when missing.
postgres:
	@test -x /usr/lib/postgresql/15/bin/initdb || { \
	  echo "installing Debian's postgresql-15 for the shared-log tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null) \
	  || echo "warning: could not install postgresql-15; the PostgreSQL tests will be skipped"; }

test: install browser postgres
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	$(PY) -m benchmarks.run

# MLflow's registry and the eventsourcing library side by side with ours (docs/BENCHMARKS.md).
# They live in their own virtualenv: the product's .venv never gets them.
PEERS_VENV := .venv-peers
bench-peers: install
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	test -f $(PEERS_VENV)/.installed || { $(PEERS_VENV)/bin/python -m pip install -q mlflow eventsourcing \
	  && touch $(PEERS_VENV)/.installed; }
	$(PY) -m benchmarks.peers.run

# Screenshots of every dashboard page at 1400 and 800 px wide, made by the browser test, into
# docs/dashboard/ (<page>-<width>.png). Without LIFECYCLE_SCREENSHOTS the test takes none.
.PHONY: screenshots
screenshots: install browser
	LIFECYCLE_SCREENSHOTS=docs/dashboard $(PY) -m pytest -q tests/e2e/test_dashboard_browser.py \
	  -k test_every_page_fits_at_1400_and_800_px_and_is_in_the_url

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info build
