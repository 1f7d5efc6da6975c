"""The score steps: COMET's file from its environment, read back by the score step."""

from __future__ import annotations

import json
import math
import time

import pandas as pd

from prettyflow.io import read_provenance, write_parquet
from prettyflow.steps.score import score, score_comet


def _data_and_decodes(tmp_path):
    data = pd.DataFrame(
        {
            "id": ["s1", "s2"],
            "source": ["The cat sleeps.", "It rains."],
            "reference": ["O gato dorme.", "Chove."],
            "source_lang": ["en", "en"],
            "target_lang": ["pt", "pt"],
        }
    )
    decodes = pd.DataFrame(
        {
            "id": ["s2", "s1"],  # another order: both steps align by id
            "output": ["Chove.", None],  # a missing output is an empty answer
            "num_new_tokens": [3, 0],
            "stopped_by": ["stop", "eos"],
        }
    )
    write_parquet(data, tmp_path / "data.parquet")
    write_parquet(decodes, tmp_path / "decodes.parquet", {"system": "base"})
    return tmp_path / "data.parquet", tmp_path / "decodes.parquet"


def test_comet_without_a_checkpoint_is_not_computed_with_its_reason(tmp_path):
    data, decodes = _data_and_decodes(tmp_path)
    started = time.perf_counter()
    table = score_comet(
        data,
        decodes,
        tmp_path / "base.comet.parquet",
        {"checkpoint": str(tmp_path / "no-such-checkpoint")},
        {"batch_size": 4, "gpu": 0, "python": None},
    )
    assert time.perf_counter() - started < 2.0
    assert list(table["id"]) == ["s1", "s2"]
    assert table["comet"].isna().all()
    entry = read_provenance(tmp_path / "base.comet.parquet")["entry"]
    assert entry["status"] == "not computed" and entry["score"] is None
    assert "no-such-checkpoint" in entry["reason"]

    result = score(
        data,
        decodes,
        tmp_path / "scores.parquet",
        tmp_path / "scores.json",
        {
            "task": "translation",
            "benchmark": "wmt23",
            "subset": "en-pt",
            "target_lang": "pt",
            "metrics": ["bleu", "comet"],
            "metric_settings": {},
        },
        {"comet": str(tmp_path / "base.comet.parquet")},
    )
    assert result["scores"]["comet"] == entry
    assert result["scores"]["bleu"]["status"] == "ok"
    assert result["diagnostics"]["empty_outputs"] == 1
    samples = pd.read_parquet(tmp_path / "scores.parquet")
    assert list(samples.columns) == ["id", "bleu", "comet"]
    assert math.isnan(samples["comet"].iloc[0])
    assert json.loads((tmp_path / "scores.json").read_text())["benchmark"] == "wmt23"
