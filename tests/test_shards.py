"""Sharded decoding: shards joined in data order equal one decode of the whole subset."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from decode_setup import (
    TEMPLATES,
    decode_settings,
    force_first_token,
    newline_token,
    translation_data,
)

from prettyflow.backends.hf import HFBackend
from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance
from prettyflow.plan import Plan
from prettyflow.steps.decode import decode, gather_decode
from prettyflow.steps.shards import gather_shards, shard_rows

COMPUTE = {"device": "cpu", "threads": 1}


def test_sharded_decode_is_byte_identical_to_one_decode(tmp_path, tiny_model_dir):
    ids = [f"s{number:02d}" for number in range(11)]
    data = translation_data(tmp_path, ids)
    settings = decode_settings(tiny_model_dir, template=TEMPLATES[0])
    whole = tmp_path / "whole.parquet"
    decode(data, whole, settings, {**COMPUTE, "batch_size": 8})
    # The prompt ids the model read, for the decision space to teacher-force on.
    assert pq.read_schema(whole).field("prompt_token_ids").type == pa.list_(pa.int32())

    # 11 rows in shards of 4: 4 + 4 + 3, decoded with another batch size each.
    shards = []
    for index, batch_size in enumerate((1, 3, 16)):
        path = tmp_path / f"shard-{index}.parquet"
        shard = {"index": index, "count": 3, "size": 4}
        decode(data, path, settings, {**COMPUTE, "batch_size": batch_size}, shard=shard)
        assert read_provenance(path)["shard"] == shard
        shards.append(path)
    assert [len(read_parquet(path)) for path in shards] == [4, 4, 3]
    joined = tmp_path / "joined.parquet"
    gather_shards(data, shards, joined, log_path=tmp_path / "gather.log")
    assert joined.read_bytes() == whole.read_bytes()
    assert "joined 3 shard(s), 11 rows" in (tmp_path / "gather.log").read_text()


def _opening_with_newline(settings, **options):
    """The model of ``settings``, made to open every answer with "\n"."""
    model = HFBackend.load(settings, **options)
    force_first_token(model.model, newline_token(model.tokenizer))
    return model


def test_answers_opening_with_a_newline_shard_and_batch_alike(tmp_path, tiny_model_dir):
    """A stop that waits for the answer's text keeps shards byte-identical to one decode."""
    ids = [f"s{number:02d}" for number in range(7)]
    data = translation_data(tmp_path, ids)
    settings = {
        **decode_settings(tiny_model_dir, template=TEMPLATES[0]),
        "max_new_tokens": 6,
    }
    whole = tmp_path / "whole.parquet"
    decode(
        data,
        whole,
        settings,
        {**COMPUTE, "batch_size": 8},
        load_model=_opening_with_newline,
    )
    table = read_parquet(whole)
    # Before, the stop "\n" ended every answer at its first token, empty.
    assert all(text.startswith("\n") for text in table["raw_output"])
    assert all(text.startswith("\n") for text in table["continuation"])
    assert sum(bool(text.strip()) for text in table["continuation"]) == len(ids)
    assert read_provenance(whole)["decoding"]["stop_after"] == (
        "the answer's first non-blank text"
    )
    shards = []
    for index, batch_size in enumerate((1, 3, 16)):
        path = tmp_path / f"shard-{index}.parquet"
        shard = {"index": index, "count": 3, "size": 3}
        decode(
            data,
            path,
            settings,
            {**COMPUTE, "batch_size": batch_size},
            shard=shard,
            load_model=_opening_with_newline,
        )
        shards.append(path)
    joined = tmp_path / "joined.parquet"
    gather_shards(data, shards, joined)
    assert joined.read_bytes() == whole.read_bytes()

    # The gather of the decode rule cleans them: the same table whatever the shards.
    cleaning = {
        "model": "tiny",
        "rules": ["strip_leading_blank", "cut_at_stop", "drop_target_label"],
        "stop": ["\n"],
        "target_language": "Portuguese",
        "answer_words": ["Translation"],
    }
    gather_decode(data, shards, tmp_path / "cleaned-shards.parquet", cleaning)
    gather_decode(data, [whole], tmp_path / "cleaned-whole.parquet", cleaning)
    assert (tmp_path / "cleaned-shards.parquet").read_bytes() == (
        tmp_path / "cleaned-whole.parquet"
    ).read_bytes()
    cleaned = read_parquet(tmp_path / "cleaned-whole.parquet")
    for raw, output, changed in zip(
        cleaned["raw_output"], cleaned["output"], cleaned["cleaned_by"]
    ):
        body = raw.lstrip()
        assert output == (body.split("\n")[0].rstrip() if "\n" in body else body)
        assert "strip_leading_blank" in list(changed)


