"""configs/paper.yaml: the paper's whole experiment grid, planned offline.

The dry run (`snakemake -n --configfile configs/paper.yaml`) must build the DAG
without any model, data set or network: the test runs it with the Hugging Face hub
offline and an empty HF cache, in a temporary working directory (so no .snakemake
state lands in the checkout), with empty stand-ins for the files the user provides
(Alpaca data, CrossSum and XGLUE files, dictionaries). It then checks Snakemake's
job count per rule against counts derived here from the paper's tables, written out
independently of prettyflow.plan (which would make the check circular).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
PAPER_CONFIG = REPO_ROOT / "configs" / "paper.yaml"
# Generous for a slow, shared CI machine; the target is 10 s.
DRY_RUN_SECONDS_LIMIT = 30

# ------------------------------------------------------------ the paper's grid
# Subsets per task and benchmark, from the tables' column headers.
PAPER_SUBSETS = {
    "translation": {
        # Table 1: English-centric, then non-English-centric directions.
        "flores": ["en-zh", "en-uk", "zh-en", "uk-en", "de-fr", "fr-de", "zh-pt", "pt-zh"],
        "wmt23": ["en-uk", "en-zh", "en-he"],  # Table 6
    },
    "summarization": {"crosssum": ["en-zh", "en-hi", "uk-pt", "ar-ru"]},  # Table 2
    "pos": {"ud": ["fr", "zh", "pt", "ru", "ar"]},  # Table 3
}  # fmt: skip
# The SFT rows of each family (Table 1): Llama2 has Alpaca and Chat, Mistral Instruct.
SFT_MODELS_PER_FAMILY = {"llama2": 2, "mistral": 1}
# The +PRETTY rows per task (section 4.1): (source, k). POS has no pseudo prior.
MAIN_PRIORS = {
    "translation": [("sft", 2), ("pseudo", 1), ("refined", 2)],
    "summarization": [("sft", 2), ("pseudo", 1), ("refined", 2)],
    "pos": [("sft", 1), ("refined", 1)],
}
# Only translation has the "Prompting" row (Llama2-7B_PROMPTING in Table 1).
TASKS_WITH_PROMPTING = {"translation"}
# Figure 5: the refined prior with k = 1..5 on every Flores direction.
FIGURE_5_KS = [1, 2, 3, 4, 5]
# Table 5: English->Chinese with a modal, adverb or random one-token prior.
TABLE_5_SUBSETS = ["en-zh"]
TABLE_5_SOURCES = ["modal", "adverb", "random"]
# Table 8: one random prompt per sentence on four Flores directions (not scored).
TABLE_8_SUBSETS = ["en-zh", "en-uk", "zh-pt", "de-fr"]
# Figures 2-4: the decision space on the Flores directions.
DECISION_SPACE_BENCHMARKS = [("translation", "flores")]
# Tasks with a pseudo (dictionary) prior, hence a dictionary per subset (Table 9).
DICTIONARY_TASKS = ["translation", "summarization"]
# Benchmarks the workflow downloads; the others are files the user provides.
DOWNLOADED_DATASETS = ["flores", "wmt23"]
# Benchmarks scored with COMET, in an environment of its own (Tables 1 and 6).
COMET_BENCHMARKS = ["flores", "wmt23"]
# compute.decode.shard_size and compute.refined.shard_size 256 on Flores devtest's
# 1012 sentences.
FLORES_SHARDS = 4


def _main_systems(task: str, family: str) -> int:
    """Rows of a family's main table: SFT models, Prompting, base, +PRETTY rows."""
    prompting = 1 if task in TASKS_WITH_PROMPTING else 0
    return SFT_MODELS_PER_FAMILY[family] + prompting + 1 + len(MAIN_PRIORS[task])


def _analysis_priors(task: str, benchmark: str, subset: str) -> set[tuple[str, int]]:
    """(source, k) priors the analyses add on one subset, beyond the main table's."""
    if (task, benchmark) != ("translation", "flores"):
        return set()
    priors = {("refined", k) for k in FIGURE_5_KS}
    if subset in TABLE_5_SUBSETS:
        priors |= {(source, 1) for source in TABLE_5_SOURCES}
    return priors - set(MAIN_PRIORS[task])


