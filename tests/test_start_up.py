"""Validated once, at start-up: the schema's defaults, and the checks a dry run makes.

Each setting has one default: the schema's ``default:`` (prettyflow.config.apply_defaults
fills them in for the plan and the jobs), or, for a section a job receives whole as
its params, its owner's (TrainingSettings, a refined backend, a prior source, a
metric, a benchmark). The config probes of each start-up check are in
tests/test_bad_inputs.py; here: the defaults, the config file's encoding, a dry run
refused in one line, and the time the checks take.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml

from prettyflow.config import (
    ConfigError,
    check_config_files,
    load_schema,
    validate_config,
    with_defaults,
)
from prettyflow.plan import Plan

REPO_ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture
def config() -> dict:
    return _load(REPO_ROOT / "config.yaml")


@pytest.fixture
def paper() -> dict:
    return _load(REPO_ROOT / "configs" / "paper.yaml")


# ------------------------------------------------------------------ defaults


def _defaults(node: object, where: str = "") -> Iterator[tuple[str, dict]]:
    """(location, subschema) of every subschema of the schema with a default."""
    if isinstance(node, dict):
        if "default" in node:
            yield where, node
        for key, value in node.items():
            yield from _defaults(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _defaults(value, f"{where}/{index}")


def test_every_default_of_the_schema_is_valid_and_where_defaults_are_filled():
    """apply_defaults fills defaults beside properties entries (or in a $def such an
    entry names); one inside a oneOf/anyOf branch would never be filled."""
    schema = load_schema()
    found = list(_defaults(schema))
    assert len(found) >= 20
    for where, subschema in found:
        parts = where.split("/")
        assert not {"oneOf", "anyOf", "not", "if"} & set(parts), where
        assert parts[-2] == "properties" or parts[1] == "$defs", where
        # The default passes its own schema (resolving $refs against the root).
        check = {k: v for k, v in subschema.items() if k != "default"}
        check["$defs"] = schema["$defs"]
        jsonschema.Draft202012Validator(check).validate(subschema["default"])


def test_the_plan_reads_the_schemas_defaults_where_the_config_is_silent(config):
    for settings in config["tasks"].values():
        for entry in settings["benchmarks"].values():
            entry.pop("table", None)
    config["tasks"]["summarization"]["priors"]["pseudo"] = {"k": 1}
    config["compute"] = {"device": "auto", "batch_size": 4}
    for kind in ("control_priors", "prompt_success"):
        config["analysis"][kind].pop("seed")
    config["analysis"]["control_priors"].pop("k")
    config["analysis"]["prompt_success"].pop("language_identifier")
    config["analysis"]["decision_space"].pop("max_positions")
    del config["analysis"]["bootstrap"]
    config["models"]["gemma3-270m"].pop("dtype")
    validate_config(config)
    plan = Plan(config)
    schema = load_schema()
    assert plan.priors.keyword_settings("summarization") == {"model": None, "top_n": 5}
    bootstrap = schema["properties"]["analysis"]["properties"]["bootstrap"]
    assert plan.tables.bootstrap_settings() == {
        key: value["default"] for key, value in bootstrap["properties"].items()
    }
    table = plan.tables.settings("translation", "flores", "gemma3-270m")
    assert (table["sft_ratio"], table["reference"], table["near_zero_threshold"]) == (
        "mean_of_cell_ratios",
        "sft_reference",
        1.0,
    )
    assert plan.compute.stage("decode") == {
        "threads": 1,
        "gpu": 0,
        "mem_mb": 2000,
        "runtime": 30,
        "shard_size": None,
        "worker_idle_seconds": 0,
        "group": False,
    }
    # The control priors' k: a schema default that nothing used to fill in.
    control = plan.analysis("control_priors")
    assert {k for run in control.runs() for _, k in run.priors} == {1}
    prior = plan.priors.settings(
        "translation", "flores", "gemma3-270m", "en-pt", "modal", 1
    )
    assert prior["seed"] == 0
    success = plan.analysis("prompt_success").table_settings(
        "translation", "flores", "gemma3-270m"
    )
    assert (success["seed"], success["language_identifier"]) == (
        0,
        {"kind": "langdetect"},
    )
    decision_space = plan.analysis("decision_space").job_settings("gemma3-270m")
    assert decision_space["max_positions"] is None
    assert plan.models.settings("gemma3-270m")["dtype"] == "auto"


@pytest.mark.parametrize("name", ["config.yaml", "configs/paper.yaml"])
def test_sections_a_job_receives_whole_get_no_default(name):
    """A default filled into them would change the params of jobs already run."""
    config = _load(REPO_ROOT / name)
    filled = with_defaults(config)
    for key in ("datasets", "dictionaries", "metrics"):
        assert filled.get(key) == config.get(key), key
    for model, spec in config["models"].items():
        for key in ("gguf", "train"):
            assert filled["models"][model].get(key) == spec.get(key), (model, key)
    for task, settings in config["tasks"].items():
        refined = settings["priors"].get("refined") or {}
        assert filled["tasks"][task]["priors"].get("refined", {}).get(
            "options"
        ) == refined.get("options"), task
    sources = config.get("analysis", {}).get("control_priors", {}).get("sources")
    assert filled["analysis"].get("control_priors", {}).get("sources") == sources


def test_the_config_is_left_as_written(config):
    before = copy.deepcopy(config)
    with_defaults(config)
    validate_config(config)
    assert config == before


def test_library_defaults_are_the_schemas():
    """bootstrap.py keeps sacrebleu's defaults for callers outside the workflow;
    they are the schema's."""
    from prettyflow.bootstrap import BootstrapSettings

    bootstrap = load_schema()["properties"]["analysis"]["properties"]["bootstrap"]
    assert BootstrapSettings() == BootstrapSettings(
        **{key: value["default"] for key, value in bootstrap["properties"].items()}
    )


