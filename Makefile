# One command each, on a fresh machine:  make demo  |  make test
# Installs into ./.venv (Python >= 3.10), then runs.

PYTHON ?= python3
VENV ?= .venv
CORES ?= all
# The CPU build of torch; on a GPU machine set TORCH_SPEC="torch" (CUDA build).
TORCH_SPEC ?= torch==2.13.0
# COMET (unbabel-comet pins transformers<5, numpy<2): an interpreter of its own, which
# prettyflow.metrics.comet runs as a subprocess (metrics.comet.python).
COMET_VENV ?= .venv-comet
# torch for .venv-comet: the same (CPU) build as the main environment by default.
COMET_TORCH_SPEC ?= $(TORCH_SPEC)
BIN := $(VENV)/bin
COMET_BIN := $(COMET_VENV)/bin

.PHONY: install comet-env demo report test test-fast test-envs lint benchmark clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[workflow,decode,score,demo,dev,slurm]"
	touch $@

install: $(VENV)/.installed

$(COMET_BIN)/activate:
	$(PYTHON) -m venv $(COMET_VENV)
	$(COMET_BIN)/pip install --quiet --upgrade pip

$(COMET_VENV)/.installed: pyproject.toml | $(COMET_BIN)/activate
	$(COMET_BIN)/pip install --quiet "$(COMET_TORCH_SPEC)"
	$(COMET_BIN)/pip install --quiet -e ".[comet]"
	touch $@

comet-env: $(COMET_VENV)/.installed

demo: install comet-env
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html

# The Snakemake report of the last run: every table and figure, with captions.
report: install
	$(BIN)/snakemake --report results/report.html

test: install comet-env
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not workflow and not envs"

# Resolves the pip part of every envs/*.yaml in a fresh venv (needs PyPI).
test-envs: install
	$(BIN)/python -m pytest -q -m envs

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/ruff format --check src scripts tests benchmarks

benchmark: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/decode_speed.py

clean:
	rm -rf results logs .snakemake
