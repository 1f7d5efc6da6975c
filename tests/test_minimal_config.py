"""configs/minimal.yaml, "Run your own model and data" in the README, run as it says.

The user's files are put where the config names them, relative to the working
directory: two tiny local models (built from a config here) as ./models/my-base and
./models/my-sft, the real Flores-101 sample as data/flores101_dataset and MUSE's
en-fr list as data/en-fr.muse.txt. Then the README's commands: the preflight, and
snakemake with --configfile (and --directory for the working directory).
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from tiny_models import build_tiny_causal_lm
from workflow_setup import run_snakemake

pytestmark = pytest.mark.workflow

CONFIG = "configs/minimal.yaml"
# The README's command, which the test runs (with --directory added).
README_COMMAND = f"snakemake --cores all --configfile {CONFIG}"
ROWS = ["my-sft", "my-base", "+PRETTY (Pseudo Prior)"]


@pytest.fixture(scope="module")
def minimal_run(repo_root, shared_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("minimal")
    data = workdir / "data"
    data.mkdir()
    (data / "flores101_dataset").symlink_to(shared_data / "flores101")
    (data / "en-fr.muse.txt").symlink_to(shared_data / "muse" / "en-fr.txt")
    flores = shared_data / "flores101" / "devtest"
    corpus = [
        line
        for language in ("eng", "fra")
        for line in (flores / f"{language}.devtest").read_text("utf-8").splitlines()
    ]
    # The SFT model is prompted in its chat template; the foundation model is not.
    for name, seed, chat in (("my-base", 1, False), ("my-sft", 2, True)):
        build_tiny_causal_lm(
            workdir / "models" / name, corpus, chat_template=chat, seed=seed
        )
    preflight = subprocess.run(
        [sys.executable, "-m", "prettyflow.preflight", "--configfile",
         str(repo_root / CONFIG), "--directory", str(workdir)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    run = run_snakemake(repo_root, workdir, repo_root / CONFIG, "--cores", "2")
    return workdir, preflight, run


def test_the_readme_shows_the_command(repo_root):
    assert README_COMMAND in (repo_root / "README.md").read_text(encoding="utf-8")


def test_the_preflight_finds_every_file(minimal_run):
    _, preflight, _ = minimal_run
    assert preflight.returncode == 0, preflight.stdout + preflight.stderr
    assert "0 required missing" in preflight.stdout


def test_the_minimal_config_runs_to_its_table(minimal_run):
    workdir, _, run = minimal_run
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    results = workdir / "results" / "minimal"
    table = pd.read_csv(results / "tables" / "translation-flores-mine.csv", index_col=0)
    assert list(table.index) == ROWS
    assert table["En-Fr BLEU"].notna().all()
    assert (results / "logs").is_dir()