def _prompt_success_decodes(task: str, benchmark: str, subset: str) -> int:
    return int(
        (task, benchmark) == ("translation", "flores") and subset in TABLE_8_SUBSETS
    )


def _grid():
    for task, benchmarks in PAPER_SUBSETS.items():
        for benchmark, subsets in benchmarks.items():
            for subset in subsets:
                yield task, benchmark, subset


def expected_job_counts() -> dict[str, int]:
    """Jobs per rule for the paper's grid, every family on every task and benchmark."""
    families = list(SFT_MODELS_PER_FAMILY)
    grid = list(_grid())
    benchmarks = [(t, b) for t, bs in PAPER_SUBSETS.items() for b in bs]
    # One decode per (family, subset, system): the main table's rows, the priors the
    # analyses add (Figure 5's other k, Table 5's control priors) and Table 8's
    # random-prompt decode.
    decodes = {
        (task, benchmark): sum(
            _main_systems(task, family)
            + len(_analysis_priors(task, benchmark, subset))
            + _prompt_success_decodes(task, benchmark, subset)
            for family in families
            for t, b, subset in grid
            if (t, b) == (task, benchmark)
        )
        for task, benchmark in benchmarks
    }
    # Table 8 counts target-language answers; its decodes get no metric scores.
    prompt_success = len(families) * len(TABLE_8_SUBSETS)
    scored = sum(decodes.values()) - prompt_success
    comet_scored = (
        sum(decodes[("translation", b)] for b in COMET_BENCHMARKS) - prompt_success
    )
    # One prior file per (family, subset, source, k) of a +PRETTY system.
    priors = sum(
        len(set(MAIN_PRIORS[task]) | _analysis_priors(task, benchmark, subset))
        for _ in families
        for task, benchmark, subset in grid
    )
    dictionary_pairs = {subset for task, _, subset in grid if task in DICTIONARY_TASKS}
    table_5_runs = table_8_runs = figure_5_runs = 1  # one benchmark each (Flores)
    return {
        "download_dataset": len(DOWNLOADED_DATASETS),
        "prepare_data": len(grid),  # one table per (task, benchmark, subset)
        "merge_dictionary": len(dictionary_pairs),
        "dictionary_statistics": 1,  # Table 9
        "train_lora": 1,  # Llama2-7B-Alpaca (appendix C.1, Table 7)
        # The refined model runs once per subset, shared by the families, in shards
        # as the decodes (below); a gather joins them.
        "run_refined_model": sum(
            FLORES_SHARDS if benchmark == "flores" else 1 for _, benchmark, _ in grid
        ),
        "gather_refined": len(grid),
        # KeyBERT keywords: the summarization pseudo prior, once per subset.
        "extract_keywords": len(PAPER_SUBSETS["summarization"]["crosssum"]),
        "build_prior": priors,
        # Flores devtest has 1012 sentences: 4 shards of shard_size 256 per decode;
        # the other benchmarks' sizes are not known before reading them: 1 shard.
        "decode": sum(
            count * (FLORES_SHARDS if benchmark == "flores" else 1)
            for (task, benchmark), count in decodes.items()
        ),
        "gather_decode": sum(decodes.values()),
        "score": scored,
        "score_comet": comet_scored,
        "results_table": len(benchmarks) * len(families),  # Tables 1, 2, 3, 6
        # Every answer beside its reference: a page per Table 1, 2, 3, 5 and 6.
        "sample_page": (len(benchmarks) + table_5_runs) * len(families),
        "prior_accuracy_table": len(families),  # Table 4 (POS only)
        "control_priors_table": table_5_runs * len(families),
        "prompt_success_table": table_8_runs * len(families),
        "prior_tokens_figure": figure_5_runs * len(families),
        # Figures 2-4: per family, one analysis per subset, then the figures.
        "decision_space": len(families)
        * sum(len(PAPER_SUBSETS[t][b]) for t, b in DECISION_SPACE_BENCHMARKS),
        "decision_space_figures": len(families) * len(DECISION_SPACE_BENCHMARKS),
        "run_summary": 1,  # the report's first page
        "all": 1,
    }


