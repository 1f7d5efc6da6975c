"""Shared set-up of the end-to-end workflow tests (test_workflow.py, test_slurm.py).

Tiny random models (built here) stand in for the foundation and SFT models, so
decoding is gibberish but every rule, file and table is real. The demo data in
resources/demo/ is the input.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from prettyflow.data.pos import UPOS_TAGS
from prettyflow.testing import build_tiny_causal_lm, build_tiny_token_classifier

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# The rows of the translation table for the tiny family, in the paper's order.
TRANSLATION_ROWS = [
    "tiny-chat",
    "tiny-base (Prompting)",
    "tiny-base",
    "+PRETTY (SFT Prior)",
    "+PRETTY (Pseudo Prior)",
    "+PRETTY (Refined Prior)",
]


def _demo_corpus(repo_root: Path) -> list[str]:
    demo = repo_root / "resources" / "demo"
    lines = []
    for path in sorted((demo / "flores101_dataset" / "devtest").glob("*.devtest")):
        lines += path.read_text(encoding="utf-8").splitlines()
    for line in (
        (demo / "crosssum" / "en-pt.jsonl").read_text(encoding="utf-8").splitlines()
    ):
        record = json.loads(line)
        lines += [record["text"], record["summary"]]
    lines.append('[{"word": "Le", "tag": "DET"}, {"word": "chat", "tag": "NOUN"}]')
    return lines


def write_test_config(repo_root: Path, workdir: Path) -> Path:
    """The shipped config with tiny local models, small subsets and absolute paths."""
    config = yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))
    corpus = _demo_corpus(repo_root)
    foundation = build_tiny_causal_lm(
        workdir / "models" / "tiny-base", corpus, chat_template=False, seed=1
    )
    sft = build_tiny_causal_lm(
        workdir / "models" / "tiny-chat", corpus, chat_template=True, seed=2
    )
    tagger = build_tiny_token_classifier(
        workdir / "models" / "tiny-tagger",
        corpus,
        list(UPOS_TAGS),
    )

    def absolute(path: str) -> str:
        return str(repo_root / path)

    config["results_dir"] = str(workdir / "results")
    config["models"] = {
        "tiny-base": {"path": str(foundation), "dtype": "float32"},
        "tiny-chat": {"path": str(sft), "dtype": "float32"},
    }
    config["families"] = {
        "tiny": {
            "foundation": "tiny-base",
            "sft": ["tiny-chat"],
            "sft_reference": "tiny-chat",
        }
    }
    datasets = config["datasets"]
    datasets["flores"]["local_dir"] = absolute(datasets["flores"]["local_dir"])
    datasets["flores"]["max_samples"] = 6
    datasets["crosssum"]["files"] = {
        pair: absolute(p) for pair, p in datasets["crosssum"]["files"].items()
    }
    datasets["crosssum"]["demonstration"] = absolute(
        datasets["crosssum"]["demonstration"]
    )
    datasets["crosssum"]["max_samples"] = 3
    datasets["pos"]["files"] = {
        lang: absolute(p) for lang, p in datasets["pos"]["files"].items()
    }
    datasets["pos"]["max_samples"] = 4
    config["dictionaries"] = {
        pair: [{**entry, "path": absolute(entry["path"])} for entry in entries]
        for pair, entries in config["dictionaries"].items()
    }
    tasks = config["tasks"]
    for task in tasks.values():
        task["max_new_tokens"] = 12
    # Refined priors: a file of outputs for translation, the tiny chat model as a
    # causal "summarizer", and the tiny BERT as a tagger: three backends exercised.
    refined_files = str(workdir / "refined-{subset}.jsonl")
    tasks["translation"]["priors"]["refined"] = {
        "k": 2,
        "backend": "file",
        "options": {"path": refined_files},
    }
    tasks["summarization"]["priors"]["refined"] = {
        "k": 2,
        "backend": "hf_causal",
        "options": {
            "model": str(sft),
            "max_new_tokens": 8,
            "chat": True,
            "prompt_template": "Summarize in {target_language}: {source}",
            "input": "lead_sentence",
        },
    }
    tasks["pos"]["priors"]["refined"] = {
        "k": 1,
        "backend": "hf_token_classification",
        "options": {"model": str(tagger)},
    }
    config["compute"] = {
        "device": "cpu",
        "batch_size": 4,
        "decode": {"threads": 1, "gpu": 0, "mem_mb": 2000, "runtime": 10},
    }
    path = workdir / "config.yaml"
    path.write_text(
        yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return path


def write_refined_translation_file(
    repo_root: Path, workdir: Path, subsets=("en-pt", "pt-en")
) -> None:
    """A 'refined model' file: the first words of the reference, one per id."""
    flores = repo_root / "resources" / "demo" / "flores101_dataset" / "devtest"
    stems = {"en": "eng", "pt": "por"}
    for subset in subsets:
        target = subset.split("-")[1]
        lines = (
            (flores / f"{stems[target]}.devtest")
            .read_text(encoding="utf-8")
            .splitlines()
        )
        records = [
            {"id": f"devtest-{number:04d}", "output": " ".join(line.split()[:4])}
            for number, line in enumerate(lines, 1)
        ]
        (workdir / f"refined-{subset}.jsonl").write_text(
            "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n",
            encoding="utf-8",
        )


def run_snakemake(
    repo_root: Path, workdir: Path, config: Path, *args: str
) -> subprocess.CompletedProcess:
    command = SNAKEMAKE + [
        "--snakefile",
        str(repo_root / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--replace-workflow-config",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=1200)
