"""analysis.backend_parity end to end: the Snakemake CLI decodes Flores en-pt with
the hf and the vllm backend and writes the parity table.

A random tiny Llama (head_dim 64, as tests/test_vllm.py builds it) is both the
foundation and the SFT model; in fp32 on CPU the two backends decode the same
tokens, so every answer is identical and every metric difference 0. Needs
``.venv-vllm`` (``make vllm-env``): without it the test skips, except in CI
(``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import re
import time

import pandas as pd
import pytest
import yaml
from test_vllm import build_tiny_llama, vllm_python  # noqa: F401 (a fixture)
from workflow_setup import run_snakemake, write_one_subset_config

from prettyflow.io import read_provenance

pytestmark = pytest.mark.vllm

METRICS = ["bleu", "chrf++"]
# Flores prompts of the byte-level tiny tokenizer are a few hundred tokens long.
MAX_POSITIONS = 1024


def _tiny_llama(directory):
    folder = build_tiny_llama(directory)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["max_position_embeddings"] = MAX_POSITIONS
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def parity_run(repo_root, tmp_path_factory, vllm_python):  # noqa: F811
    workdir = tmp_path_factory.mktemp("backend-parity")
    path = write_one_subset_config(repo_root, workdir)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    llama = str(_tiny_llama(workdir / "models" / "tiny-llama"))
    config["models"]["tiny-base"] = {"path": llama, "dtype": "float32"}
    config["models"]["tiny-chat"] = {"path": llama, "dtype": "float32"}
    config["analysis"] = {
        "backend_parity": {
            "runs": [
                {"task": "translation", "benchmark": "flores", "subsets": ["en-pt"]}
            ],
            "backends": ["hf", "vllm"],
            "metrics": METRICS,
        }
    }
    config["compute"]["vllm"] = {"python": str(vllm_python), "max_num_seqs": 16}
    path.write_text(
        yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    started = time.monotonic()
    result = run_snakemake(repo_root, workdir, path, "--cores", "2")
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
    print(f"backend parity workflow: {seconds:.0f} s")
    return workdir / "results"


def test_the_second_decodes_ran_on_vllm(parity_run):
    decodes = parity_run / "translation" / "decode" / "flores" / "tiny" / "en-pt"
    for system in ("base", "prior-sft-k2", "sft-tiny-chat"):
        hf = read_provenance(decodes / f"{system}.parquet")["model"]
        vllm = read_provenance(decodes / f"vllm-{system}.parquet")["model"]
        assert "backend" not in hf and "vllm" not in hf
        assert vllm["backend"] == "vllm" and vllm["vllm"]
        assert vllm["engine"]["max_num_seqs"] == 16
        assert vllm["path"] == hf["path"]


def _worker_pid_and_state(log):
    """(pid, the worker line) of the warm worker that ran the decode of ``log``."""
    line = next(
        line
        for line in log.read_text(encoding="utf-8").splitlines()
        if "decoding in warm worker pid" in line
    )
    return re.search(r"pid (\d+)", line).group(1), line


def test_vllm_decodes_run_in_warm_workers_apart_from_hf(parity_run):
    """A warm worker keeps the vLLM engine: a later vLLM decode of the foundation
    model finds it loaded (the engine starts once per worker, not per job), in a
    worker of its own, not the HF model's."""
    logs = parity_run / "logs" / "translation" / "decode" / "flores" / "tiny" / "en-pt"
    systems = sorted(
        folder.name.removeprefix("vllm-")
        for folder in logs.glob("vllm-*")
        if folder.is_dir() and not folder.name.startswith("vllm-sft-")
    )
    assert len(systems) >= 3, systems
    vllm = [_worker_pid_and_state(logs / f"vllm-{name}" / "0.log") for name in systems]
    hf = [_worker_pid_and_state(logs / name / "0.log") for name in systems]
    assert any("model already loaded" in line for _, line in vllm), vllm
    assert {pid for pid, _ in vllm}.isdisjoint(pid for pid, _ in hf)


def test_hf_and_vllm_give_identical_answers_and_equal_scores(parity_run):
    stem = parity_run / "tables" / "translation-flores-tiny-backend-parity"
    table = pd.read_csv(f"{stem}.csv")
    markdown = stem.with_suffix(".md").read_text(encoding="utf-8")
    print(markdown)
    assert list(table["system"]) == [
        "tiny-chat",
        "tiny-base (Prompting)",
        "tiny-base",
        "+PRETTY (SFT Prior)",
        "+PRETTY (Pseudo Prior)",
        "+PRETTY (Refined Prior)",
    ]
    assert set(table["subset"]) == {"en-pt"}
    assert (table["samples"] == 6).all()
    assert (table["identical_percent"] == 100.0).all()
    for metric in METRICS:
        assert (table[f"{metric}_difference"] == 0).all()
        assert (table[f"{metric}_low"] == 0).all() and (
            table[f"{metric}_high"] == 0
        ).all()
        assert (table[f"{metric}_p"] == 1).all()
    assert "| tiny-base | en-pt | 6 | 100.0% | n/a / n/a |" in markdown
    assert stem.with_suffix(".html").is_file()
