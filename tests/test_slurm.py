"""The shipped SLURM profile against a real SLURM cluster.

Runs the translation chain for one subset (en-pt, about 20 jobs) on tiny models
through ``snakemake --profile profiles/slurm`` and checks with ``scontrol`` that the
jobs really went through sbatch with the resources config.yaml declares.

Needs a running cluster whose nodes share this machine's filesystem (the test's
tmp folder and the venv). Start a local single-node one, as root, with
``bash ../shared/tools/local-slurm/start-local-slurm.sh`` (.ci/run does this);
without a cluster the test skips.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from workflow_setup import (
    DECODE_MEM_MB,
    DECODE_RUNTIME_MINUTES,
    TRANSLATION_ROWS,
    run_snakemake,
    write_one_subset_config,
)

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

START_HINT = (
    "start one (as root) with: bash ../shared/tools/local-slurm/start-local-slurm.sh"
)
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")
FOUNDATION_GROUP = "decode-tiny-base"


def _usable_partitions() -> list[str]:
    """Partitions with an idle or mixed node, the default partition first."""
    if shutil.which("sinfo") is None:
        pytest.skip(f"no SLURM cluster (sinfo not on PATH); {START_HINT}")
    try:
        listing = subprocess.run(
            ["sinfo", "-h", "-o", "%P %T"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"no SLURM cluster (sinfo timed out); {START_HINT}")
    rows = [
        line.split() for line in listing.stdout.splitlines() if len(line.split()) == 2
    ]
    usable = [name for name, state in rows if state.startswith(("idle", "mixed"))]
    if listing.returncode != 0 or not usable:
        reason = (listing.stderr or listing.stdout).strip() or "no idle or mixed node"
        pytest.skip(f"no running SLURM cluster ({reason}); {START_HINT}")
    return [
        name.rstrip("*")
        for name in sorted(usable, key=lambda name: not name.endswith("*"))
    ]


def show_job(job_id: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (finished jobs stay visible for MinJobAge)."""
    shown = subprocess.run(
        ["scontrol", "-o", "show", "job", job_id],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0, f"scontrol show job {job_id}: {shown.stderr}"
    return dict(field.split("=", 1) for field in shown.stdout.split() if "=" in field)


@pytest.fixture(scope="module")
def slurm_run(repo_root, tmp_path_factory):
    partitions = _usable_partitions()
    profile = repo_root / "profiles" / "slurm"
    overrides = ["--slurm-init-seconds-before-status-checks", "2"]
    # Bundle all of the foundation model's decodes (prompting, base, 3 priors) in one
    # allocation; the SFT model's decode is a group of its own.
    overrides += ["--group-components", f"{FOUNDATION_GROUP}=10"]
    # At most 1 core per submitted job: the group's decodes run one after another in
    # it (Snakemake stacks parallel layers that exceed --cores) on this 2-core node.
    overrides += ["--cores", "1"]
    shipped = yaml.safe_load((profile / "config.yaml").read_text(encoding="utf-8"))[
        "default-resources"
    ]
    if shipped["slurm_partition"] not in partitions:
        # Replaces the profile's default-resources; every rule sets its own mem_mb and runtime.
        overrides += ["--default-resources", f"slurm_partition={partitions[0]}"]
    workdir = tmp_path_factory.mktemp("slurm")
    config = write_one_subset_config(repo_root, workdir)
    # As a user runs it: from the checkout, with --configfile only; the jobs must
    # see that config alone, not merged into the demo's config.yaml.
    result = run_snakemake(
        repo_root,
        workdir,
        config,
        "--profile",
        str(profile),
        "--verbose",
        *overrides,
        from_checkout=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    return workdir, output


def test_profile_runs_the_workflow_on_slurm(slurm_run):
    workdir, _ = slurm_run
    table = pd.read_csv(
        workdir / "results" / "tables" / "translation-flores-tiny.csv",
        index_col=0,
        na_values=["n/a", "-"],
    )
    assert list(table.index) == [r for r in TRANSLATION_ROWS if r != "tiny-sft"]
    assert table["En-Pt chrF++"].notna().all()
    assert (workdir / "results" / "tables" / "dictionaries.csv").is_file()


def test_jobs_went_through_sbatch_with_the_configured_resources(slurm_run):
    _, output = slurm_run
    job_ids = SUBMITTED.findall(output)
    # data, dictionary, its table, refined file, 3 priors, 6 scores, the table, and
    # the decodes as one group job per model: the foundation's 5 (prompting, base,
    # 3 priors) and the SFT model's 1 (the shard gathers run locally).
    assert len(job_ids) == 16, output[-4000:]
    jobs = {job_id: show_job(job_id) for job_id in job_ids}
    assert {job["JobState"] for job in jobs.values()} == {"COMPLETED"}
    decodes = {"decode-tiny-base": 5, "decode-tiny-chat": 1}
    for group, count in decodes.items():
        grouped = [
            job for job in jobs.values() if job["Comment"] == f"rule_{group}_decode"
        ]
        assert len(grouped) == 1, [job["Comment"] for job in jobs.values()]
        job = grouped[0]
        # With --cores 1 the group's decodes run in series in one allocation: one
        # core, the memory of one decode, the time of all of them.
        minutes = count * DECODE_RUNTIME_MINUTES
        assert job["TimeLimit"] == f"{minutes // 60:02d}:{minutes % 60:02d}:00", job
        assert job["MinMemoryNode"] == f"{DECODE_MEM_MB}M", job
        assert job["NumCPUs"] == "1", job
    # The node loaded each model once: the first decode of a group started a warm
    # worker, the others found the model loaded.
    workdir, _ = slurm_run
    decode_logs = workdir / "results" / "logs" / "translation" / "decode"
    for model, system_count in (("tiny-base", 5), ("tiny-chat", 1)):
        logs = [
            text
            for path in decode_logs.rglob("*.log")
            if f"loaded {model} on" in (text := path.read_text())
        ]
        assert len(logs) == system_count
        assert sum("(loading the model" in log for log in logs) == 1, logs
        assert sum("(model already loaded)" in log for log in logs) == system_count - 1