def test_gather_refuses_missing_reordered_or_mixed_shards(tmp_path, tiny_model_dir):
    ids = [f"s{number}" for number in range(6)]
    data = translation_data(tmp_path, ids)
    settings = decode_settings(tiny_model_dir, template=TEMPLATES[0])
    paths = []
    for index in range(3):
        path = tmp_path / f"{index}.parquet"
        decode(
            data, path, settings, COMPUTE, shard={"index": index, "count": 3, "size": 2}
        )
        paths.append(path)
    out = tmp_path / "out.parquet"
    with pytest.raises(InputError, match="holds shard 1, expected shard 0"):
        gather_shards(data, [paths[1], paths[0], paths[2]], out)
    with pytest.raises(InputError, match="must hold every data row once"):
        gather_shards(data, paths[:2], out)
    other = decode_settings(tiny_model_dir, template=TEMPLATES[1])
    decode(data, paths[2], other, COMPUTE, shard={"index": 2, "count": 3, "size": 2})
    with pytest.raises(InputError, match="made differently from shard 0"):
        gather_shards(data, paths, out)
    assert not out.exists()


def test_shard_rows_depend_only_on_the_data_and_the_size():
    import pandas as pd

    frame = pd.DataFrame({"id": [f"s{i}" for i in range(7)]})
    assert list(shard_rows(frame, {"index": 1, "count": 2, "size": 4})["id"]) == [
        "s4",
        "s5",
        "s6",
    ]
    assert shard_rows(frame, {"index": 0, "count": 1, "size": None}) is frame
    assert len(shard_rows(frame, {"index": 2, "count": 3, "size": 4})) == 0


@pytest.fixture
def config(repo_root) -> dict:
    return yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))


def test_shard_count_comes_from_known_sizes_before_any_data_is_read(config):
    config["compute"]["decode"]["shard_size"] = 256
    config["datasets"]["flores"]["max_samples"] = None
    plan = Plan(config)
    # Flores devtest has 1012 sentences in every language: 4 shards of 256.
    assert plan.compute.shard_count("translation", "flores", "en-pt") == 4
    assert plan.compute.shard_settings(
        "decode", "translation", "flores", "en-pt", 3
    ) == {
        "index": 3,
        "count": 4,
        "size": 256,
    }
    decodes = plan.decode.shards(
        "translation", "flores", "gemma3-270m", "en-pt", "base"
    )
    assert [path.rsplit("/", 1)[1] for path in decodes] == [
        "0.parquet",
        "1.parquet",
        "2.parquet",
        "3.parquet",
    ]
    with pytest.raises(ValueError, match="no decode shard 4 of 4"):
        plan.compute.shard_settings("decode", "translation", "flores", "en-pt", 4)
    # max_samples bounds it; WMT23 and CrossSum sizes are unknown: one shard.
    config["datasets"]["flores"]["max_samples"] = 300
    assert Plan(config).compute.shard_count("translation", "flores", "en-pt") == 2
    assert Plan(config).compute.shard_count("translation", "wmt23", "en-pt") == 1
    # One shard does not depend on the shard size: changing it reruns nothing there.
    one = Plan(config).compute.shard_settings(
        "decode", "translation", "wmt23", "en-pt", 0
    )
    config["compute"]["decode"]["shard_size"] = 100
    assert (
        Plan(config).compute.shard_settings(
            "decode", "translation", "wmt23", "en-pt", 0
        )
        == one
    )
    assert one == {"index": 0, "count": 1, "size": None}


def test_the_demo_subsets_fit_in_one_shard(config):
    plan = Plan(config)
    assert all(
        plan.compute.shard_count(task, benchmark, subset) == 1
        for task, benchmark, subset in plan.grid.grid()
    )
