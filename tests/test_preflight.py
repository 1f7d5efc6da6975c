"""make check-inputs (prettyflow.preflight): every file a config needs, in one go."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from test_paper_plan import PAPER_CONFIG, REPO_ROOT, _user_provided_files

from prettyflow.preflight import MISSING, OK, OPTIONAL, main, needs

# The target for configs/paper.yaml, with nothing loaded.
SECONDS_LIMIT = 10
SPM_MODEL_KEY = "metrics.spbleu.spm_model"


def _preflight(
    configfile: Path, directory: Path
) -> tuple[subprocess.CompletedProcess, float]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(directory / "hf-home"),
        "PYTHONPATH": str(REPO_ROOT / "src"),
    }
    command = [
        sys.executable, "-m", "prettyflow.preflight",
        "--configfile", str(configfile), "--directory", str(directory),
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=60
    )
    return result, time.perf_counter() - started


def _paper_files() -> list[str]:
    config = yaml.safe_load(PAPER_CONFIG.read_text(encoding="utf-8"))
    return [*_user_provided_files(config), config["metrics"]["spbleu"]["spm_model"]]


def test_the_demo_config_needs_nothing_more(monkeypatch, capsys):
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["--configfile", "config.yaml"]) == 0
    output = capsys.readouterr().out
    assert MISSING not in output
    assert "0 required missing" in output


def test_the_paper_config_lists_every_missing_file_in_one_go(tmp_path):
    result, seconds = _preflight(PAPER_CONFIG, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    missing = [
        line.split()[1]
        for line in output.splitlines()
        if line.strip().startswith(MISSING)
    ]
    # The Alpaca data, CrossSum and XGLUE files, the demonstration, the dictionaries
    # and spBLEU's SentencePiece model: 27 files, each with the key that names it.
    assert sorted(missing) == sorted(_paper_files())
    assert len(missing) == 27
    assert SPM_MODEL_KEY in output and "datasets.crosssum.files.en-zh" in output
    assert "27 required missing" in output
    assert seconds < SECONDS_LIMIT, f"preflight took {seconds:.1f} s"
    assert not (tmp_path / "results").exists()


def test_the_paper_config_with_its_files_in_place_passes(tmp_path):
    for relative in _paper_files():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    result, _ = _preflight(PAPER_CONFIG, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert MISSING not in output
    # COMET is optional: without a checkpoint its cells are n/a, said as such.
    assert "COMET is n/a" in output


def test_a_model_folder_and_a_missing_spm_model_are_required(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    config = yaml.safe_load((REPO_ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["models"]["gemma3-270m"] = {"path": str(tmp_path / "no-such-model")}
    config["metrics"]["spbleu"]["spm_model"] = str(tmp_path / "spm.model")
    status = {need.key: need.status for need in needs(config)}
    assert status["models.gemma3-270m.path"] == MISSING
    assert status[SPM_MODEL_KEY] == MISSING
    config["metrics"]["spbleu"]["spm_model"] = None
    status = {need.key: need.status for need in needs(config)}
    assert status[SPM_MODEL_KEY] == OPTIONAL
    assert status["datasets.flores.local_dir"] == OK


# ------------------------------------------------ pitfalls made unnecessary
def test_url_is_needed_only_to_download(monkeypatch):
    """datasets.<benchmark>.url: required when local_dir is null, not beside it."""
    import pytest

    from prettyflow.config import ConfigError, validate_config

    monkeypatch.chdir(REPO_ROOT)
    config = yaml.safe_load((REPO_ROOT / "config.yaml").read_text(encoding="utf-8"))
    del config["datasets"]["flores"]["url"]
    validate_config(config)
    config["datasets"]["flores"]["local_dir"] = None
    with pytest.raises(ConfigError, match=r"datasets\.flores\.url: required"):
        validate_config(config)


def test_a_config_the_schema_rejects_is_named_in_one_line(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # main changes to --directory; restored after
    config = yaml.safe_load((REPO_ROOT / "config.yaml").read_text(encoding="utf-8"))
    config["datasets"]["crosssum"]["files"] = {"en-fr": "x.jsonl"}  # not en-pt
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["--configfile", str(path), "--directory", str(REPO_ROOT)]) == 2
    assert "config check: invalid config" in capsys.readouterr().err