def test_expected_counts_spell_out_the_papers_grid():
    """The derivation above, checked by hand on the two biggest numbers."""
    counts = expected_job_counts()
    # Flores, Llama2: 8 directions x (Alpaca, Chat, Prompting, base, 3 priors, and
    # refined k=1,3,4,5) = 88, + 3 control priors on en-zh + 4 Table 8 decodes = 95;
    # Mistral has one SFT model fewer: 95 - 8 = 87. WMT23: 3 x (7 + 6) = 39.
    # CrossSum: 4 x (6 + 5) = 44. POS: 5 x (5 + 4) = 45.
    assert counts["gather_decode"] == 95 + 87 + 39 + 44 + 45 == 310
    assert counts["decode"] == 4 * (95 + 87) + 39 + 44 + 45 == 856
    # The refined model: 8 Flores directions in 4 shards, 3 + 4 + 5 other subsets.
    assert counts["run_refined_model"] == 8 * 4 + 3 + 4 + 5 == 44
    # Per family: Flores 8 x 7 priors + 3 control = 59, WMT23 3 x 3, CrossSum 4 x 3,
    # POS 5 x 2; twice.
    assert counts["build_prior"] == 2 * (59 + 9 + 12 + 10) == 180


def test_the_config_lists_the_papers_subsets():
    config = yaml.safe_load(PAPER_CONFIG.read_text(encoding="utf-8"))
    configured = {
        task: {name: run["subsets"] for name, run in settings["benchmarks"].items()}
        for task, settings in config["tasks"].items()
    }
    assert configured == PAPER_SUBSETS
    assert config["analysis"]["prompt_success"]["runs"][0]["subsets"] == TABLE_8_SUBSETS


# ------------------------------------------------------------------ the dry run
def _user_provided_files(config: dict) -> list[str]:
    """The files configs/paper.yaml expects the user to put in place."""
    files = [
        model["train"]["instructions"]
        for model in config["models"].values()
        if "train" in model
    ]
    files.append(config["tasks"]["summarization"]["demonstration"])
    for benchmark in ("crosssum", "ud"):
        files += config["datasets"][benchmark]["files"].values()
    for entries in config["dictionaries"].values():
        files += [entry["path"] for entry in entries]
    return files


def _job_stats(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table (printed first when the DAG is built)."""
    block = output.split("Job stats:", 1)[1]
    counts = {}
    for line in block.splitlines()[3:]:  # after the header and the dashes
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match or match[1] == "total":
            break
        counts[match[1]] = int(match[2])
    return counts


@pytest.fixture(scope="module")
def paper_dry_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("paper-plan")
    config = yaml.safe_load(PAPER_CONFIG.read_text(encoding="utf-8"))
    # Empty stand-ins: planning only checks that the user's files exist.
    for relative in _user_provided_files(config):
        path = workdir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    # As in the README, beside the demo's config.yaml, which must not leak in
    # (without --replace-workflow-config: a user forgets it).
    shutil.copy(REPO_ROOT / "config.yaml", workdir / "config.yaml")
    # Offline, and an empty model cache: planning must not need any model.
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(workdir / "hf-home"),
    }
    command = [
        sys.executable, "-m", "snakemake", "-n",
        "--snakefile", str(REPO_ROOT / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(PAPER_CONFIG),
        "--quiet", "rules",
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300
    )
    seconds = time.perf_counter() - started
    return workdir, result, seconds


@pytest.mark.workflow
def test_the_dry_run_plans_offline_within_the_time_limit(paper_dry_run):
    workdir, result, seconds = paper_dry_run
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    print(f"dry run of configs/paper.yaml: {seconds:.1f} s")
    assert seconds < DRY_RUN_SECONDS_LIMIT, f"the dry run took {seconds:.1f} s"
    # A dry run writes no results, and planning never opened the (empty) HF cache.
    assert not (workdir / "results").exists()
    assert not (workdir / "hf-home").exists()


@pytest.mark.workflow
def test_the_job_counts_per_rule_follow_the_papers_grid(paper_dry_run):
    _, result, _ = paper_dry_run
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    counts = _job_stats(result.stdout + result.stderr)
    expected = expected_job_counts()
    assert counts == expected
    assert sum(counts.values()) == 2000 + 10 + 1  # 10 sample pages, the summary
