# dynamore: every target sets itself up on a fresh clone (Python 3, Java 17+ and npm needed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DDB    := $(BIN)/python -m dynamore.testing
# npm tools the tests run against (a real validator rather than our own reading of a spec).
TOOLS  := .tools
ASL_VALIDATOR := $(TOOLS)/node_modules/.bin/asl-validator
# test-all: the Pythons README.rst promises (and AWS Lambda runs); SKIP_PYTHONS leaves some out.
PYTHONS      ?= 3.9 3.10 3.11 3.12 3.13
SKIP_PYTHONS ?=

.PHONY: help venv ddb-install tools test test-all demo bench bench-quick lint ddb clean

help:
	@echo "make demo   - run the README quick start against a throw-away DynamoDB Local"
	@echo "make test   - ruff check, then the whole test suite (starts DynamoDB Local itself)"
	@echo "make test-all - the test suite on every Python 3.9 ... 3.13 found (.venv-3.X each)"
	@echo "make bench  - benchmarks side by side with boto3/botocore/PynamoDB (QUICK=1: small N)"
	@echo "make lint   - ruff check, ruff format --check, mypy"
	@echo "make ddb    - DynamoDB Local in the foreground, for your own experiments"
	@echo "make clean  - remove the virtualenv, the DynamoDB Local download and caches"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.9+"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

ddb-install: venv
	@$(DDB) install

$(ASL_VALIDATOR):
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js with npm"; exit 2; }
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) asl-validator@4.0.0

tools: $(ASL_VALIDATOR)

test: ddb-install tools
	$(BIN)/ruff check dynamore tests benchmarks
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: ddb-install tools
	@PYTHONS="$(PYTHONS)" SKIP_PYTHONS="$(SKIP_PYTHONS)" PYTEST_ARGS="$(PYTEST_ARGS)" \
		bash .ci/test-all

demo: ddb-install
	$(DDB) run -- $(BIN)/python -m dynamore.demo

bench: ddb-install
	$(DDB) run -- $(BIN)/python -m benchmarks $(if $(QUICK),--quick)

bench-quick:
	$(MAKE) bench QUICK=1

lint: venv
	$(BIN)/ruff check dynamore tests benchmarks
	$(BIN)/ruff format --check dynamore tests benchmarks
	$(BIN)/mypy

ddb: ddb-install
	$(DDB) serve

clean:
	rm -rf $(VENV) .venv-3.* .ddb $(TOOLS) bench-results .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -rf *.egg-info
