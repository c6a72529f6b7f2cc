# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install effsearch, run the baseline search on the embedded data set
#   make test   create .venv, install effsearch with test tools, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installed first, so the project's loose torch requirement never replaces it. Which build this
# gets depends on the package index: plain PyPI gives Linux x86-64 the CUDA build; for the CPU
# build run e.g. make install TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu".
TORCH := torch==2.13.0
# timm is a test-only reference (tests/test_timm_builder.py), installed --no-deps: its torchvision
# requirement would pull a second, CUDA torch (tests/timm_stub.py stands in for torchvision), and
# huggingface_hub 0.36 is the last that imports with the venv's requests (1.x needs httpx).
TIMM := timm==1.0.31 safetensors==0.8.0 huggingface_hub==0.36.2
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
	$(BIN)/python -m pip install --quiet --no-deps $(TIMM)
	$(BIN)/ruff check effsearch tests benchmarks
	$(BIN)/python -m pytest -q -n auto --dist worksteal

lint: install
	$(BIN)/ruff check effsearch tests benchmarks

bench: install
	$(BIN)/python benchmarks/bench_count.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
