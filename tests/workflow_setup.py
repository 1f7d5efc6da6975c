"""Shared set-up of the end-to-end workflow tests (test_workflow, test_slurm, test_kill).

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
from tiny_models import build_tiny_causal_lm, build_tiny_token_classifier

from prettyflow.pos.data import UPOS_TAGS

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
COMET_PYTHON = Path(__file__).resolve().parents[1] / ".venv-comet" / "bin" / "python"
# The rows of the translation table for the tiny family, in the paper's order.
TRANSLATION_ROWS = [
    "tiny-sft",
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


def write_test_config(repo_root: Path, workdir: Path, comet: bool = True) -> Path:
    """The shipped config with tiny local models, small subsets and absolute paths.

    ``comet``: build a tiny COMET checkpoint in the COMET environment (a minute)
    and score WMT23 with it.
    """
    config = yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))
    corpus = _demo_corpus(repo_root)
    foundation = build_tiny_causal_lm(
        workdir / "models" / "tiny-base", corpus, chat_template=False, seed=1
    )

    def absolute(path: str) -> str:
        return str(repo_root / path)

    sft = build_tiny_causal_lm(
        workdir / "models" / "tiny-chat", corpus, chat_template=True, seed=2
    )
    tagger = build_tiny_token_classifier(
        workdir / "models" / "tiny-tagger",
        corpus,
        list(UPOS_TAGS),
    )

    config["results_dir"] = str(workdir / "results")
    # The SFT reference is a LoRA adapter the workflow trains on tiny-base (the
    # shipped demo instruction set, settings scaled to seconds); tiny-chat is a
    # second, unrelated SFT model.
    config["models"] = {
        "tiny-base": {"path": str(foundation), "dtype": "float32"},
        "tiny-sft": {
            "base": "tiny-base",
            "train": {
                "instructions": absolute(
                    config["models"]["gemma3-270m-alpaca"]["train"]["instructions"]
                ),
                "settings": {
                    "learning_rate": 1e-3,
                    "epochs": 1,
                    "batch_size": 16,
                    "micro_batch_size": 8,
                    "lora_rank": 4,
                    "lora_alpha": 8,
                    "max_length": 512,
                },
            },
        },
        "tiny-chat": {"path": str(sft), "dtype": "float32"},
    }
    config["families"] = {
        "tiny": {
            "foundation": "tiny-base",
            "sft": ["tiny-sft", "tiny-chat"],
            "sft_reference": "tiny-sft",
        }
    }
    datasets = config["datasets"]
    for local in ("flores", "wmt23"):
        datasets[local]["local_dir"] = absolute(datasets[local]["local_dir"])
    datasets["flores"]["max_samples"] = 6
    datasets["wmt23"]["max_samples"] = 4
    for name in ("crosssum", "ud"):
        datasets[name]["files"] = {
            subset: absolute(p) for subset, p in datasets[name]["files"].items()
        }
    datasets["crosssum"]["max_samples"] = 3
    datasets["ud"]["max_samples"] = 4
    config["tasks"]["summarization"]["demonstration"] = absolute(
        config["tasks"]["summarization"]["demonstration"]
    )
    config["dictionaries"] = {
        pair: [{**entry, "path": absolute(entry["path"])} for entry in entries]
        for pair, entries in config["dictionaries"].items()
    }
    tasks = config["tasks"]
    for task in tasks.values():
        task["max_new_tokens"] = 12
    # Refined priors: a file of outputs for translation, the tiny chat model as a
    # causal "summarizer", and the tiny BERT as a tagger: three backends exercised.
    refined_files = str(workdir / "refined-{benchmark}-{subset}.jsonl")
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
    # COMET through its own environment, on a tiny checkpoint built in that
    # environment (random weights: the scores only show that the chain works).
    # Only on WMT23, to keep the COMET jobs few; Flores shows COMET's n/a path.
    translation = tasks["translation"]["benchmarks"]
    translation["flores"]["metrics"] = ["spbleu", "bleu", "chrf++", "wrong_language"]
    translation["flores"]["table"]["metrics"] = [
        "spbleu", "bleu", "chrf++", "wrong_language",
    ]  # fmt: skip
    translation["wmt23"]["metrics"] = ["bleu", "comet"]
    if comet and COMET_PYTHON.is_file():
        checkpoint = workdir / "models" / "tiny-comet"
        subprocess.run(
            [str(COMET_PYTHON), str(Path(__file__).with_name("tiny_comet.py")),
             str(checkpoint)],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        config["metrics"]["comet"]["checkpoint"] = str(checkpoint)
    # The analyses on one direction, with few k, to keep the jobs few.
    analysis = config["analysis"]
    control = analysis["control_priors"]
    control["runs"] = [
        {"task": "translation", "benchmark": "flores", "subsets": ["en-pt"]}
    ]
    control["metrics"] = ["spbleu", "bleu"]
    for source in control["sources"].values():
        if "words" in source:
            source["words"] = {
                lang: absolute(path) for lang, path in source["words"].items()
            }
    analysis["prior_tokens"]["runs"] = [
        {"task": "translation", "benchmark": "flores", "subsets": ["en-pt"],
         "source": "refined", "k": [1, 2, 3]}
    ]  # fmt: skip
    config["compute"] = {
        "device": "cpu",
        "batch_size": 4,
        # Flores' 6 sentences in 2 shards: every Flores decode is sharded.
        "decode": {
            "threads": 1,
            "gpu": 0,
            "mem_mb": 2000,
            "runtime": 10,
            "shard_size": 3,
            # Decodes go through warm workers, as in the demo (stopped when the run ends).
            "worker_idle_seconds": 60,
        },
    }
    path = workdir / "config.yaml"
    path.write_text(
        yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return path


def _reference_lines(repo_root: Path, benchmark: str, subset: str) -> list[str]:
    demo = repo_root / "resources" / "demo"
    target = subset.split("-")[1]
    if benchmark == "wmt23":
        path = (
            demo / "wmt23" / "txt" / "references"
            / f"generaltest2023.{subset}.ref.refA.{target}"
        )  # fmt: skip
    else:
        stems = {"en": "eng", "pt": "por"}
        path = demo / "flores101_dataset" / "devtest" / f"{stems[target]}.devtest"
    return path.read_text(encoding="utf-8").splitlines()


def write_refined_translation_file(
    repo_root: Path,
    workdir: Path,
    runs=(("flores", "en-pt"), ("flores", "pt-en"), ("wmt23", "en-pt")),
) -> None:
    """'Refined model' files: the first words of the reference, one per id."""
    for benchmark, subset in runs:
        lines = _reference_lines(repo_root, benchmark, subset)
        prefix = "devtest" if benchmark == "flores" else "generaltest2023"
        records = [
            {"id": f"{prefix}-{number:04d}", "output": " ".join(line.split()[:4])}
            for number, line in enumerate(lines, 1)
        ]
        (workdir / f"refined-{benchmark}-{subset}.jsonl").write_text(
            "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n",
            encoding="utf-8",
        )


def run_snakemake(
    repo_root: Path, workdir: Path, config: Path, *args: str, from_checkout=False
) -> subprocess.CompletedProcess:
    """Snakemake on ``config`` (its results_dir is absolute).

    By default in ``workdir`` (``--directory``); ``from_checkout`` runs it as the
    README tells a user: in the checkout, with only ``--configfile`` (no
    ``--replace-workflow-config``), where the demo's config.yaml lies beside it.
    """
    location = [] if from_checkout else [
        "--snakefile", str(repo_root / "Snakefile"), "--directory", str(workdir)
    ]  # fmt: skip
    command = SNAKEMAKE + [*location, "--configfile", str(config), *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=repo_root if from_checkout else None,
    )


# Distinctive decode resources of the one-subset config, which the SLURM test finds
# again in the jobs' allocations.
DECODE_MEM_MB = 2345
DECODE_RUNTIME_MINUTES = 17


def write_one_subset_config(repo_root: Path, workdir: Path) -> Path:
    """The tiny test config cut down to translation en-pt, with distinctive decode resources
    (the SLURM and kill tests)."""
    path = write_test_config(repo_root, workdir, comet=False)  # Flores only
    write_refined_translation_file(repo_root, workdir, runs=(("flores", "en-pt"),))
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    translation = config["tasks"]["translation"]
    translation["benchmarks"] = {
        "flores": {"subsets": ["en-pt"], "metrics": ["bleu", "chrf++"]}
    }
    config["tasks"] = {"translation": translation}
    # No training and no analysis: the chain of one subset, SFT model from a folder.
    config["models"].pop("tiny-sft")
    config["families"]["tiny"] = {
        "foundation": "tiny-base",
        "sft": ["tiny-chat"],
        "sft_reference": "tiny-chat",
    }
    config.pop("analysis")
    config["dictionaries"] = {"en-pt": config["dictionaries"]["en-pt"]}
    config["compute"]["decode"] = {
        "threads": 1,
        "gpu": 0,
        "mem_mb": DECODE_MEM_MB,
        "runtime": DECODE_RUNTIME_MINUTES,
        # The foundation model's decodes go to the cluster as one group job, where
        # the first decode's warm worker serves the others.
        "group": True,
        "worker_idle_seconds": 60,
    }
    path.write_text(
        yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return path
