# Set-up and everyday commands. Each target creates the virtualenv when it is missing.
# VENV may point elsewhere (CI keeps one per pyproject.toml hash outside the clone).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.freqbench-$(shell cat pyproject.toml | sha1sum | cut -c1-12)-$(shell echo $(CURDIR) | sha1sum | cut -c1-8)
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: install data demo test test-fast lint check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -c "import torchvision, freqbench.compat as c; c.import_robustbench()"
	touch $@

# Real Fashion-MNIST from Debian's package (needs root and the Debian registry).
data:
	@test -f $(FMNIST)/t10k-images-idx3-ubyte.gz || \
		{ apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }

demo: install data
	$(BIN)/freqbench demo

test: install data
	$(BIN)/pytest -q

# The inner loop: the tests not marked slow (CLI subprocesses, pip installs, long cases).
test-fast: install data
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# What CI checks besides the tests: lint, the zoo and records, generated leaderboards.
check: lint
	$(BIN)/freqbench validate
	$(BIN)/freqbench leaderboard --check
	$(BIN)/freqbench findings --dataset fashion-mnist --check

bench: install data
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo
