# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install effsearch, run the baseline search on the embedded data set
#   make test   create .venv, install effsearch with test tools, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pinned here, before the project, so no loose requirement ever pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
DEMO_ARGS ?= --flops-target 400M --out results/demo

.PHONY: install demo test lint bench clean

$(BIN)/effsearch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/effsearch

demo: install
	$(BIN)/effsearch baseline $(DEMO_ARGS)

test: install
	$(BIN)/ruff check effsearch tests benchmarks
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check effsearch tests benchmarks

bench: install
	$(BIN)/python benchmarks/bench_count.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