# ------------------------------------------------------- start-up checks


def test_a_gguf_package_is_looked_up_only_where_the_jobs_import_it(
    config, tmp_path, monkeypatch
):
    # In a folder of its own: the GGUF's place is relative to the working directory.
    monkeypatch.chdir(tmp_path)
    config["analysis"].pop("control_priors")  # its word lists are the checkout's
    config["models"]["gemma3-270m"]["gguf"] = {
        "package": "no-such-gguf-package",
        "file": "never-written.gguf",
    }
    with pytest.raises(ConfigError, match="is not installed"):
        validate_config(config)
    # Jobs in conda or container environments: not this environment's business.
    validate_config(config, check_packages=False)
    # A GGUF the package shipped already: the package is not needed any more.
    written = tmp_path / "resources" / "models" / "gguf" / "never-written.gguf"
    written.parent.mkdir(parents=True)
    written.write_bytes(b"GGUF")
    validate_config(config)


def test_a_local_looking_model_path_that_exists_passes_and_a_hub_id_is_not_looked_up(
    config, tmp_path
):
    folder = tmp_path / "model"
    folder.mkdir()
    config["models"]["local"] = {"path": str(folder)}
    config["models"]["hub"] = {"path": "owner/name-not-on-this-machine"}
    validate_config(config)


def test_a_config_file_that_is_not_utf8_is_named_with_its_line_and_byte(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_bytes(b"results_dir: results\nlanguages:\n  pt: {name: Portugu\xeas}\n")
    with pytest.raises(ConfigError) as caught:
        check_config_files([path])
    assert str(caught.value) == (
        f"config file {path}, line 3, byte 21 (byte 53 of the file): 0xea is not "
        "UTF-8 (invalid continuation byte); save the file as UTF-8"
    )


def _dry_run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SNAKEMAKE, "-n", "--snakefile", str(REPO_ROOT / "Snakefile"), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _last_line(result: subprocess.CompletedProcess) -> str:
    return (result.stdout + result.stderr).strip().splitlines()[-1]


def test_a_dry_run_names_a_config_yaml_that_is_not_utf8(tmp_path):
    """The Snakefile reads config.yaml before Snakemake's reader, whose error is a
    traceback. (A --configfile is read by Snakemake's command line before the
    Snakefile runs: its error stays Snakemake's.)"""
    (tmp_path / "config.yaml").write_bytes(b"results_dir: r\xe9sultats\n")
    result = _dry_run(tmp_path)
    assert result.returncode != 0
    assert _last_line(result) == (
        "config file config.yaml, line 1, byte 15 (byte 15 of the file): 0xe9 is "
        "not UTF-8 (invalid continuation byte); save the file as UTF-8"
    )
    assert "Traceback" not in result.stdout + result.stderr


def test_a_dry_run_stops_at_start_up_with_one_line(tmp_path, config):
    """A start-up check (here results_dir a file) fails the dry run in one line."""
    config["results_dir"] = str(tmp_path / "results")
    (tmp_path / "results").write_text("not a folder\n", encoding="utf-8")
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    result = _dry_run(REPO_ROOT, "--configfile", str(path))
    assert result.returncode != 0
    assert _last_line(result) == (
        f"invalid config: results_dir: '{tmp_path / 'results'}' is not a folder; set "
        "results_dir to a folder (it is made when missing) or move the file away"
    )
    assert "Traceback" not in result.stdout + result.stderr


# -------------------------------------------------------------------- time


def _seconds(config: dict) -> float:
    """The fastest of three checks (the machine is shared)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        validate_config(config)
        times.append(time.perf_counter() - start)
    return min(times)


def test_the_start_up_checks_take_under_a_second_for_the_demo_and_ten_for_the_paper(
    config, paper
):
    validate_config(copy.deepcopy(config))  # imports the registries once
    assert _seconds(config) < 1.0
    assert _seconds(paper) < 10.0
