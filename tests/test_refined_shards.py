"""Sharded refined-model runs: shards joined in data order equal one run of the subset.

The same shards as the decode's (prettyflow.steps.shards, tests/test_shards.py):
compute.refined.shard_size cuts a subset of known size into shard jobs, gathered
into the file the refined prior reads.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from decode_setup import translation_data

from prettyflow.config import ConfigError, validate_config
from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance, write_parquet
from prettyflow.plan import Plan
from prettyflow.steps.priors import run_refined_model
from prettyflow.steps.shards import gather_shards

LANGUAGES = {"en": "English", "pt": "Portuguese", "fr": "French"}


def refined_settings(task: str, subset: str, backend: str, options: dict) -> dict:
    """What plan.priors.refined_settings gives a refined job."""
    source, target = subset.split("-") if "-" in subset else (subset, subset)
    return {
        "task": task,
        "benchmark": {"translation": "flores", "pos": "ud"}[task],
        "subset": subset,
        "backend": backend,
        "options": options,
        "source_lang": source,
        "target_lang": target,
        "languages": {
            code: LANGUAGES[code] for code in dict.fromkeys([source, target])
        },
    }


def run_shards(data, directory, settings, size: int, computes: list[dict]) -> list:
    """One refined run per shard of ``size`` rows, each with its own compute."""
    paths = []
    for index, compute in enumerate(computes):
        path = directory / f"shard-{index}.parquet"
        shard = {"index": index, "count": len(computes), "size": size}
        run_refined_model(data, path, settings, compute, shard=shard)
        assert read_provenance(path)["shard"] == shard
        paths.append(path)
    return paths


def outputs_file(path, ids, outputs) -> str:
    """A refined outputs file (the ``file`` backend's JSONL), in reverse id order."""
    records = [{"id": i, "output": o} for i, o in zip(ids, outputs)][::-1]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return str(path)


def test_sharded_refined_run_is_byte_identical_to_one_run(tmp_path):
    ids = [f"s{number:02d}" for number in range(11)]
    data = translation_data(tmp_path, ids)
    path = outputs_file(
        tmp_path / "refined.jsonl", ids, [f"O gato {i}" for i in range(11)]
    )
    settings = refined_settings("translation", "en-pt", "file", {"path": path})
    whole = tmp_path / "whole.parquet"
    run_refined_model(data, whole, settings, {"batch_size": 8})
    assert "shard" not in read_provenance(whole)

    # 11 rows in shards of 4: 4 + 4 + 3.
    shards = run_shards(data, tmp_path, settings, 4, [{}] * 3)
    assert [len(read_parquet(shard)) for shard in shards] == [4, 4, 3]
    joined = tmp_path / "joined.parquet"
    gather_shards(data, shards, joined, log_path=tmp_path / "gather.log")
    assert joined.read_bytes() == whole.read_bytes()
    assert read_provenance(joined) == read_provenance(whole)
    assert "joined 3 shard(s), 11 rows" in (tmp_path / "gather.log").read_text()


def test_sharded_tags_with_a_shard_past_the_end_equal_one_run(tmp_path):
    """POS: lists of tags; a subset smaller than planned leaves its last shard empty."""
    ids = ["p0", "p1", "p2", "p3", "p4"]
    tokens = [["Le", "chat"], ["Il", "dort", "."], ["Oui"], ["Le", "chien"], ["Non"]]
    data = tmp_path / "pos.parquet"
    write_parquet(
        pd.DataFrame({"id": ids, "tokens": tokens, "lang": ["fr"] * len(ids)}), data
    )
    tags = [
        ["DET", "NOUN"],
        ["PRON", "VERB", "PUNCT"],
        ["INTJ"],
        ["DET", "NOUN"],
        ["INTJ"],
    ]
    (tmp_path / "fr.tsv").write_text(
        "".join(f"{i}\t{' '.join(t)}\n" for i, t in zip(ids, tags))
    )
    options = {"path": str(tmp_path / "{subset}.tsv")}
    settings = refined_settings("pos", "fr", "file", options)
    whole = tmp_path / "whole.parquet"
    run_refined_model(data, whole, settings, {})

    # Planned from max_samples 8 in shards of 2: 4 shards, the last one empty.
    shards = run_shards(data, tmp_path, settings, 2, [{}] * 4)
    assert [len(read_parquet(shard)) for shard in shards] == [2, 2, 1, 0]
    joined = tmp_path / "joined.parquet"
    gathered = gather_shards(data, shards, joined)
    assert [list(t) for t in gathered["tags"]] == tags
    assert joined.read_bytes() == whole.read_bytes()


def test_shards_of_a_model_run_with_other_batch_sizes_equal_one_run(
    tmp_path, tiny_model_dir
):
    """A causal refined model (tiny, offline): boundaries never follow the batch size."""
    ids = [f"s{number}" for number in range(7)]
    data = translation_data(tmp_path, ids)
    options = {
        "model": str(tiny_model_dir),
        "prompt_template": "{source_language}: {source}\n{target_language}:",
        "max_new_tokens": 4,
        "device": "cpu",
    }
    settings = refined_settings("translation", "en-pt", "hf_causal", options)
    whole = tmp_path / "whole.parquet"
    run_refined_model(data, whole, settings, {"batch_size": 8})
    # compute.batch_size reaches the backend, not the provenance.
    computes = [{"batch_size": size} for size in (1, 2, 16)]
    shards = run_shards(data, tmp_path, settings, 3, computes)
    joined = tmp_path / "joined.parquet"
    gather_shards(data, shards, joined)
    assert joined.read_bytes() == whole.read_bytes()


def test_gather_refuses_missing_duplicated_reordered_or_mixed_shards(tmp_path):
    ids = [f"s{number}" for number in range(6)]
    data = translation_data(tmp_path, ids)
    path = outputs_file(tmp_path / "refined.jsonl", ids, ["um"] * 6)
    settings = refined_settings("translation", "en-pt", "file", {"path": path})
    paths = run_shards(data, tmp_path, settings, 2, [{}] * 3)
    out = tmp_path / "out.parquet"
    with pytest.raises(InputError, match="must hold every data row once"):
        gather_shards(data, paths[:2], out)
    with pytest.raises(InputError, match="holds shard 0, expected shard 1"):
        gather_shards(data, [paths[0], paths[0], paths[2]], out)
    with pytest.raises(InputError, match="holds shard 2, expected shard 1"):
        gather_shards(data, [paths[0], paths[2], paths[1]], out)
    # A shard of another refined model (other outputs file): its settings differ.
    other = outputs_file(tmp_path / "other.jsonl", ids, ["dois"] * 6)
    run_refined_model(
        data,
        paths[2],
        refined_settings("translation", "en-pt", "file", {"path": other}),
        {},
        shard={"index": 2, "count": 3, "size": 2},
    )
    with pytest.raises(InputError, match=r"made differently from shard 0 \(options\)"):
        gather_shards(data, paths, out)
    assert not out.exists()


# ------------------------------------------------------------------------ the plan
@pytest.fixture
def config(repo_root) -> dict:
    return yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))


