"""A user's own config, run as the README says: from the checkout, with --configfile.

The demo's config.yaml lies beside the Snakefile. A config file given on the command
line must be the whole config in every process Snakemake starts (the main one, the
jobs, the ``run:`` blocks of the shard gathers), without --replace-workflow-config;
otherwise the demo's settings leak in (its analyses, its Gemma family) and the jobs
validate a config the user never wrote. The SLURM profile is run the same way in
tests/test_slurm.py.
"""

from __future__ import annotations

import re

import pytest
import yaml
from workflow_setup import run_snakemake, write_one_subset_config

pytestmark = pytest.mark.workflow

JOB_LINE = re.compile(r"^(\w+)\s+(\d+)$")


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's job-stats table (rule, count) from a run's output."""
    return {
        match[1]: int(match[2])
        for line in output.splitlines()
        if (match := JOB_LINE.match(line.strip())) and match[1] != "total"
    }


@pytest.fixture(scope="module")
def user_run(repo_root, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("user-config")
    written = write_one_subset_config(repo_root, workdir)
    # Not named config.yaml, and with no analysis section: nothing of the demo's.
    config = workdir / "my-config.yaml"
    written.rename(config)
    planned = run_snakemake(
        repo_root, workdir, config, "-n", "--cores", "2", from_checkout=True
    )
    run = run_snakemake(repo_root, workdir, config, "--cores", "2", from_checkout=True)
    return workdir, config, planned, run


def test_the_plan_is_the_users_config_alone(user_run):
    workdir, config, planned, _ = user_run
    output = planned.stdout + planned.stderr
    assert planned.returncode == 0, output[-6000:]
    counts = job_counts(output)
    # The one-subset chain only: none of the demo's training, conversion or analyses.
    assert counts["decode"] == 6 and counts["gather_decode"] == 6, counts
    for demo_rule in ("train_lora", "convert_gguf", "decision_space", "prompt_success"):
        assert demo_rule not in counts, counts
    results = yaml.safe_load(config.read_text(encoding="utf-8"))["results_dir"]
    assert results == str(workdir / "results")
    assert "gemma3" not in output


def test_every_job_of_the_users_config_succeeds(user_run):
    workdir, _, _, run = user_run
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    # The gathers (run: blocks) validated the user's config, not a merge with the
    # demo's, and wrote their tables.
    assert "invalid config" not in output
    tables = workdir / "results" / "tables"
    assert (tables / "translation-flores-tiny.csv").is_file()
    # Logs under the results folder, so another results folder keeps its own.
    logs = workdir / "results" / "logs" / "translation" / "decode"
    assert len(list(logs.rglob("*.log"))) == 12  # 6 decode shards, 6 gathers
