from __future__ import annotations

import pytest
from PIL import Image

from prettyflow.analysis.prior_tokens import prior_tokens_figure
from prettyflow.errors import InputError
from prettyflow.io import write_json

SPM_REASON = (
    "spBLEU needs the Flores-101 SentencePiece model (metrics.spbleu.spm_model)"
)
SETTINGS = {
    "task": "translation",
    "benchmark": "flores",
    "family": "llama2",
    "source": "refined",
    "ks": [1, 2, 3],
    "subsets": ["en-pt", "pt-en"],
    "metrics": ["bleu", "spbleu"],
    "labels": {
        "bleu": "BLEU",
        "spbleu": "spBLEU",
        "en-pt": "En-Pt",
        "pt-en": "Pt-En",
        "base": "Llama2-7B",
        "sft": "Llama2-7B-Alpaca",
    },
    "base_system": "base",
    "reference_system": "sft",
}


def score_file(tmp_path, system, subset, bleu, k=None, source=None, samples=16):
    path = tmp_path / f"{system}-{subset}.json"
    write_json(
        {
            "task": "translation",
            "benchmark": "flores",
            "system": system,
            "subset": subset,
            "scores": {
                "bleu": {"score": bleu, "status": "ok", "reason": None},
                "spbleu": {"score": None, "status": "n/a", "reason": SPM_REASON},
            },
            "diagnostics": {"samples": samples},
            "provenance": {"system": system, "prior_source": source, "k": k},
        },
        path,
    )
    return path


def score_files(tmp_path):
    paths = []
    for subset, offset in (("en-pt", 0.0), ("pt-en", 10.0)):
        for k, bleu in ((1, 10.0), (2, 15.5), (3, 17.0)):
            paths.append(
                score_file(
                    tmp_path, f"prior-refined-k{k}", subset, bleu + offset, k, "refined"
                )
            )
        paths.append(score_file(tmp_path, "base", subset, 5.0 + offset))
        paths.append(score_file(tmp_path, "sft", subset, 20.0 + offset, samples=16))
    # Another subset's file is not this figure's business.
    paths.append(score_file(tmp_path, "base", "en-zh", 1.0))
    return paths


def test_csv_lists_each_metric_against_k_and_the_reference_lines(tmp_path):
    csv_path, png_path = tmp_path / "fig5.csv", tmp_path / "fig5.png"
    prior_tokens_figure(score_files(tmp_path), SETTINGS, csv_path, png_path)
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "subset,metric,series,system,k,score,samples,reason"
    assert lines[1:6] == [
        "en-pt,bleu,prior,prior-refined-k1,1,10.0,16,",
        "en-pt,bleu,prior,prior-refined-k2,2,15.5,16,",
        "en-pt,bleu,prior,prior-refined-k3,3,17.0,16,",
        "en-pt,bleu,no prior,base,,5.0,16,",
        "en-pt,bleu,SFT,sft,,20.0,16,",
    ]
    assert lines[6] == f"en-pt,spbleu,prior,prior-refined-k1,1,,16,{SPM_REASON}"
    assert lines[11:16] == [
        "pt-en,bleu,prior,prior-refined-k1,1,20.0,16,",
        "pt-en,bleu,prior,prior-refined-k2,2,25.5,16,",
        "pt-en,bleu,prior,prior-refined-k3,3,27.0,16,",
        "pt-en,bleu,no prior,base,,15.0,16,",
        "pt-en,bleu,SFT,sft,,30.0,16,",
    ]
    assert len(lines) == 1 + 2 * 2 * 5  # subsets x metrics x (3 k + 2 lines)
    assert "en-zh" not in csv_path.read_text(encoding="utf-8")

    with Image.open(png_path) as image:
        width, height = image.size
    assert width > 800 and height > 600  # a 2 x 2 grid of panels


def test_missing_and_mismatched_score_files_are_named(tmp_path):
    paths = score_files(tmp_path)
    outputs = (tmp_path / "f.csv", tmp_path / "f.png")
    without_k2 = [p for p in paths if p.name != "prior-refined-k2-pt-en.json"]
    with pytest.raises(InputError, match="no score file for pt-en prior k=2"):
        prior_tokens_figure(without_k2, SETTINGS, *outputs)

    (tmp_path / "rerun").mkdir()
    wrong_k = score_file(
        tmp_path / "rerun", "prior-refined-k3", "en-pt", 1.0, 4, "refined"
    )
    others = [p for p in paths if p.name != "prior-refined-k3-en-pt.json"]
    with pytest.raises(InputError, match="k 4") as error:
        prior_tokens_figure([*others, wrong_k], SETTINGS, *outputs)
    assert error.value.path == str(wrong_k)

    stray = score_file(tmp_path, "prior-pseudo-k1", "en-pt", 1.0, 1, "pseudo")
    with pytest.raises(InputError, match="unexpected system 'prior-pseudo-k1'"):
        prior_tokens_figure([*paths, stray], SETTINGS, *outputs)

    with pytest.raises(InputError, match="no score for metric 'comet'") as error:
        prior_tokens_figure(paths, {**SETTINGS, "metrics": ["comet"]}, *outputs)
    assert error.value.field == "scores.comet"
    assert not any(path.exists() for path in outputs)


def test_a_rate_is_drawn_on_its_whole_range_and_says_lower_is_better(tmp_path):
    from prettyflow.analysis.prior_tokens import metric_axis
    from prettyflow.io import read_json

    label, limits = metric_axis("wrong_language", "Wrong lang. %")
    assert label == "Wrong lang. %\n(lower is better)"
    assert limits == (-4.0, 104.0)  # 0-100% with a margin
    assert metric_axis("bleu", "BLEU") == ("BLEU", None)
    assert metric_axis("not-a-metric", "x") == ("x", None)
    # Figure 5 plots the rate against k beside the other metrics.
    paths = score_files(tmp_path)
    for path in paths:
        result = read_json(path)
        result["scores"]["wrong_language"] = {
            "score": 100.0 if result["system"] == "base" else 25.0,
            "status": "ok",
            "reason": None,
        }
        write_json(result, path)
    settings = {
        **SETTINGS,
        "metrics": ["bleu", "wrong_language"],
        "labels": {**SETTINGS["labels"], "wrong_language": "Wrong lang. %"},
    }
    csv_path, png_path = tmp_path / "f.csv", tmp_path / "f.png"
    table = prior_tokens_figure(paths, settings, csv_path, png_path)
    rates = table[table["metric"] == "wrong_language"]
    assert len(rates) == 2 * (3 + 2)  # per subset: 3 k and the two reference lines
    assert set(rates["score"]) == {25.0, 100.0}
    assert Image.open(png_path).size[1] > 0
