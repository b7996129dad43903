# Indelible: `make run` starts everything, `make test` runs every test, `make check` runs every linter.
# Both install what is missing first; a second run starts in seconds.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SOLC_VERSION := 0.8.28

export SOLCX_BINARY_PATH := $(CURDIR)/.solcx
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup setup-dev compile run test test-contracts test-backend system-packages check lint clean reader screenshots

setup: $(VENV)/.installed node_modules/.installed .solcx/solc-v$(SOLC_VERSION)
setup: vendor
# Tests and checks also need the development tools (requirements-dev.txt); `make run` does not.
setup-dev: setup $(VENV)/.dev-installed

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# One pip run for both files (requirements-dev.txt includes requirements.txt): brownie's exact pins must hold.
$(VENV)/.dev-installed: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# Schemathesis (API fuzzing) pins a hypothesis that clashes with brownie's: its own venv.
.venv-fuzz/.installed: requirements-fuzz.txt
	@test -x .venv-fuzz/bin/python || $(PYTHON) -m venv .venv-fuzz
	.venv-fuzz/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-fuzz.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.solcx/solc-v$(SOLC_VERSION): scripts/setup_solc.py $(VENV)/.installed node_modules/.installed
	$(PY) scripts/setup_solc.py $(SOLC_VERSION)

# Browser libraries, served by the app itself (no CDN): copied from node_modules.
VENDOR := backend/static/vendor
VENDOR_FILES := $(VENDOR)/ethers.min.js $(VENDOR)/markdown-it.esm.js
VENDOR_FILES += $(VENDOR)/swagger-ui-bundle.js $(VENDOR)/swagger-ui.css $(VENDOR)/redoc.standalone.js
VENDOR_FILES += $(VENDOR)/ethereumjs.js
.PHONY: vendor
vendor: $(VENDOR_FILES)

$(VENDOR)/ethers.min.js: node_modules/.installed
	@mkdir -p $(VENDOR) && cp node_modules/ethers/dist/ethers.min.js $@

# @ethereumjs/mpt and @ethereumjs/block for static/js/proof.js: one ES module bundled by the pinned esbuild
# (same inputs, same bytes), from the entry that names what proof.js imports.
$(VENDOR)/ethereumjs.js: scripts/vendor/ethereumjs.mjs node_modules/.installed
	@mkdir -p $(VENDOR) && esbuild $< --bundle --format=esm --platform=browser --target=es2022 --minify \
		--legal-comments=none --log-level=warning --outfile=$@

# markdown-it 14.1.0 from its ES module source, bundled by the pinned esbuild with the linkify-it, mdurl and
# punycode.js that package-lock.json pins (the reader's bundle uses the same; the server's markdown-it-py 4.3.0
# and linkify-it-py port them). Not its UMD dist bundle: that carries an older linkify-it of its own, which ends
# some bare URLs elsewhere than the server does (https://xn--nxasmq6b.example*_*_..., test_render_parity).
$(VENDOR)/markdown-it.esm.js: node_modules/.installed
	@mkdir -p $(VENDOR) && esbuild node_modules/markdown-it/index.mjs --bundle --format=esm --platform=browser \
		--target=es2022 --minify --legal-comments=none --log-level=warning --outfile=$@

# API docs (/docs, /redoc): backend/web/apidocs.py serves these instead of FastAPI's CDN links.
$(VENDOR)/swagger-ui-bundle.js $(VENDOR)/swagger-ui.css: node_modules/.installed
	@mkdir -p $(VENDOR) && cp node_modules/swagger-ui-dist/$(@F) $@

# ReDoc 2.5's sidebar always shows an <img> from cdn.redoc.ly: point it at an empty data: SVG, no third party.
REDOC_LOGO := https://cdn.redoc.ly/redoc/logo-mini.svg
EMPTY_SVG := data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27/%3E
$(VENDOR)/redoc.standalone.js: node_modules/.installed
	@mkdir -p $(VENDOR) && sed 's|$(REDOC_LOGO)|$(EMPTY_SVG)|g' node_modules/redoc/bundles/redoc.standalone.js > $@
	@! grep -q 'cdn.redoc.ly' $@ || { echo "$@ still names cdn.redoc.ly" >&2; rm $@; exit 1; }

compile: setup
	@$(PY) scripts/brownie_network.py >/dev/null
	brownie compile
	# where each immutable sits in Board's runtime code (solc-js), for join and /api/contract: cached once here
	$(PY) -c 'from backend.deployments.code import immutable_references; immutable_references()'
	@$(MAKE) --no-print-directory $(VENDOR)/board-release.json

# The release's Board code and immutables for the browser's proofs (backend/deployments/release.py); only when Board changed.
$(VENDOR)/board-release.json: build/contracts/Board.json backend/deployments/release.py
	$(PY) -m backend.deployments.release

# The node-free reader (docs/reader.md): one self-contained HTML file, the same bytes for the same commit;
# prints its CID (sha256 as CIDv1 raw), also written to dist/indelible-reader.html.cid. Every node serves it.
reader: compile
	$(PY) reader/build.py

run: compile reader
	$(PY) -m backend run

# Two pytest runs, side by side (scripts/run_tests.sh): brownie's plugin drives the contract tests on a
# Ganache it launches; the rest runs without it, its files spread over TEST_WORKERS processes (pytest-xdist;
# each worker has its own PostgreSQL database, tests/support/index.py). The suite mostly waits on Ganache,
# Anvil and Chromium, so two workers and the contract run beside them fit two cores. pytest exits 5 when it
# collects nothing, which fails like any other non-zero code. test-contracts and test-backend run one each.
TEST_WORKERS ?= 2
CONTRACT_TESTS = $(PY) -m pytest tests/contracts --network indelible-test -ra
BACKEND_TESTS = $(PY) -m pytest -p no:pytest-brownie -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	tests/backend tests/browser -ra
test: compile setup-dev reader .venv-fuzz/.installed system-packages
	scripts/run_tests.sh "$(CONTRACT_TESTS)" "$(BACKEND_TESTS)"

test-contracts: compile setup-dev
	$(CONTRACT_TESTS)

test-backend: compile setup-dev reader .venv-fuzz/.installed system-packages
	$(BACKEND_TESTS)

# Debian's Chromium for the browser tests: installed as root, else the exact command is printed at once.
system-packages:
	@scripts/system_packages.sh chromium

# Every linter and type checker, each pinned (requirements-dev.txt, package.json devDependencies); CI runs this first.
check: $(VENV)/.dev-installed node_modules/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	eslint --max-warnings 0 .
	tsc -p tsconfig.json
	solhint --disc --max-warnings 0 'contracts/**/*.sol'

lint: check

# Chromium screenshots of a seeded board on a throwaway chain (front page, thread, compose, settings, status;
# light and dark, and 375 px wide) into docs/screenshots/, quantised small (scripts/screenshots.py).
screenshots: compile setup-dev system-packages
	$(PY) -m scripts.screenshots

clean:
	rm -rf build reports .solcx .pytest_cache dist
