"""The score steps: COMET's file from its environment, read back by the score step."""

from __future__ import annotations

import json
import math
import re
import time

import numpy as np
import pandas as pd
import pytest

from prettyflow.errors import InputError
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
    assert list(samples.columns) == ["id", "bleu", "bleu:stats", "comet"]
    assert math.isnan(samples["comet"].iloc[0])
    assert json.loads((tmp_path / "scores.json").read_text())["benchmark"] == "wmt23"


def test_score_step_saves_sufficient_statistics_that_give_the_corpus_score(tmp_path):
    from sacrebleu.metrics import BLEU, CHRF

    from prettyflow.bootstrap import resampled_scores

    data, decodes = _data_and_decodes(tmp_path)
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
            "metrics": ["bleu", "chrf++", "spbleu"],
            "metric_settings": {},
        },
    )
    samples = pd.read_parquet(tmp_path / "scores.parquet")
    hypotheses, references = ["", "Chove."], [["O gato dorme.", "Chove."]]
    bleu_statistics = BLEU()._extract_corpus_statistics(hypotheses, references)
    chrf_statistics = CHRF(word_order=2)._extract_corpus_statistics(
        hypotheses, references
    )
    assert [list(row) for row in samples["bleu:stats"]] == bleu_statistics
    assert [list(row) for row in samples["chrf++:stats"]] == chrf_statistics
    # spBLEU without its SentencePiece model: no statistics, like its score.
    assert samples["spbleu:stats"].isna().all()
    everything = np.ones((1, len(samples)), dtype=int)
    for metric in ("bleu", "chrf++"):
        recomputed = resampled_scores(metric, samples, everything)[0]
        assert recomputed == result["scores"][metric]["score"]


BLEU_SETTINGS = {
    "task": "translation",
    "benchmark": "wmt23",
    "subset": "en-pt",
    "target_lang": "pt",
    "metrics": ["bleu"],
    "metric_settings": {},
}


def test_a_null_or_nan_output_is_scored_as_an_empty_answer(tmp_path):
    data, decodes_path = _data_and_decodes(tmp_path)
    decodes = pd.read_parquet(decodes_path)
    decodes["output"] = [float("nan"), None]
    decodes["num_new_tokens"] = [None, None]  # a failed generation counts nothing
    write_parquet(decodes, decodes_path, {"system": "base"})
    result = score(
        data, decodes_path, tmp_path / "s.parquet", tmp_path / "s.json", BLEU_SETTINGS
    )
    assert result["diagnostics"]["empty_outputs"] == 2
    assert result["diagnostics"]["mean_new_tokens"] == 0.0
    assert result["scores"]["bleu"]["score"] == 0.0
    comet = score_comet(
        data,
        decodes_path,
        tmp_path / "c.parquet",
        {"checkpoint": str(tmp_path / "none")},
        {"batch_size": 1, "gpu": 0, "python": None},
    )
    assert len(comet) == 2


def test_the_score_files_appear_together_or_not_at_all(tmp_path, monkeypatch):
    import prettyflow.steps.score as score_step

    data, decodes = _data_and_decodes(tmp_path)
    out = tmp_path / "scores"

    def failing_write_json(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(score_step, "write_json", failing_write_json)
    with pytest.raises(OSError, match="disk full"):
        score(data, decodes, out / "s.parquet", out / "s.json", BLEU_SETTINGS)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (lambda d: d.drop(columns=["output"]), "output", "no column(s) output"),
        (lambda d: d.assign(output=[5, 6]), "output", "expected a text or null"),
        (lambda d: d.assign(id=["s1", "s1"]), "id", "repeats id 's1'"),
        (lambda d: d.assign(num_new_tokens=["many", "1"]), "num_new_tokens", "number"),
        (lambda d: d.assign(id=["s1", "other"]), "id", "no row for ids"),
    ],
)
def test_bad_decode_tables_name_file_and_column(tmp_path, change, field, expected):
    data, decodes_path = _data_and_decodes(tmp_path)
    write_parquet(change(pd.read_parquet(decodes_path)), decodes_path, {})
    with pytest.raises(InputError, match=re.escape(expected)) as caught:
        score(
            data,
            decodes_path,
            tmp_path / "s.parquet",
            tmp_path / "s.json",
            BLEU_SETTINGS,
        )
    assert caught.value.path == str(decodes_path)
    assert caught.value.field == field
    assert not (tmp_path / "s.parquet").exists()