def test_refined_shard_count_comes_from_known_sizes_like_the_decodes(config):
    config["compute"]["refined"]["shard_size"] = 256
    config["compute"]["decode"]["shard_size"] = 500
    config["datasets"]["flores"]["max_samples"] = None
    plan = Plan(config)
    # Flores devtest has 1012 sentences: 4 refined shards of 256 (3 decode shards
    # of 500: each stage has its own size).
    assert plan.compute.shard_count("translation", "flores", "en-pt", "refined") == 4
    assert plan.compute.shard_count("translation", "flores", "en-pt", "decode") == 3
    assert plan.compute.shard_settings(
        "refined", "translation", "flores", "en-pt", 3
    ) == {
        "index": 3,
        "count": 4,
        "size": 256,
    }
    assert plan.priors.refined_shards("translation", "flores", "en-pt") == [
        f"results/translation/refined/flores/shards/en-pt/{index}.parquet"
        for index in range(4)
    ]
    with pytest.raises(ValueError, match="no refined shard 4 of 4"):
        plan.compute.shard_settings("refined", "translation", "flores", "en-pt", 4)
    with pytest.raises(ValueError, match="'score' is not sharded"):
        plan.compute.shard_count("translation", "flores", "en-pt", "score")
    # max_samples bounds it; a size unknown before reading the data is one shard.
    config["datasets"]["flores"]["max_samples"] = 300
    assert (
        Plan(config).compute.shard_count("translation", "flores", "en-pt", "refined")
        == 2
    )
    assert Plan(config).priors.refined_shards("translation", "wmt23", "en-pt") == [
        "results/translation/refined/wmt23/shards/en-pt/0.parquet"
    ]
    # One shard does not depend on the shard size: changing it reruns nothing there.
    one = Plan(config).compute.shard_settings(
        "refined", "translation", "wmt23", "en-pt", 0
    )
    config["compute"]["refined"]["shard_size"] = 2
    assert Plan(config).compute.shard_settings(
        "refined", "translation", "wmt23", "en-pt", 0
    ) == one == {"index": 0, "count": 1, "size": None}  # fmt: skip
    # The demo's 5 UD sentences (max_samples) in shards of 2: 3 shards.
    assert Plan(config).compute.shard_count("pos", "ud", "fr", "refined") == 3
    # No size: one shard, whatever the subset's size.
    config["compute"]["refined"]["shard_size"] = None
    assert (
        Plan(config).compute.shard_count("translation", "flores", "en-pt", "refined")
        == 1
    )
    del config["compute"]["refined"]["shard_size"]
    assert (
        Plan(config).compute.shard_count("translation", "flores", "en-pt", "refined")
        == 1
    )


def test_the_demo_refined_runs_fit_in_one_shard(config):
    plan = Plan(config)
    assert config["compute"]["refined"]["shard_size"] == 256
    assert all(
        len(plan.priors.refined_shards(task, benchmark, subset)) == 1
        for task, benchmark, subset in plan.grid.grid()
    )


def test_the_schema_checks_the_refined_shard_size(config):
    config["compute"]["refined"]["shard_size"] = 0
    with pytest.raises(ConfigError, match=r"compute\.refined\.shard_size: 0 is less"):
        validate_config(config)
    config["compute"]["refined"]["shard_size"] = "big"
    with pytest.raises(ConfigError, match=r"compute\.refined\.shard_size"):
        validate_config(config)
    config["compute"]["refined"]["shard_size"] = None
    validate_config(config)
