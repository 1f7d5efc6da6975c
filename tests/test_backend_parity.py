"""analysis.backend_parity: the computation on synthetic decode and score tables,
its plan (the systems and targets it adds) and its config checks. The end-to-end
run with hf and vLLM is tests/test_workflow_backend_parity.py."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml
from test_bootstrap import noisy, references, translation_scores

from prettyflow.analysis.backend_parity import (
    backend_parity_table,
    compare_answers,
    first_divergence,
    metric_difference,
)
from prettyflow.bootstrap import BootstrapSettings
from prettyflow.errors import InputError
from prettyflow.io import write_parquet
from prettyflow.plan import Plan

FAMILY = "gemma3-270m"
BOOTSTRAP = BootstrapSettings(resamples=200, seed=12345)


def decodes(outputs: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [f"s{i}" for i in range(len(outputs))], "output": outputs}
    )


def test_first_divergence_is_the_first_differing_character():
    assert first_divergence("o gato", "o gato") is None
    assert first_divergence("o gato", "o cão") == 2
    assert first_divergence("o gato", "o gato preto") == 6  # a prefix: its length
    assert first_divergence("", "x") == 0


def test_identical_share_and_first_divergence_align_samples_by_id():
    first = decodes(["a casa", "o gato", "um cão", "a mesa"])
    # The same samples in another order; two answers differ (at 6 and at 4).
    second = decodes(["a casa", "o gato preto", "um cão", "a mexa"]).iloc[[3, 2, 1, 0]]
    result = compare_answers(first, second)
    assert result["samples"] == 4
    assert result["identical"] == 2
    assert result["identical_percent"] == 50.0
    assert result["divergence_mean"] == pytest.approx((6 + 4) / 2)
    assert result["divergence_median"] == pytest.approx(5.0)
    same = compare_answers(first, first)
    assert same["identical_percent"] == 100.0
    assert math.isnan(same["divergence_mean"])


def test_answers_of_other_samples_are_refused():
    first = decodes(["a", "b"])
    second = decodes(["a", "b"]).assign(id=["s0", "t1"])
    with pytest.raises(InputError, match="different samples"):
        compare_answers(first, second, ("hf.parquet", "vllm.parquet"))


def test_identical_scores_differ_by_zero_with_p_one():
    refs = references(40)
    samples, corpus = translation_scores(noisy(refs, 0.3, seed=1), refs)
    result = metric_difference("bleu", samples, samples.copy(), BOOTSTRAP)
    assert result["first"] == pytest.approx(corpus["bleu"])
    assert result["difference"] == 0
    assert (result["low"], result["high"]) == (0, 0)
    assert result["p"] == 1.0


def test_a_worse_backend_gets_a_negative_difference_excluding_zero():
    refs = references(60)
    good, good_corpus = translation_scores(noisy(refs, 0.1, seed=1), refs)
    bad, bad_corpus = translation_scores(noisy(refs, 0.6, seed=2), refs)
    result = metric_difference("chrf++", good, bad, BOOTSTRAP)
    assert result["difference"] == pytest.approx(
        bad_corpus["chrf++"] - good_corpus["chrf++"]
    )
    assert result["low"] <= result["difference"] <= result["high"] < 0
    assert result["p"] < 0.05
    # The other way round: the same difference with the opposite sign.
    reverse = metric_difference("chrf++", bad, good, BOOTSTRAP)
    assert reverse["difference"] == pytest.approx(-result["difference"])
    assert reverse["p"] == result["p"]


def test_a_close_backend_gets_an_interval_around_zero_and_a_large_p():
    refs = references(60)
    first, _ = translation_scores(noisy(refs, 0.3, seed=1), refs)
    second, _ = translation_scores(noisy(refs, 0.3, seed=3), refs)
    result = metric_difference("bleu", first, second, BOOTSTRAP)
    assert result["low"] < 0 < result["high"]
    assert result["p"] > 0.05


def test_table_files(tmp_path):
    refs = references(20)
    hypotheses = noisy(refs, 0.3, seed=1)
    changed = hypotheses[:15] + noisy(refs[15:], 0.9, seed=5)
    paths: dict[str, dict[str, list[str]]] = {"decodes": {}, "samples": {}}
    for role, outputs in (("first", hypotheses), ("second", changed)):
        decode_path = tmp_path / f"{role}.decode.parquet"
        samples_path = tmp_path / f"{role}.scores.parquet"
        write_parquet(decodes(outputs), decode_path)
        write_parquet(translation_scores(outputs, refs)[0], samples_path)
        paths["decodes"][role] = [str(decode_path)]
        paths["samples"][role] = [str(samples_path)]
    settings = {
        "title": "Backend parity, translation on flores (tiny): vllm - hf",
        "backends": ["hf", "vllm"],
        "rows": [{"system": "tiny-base", "subset": "en-pt"}],
        "metrics": ["bleu", "chrf++"],
        "bootstrap": {"resamples": 100, "seed": 1, "confidence": 0.95},
    }
    outputs = {ext: tmp_path / f"parity.{ext}" for ext in ("csv", "md", "html")}
    table = backend_parity_table(
        paths["decodes"],
        paths["samples"],
        settings,
        outputs["csv"],
        outputs["md"],
        outputs["html"],
    )
    assert table.loc[0, "identical_percent"] == pytest.approx(75.0)
    csv = pd.read_csv(outputs["csv"])
    assert list(csv.columns[:7]) == [
        "system",
        "subset",
        "samples",
        "identical",
        "identical_percent",
        "divergence_mean",
        "divergence_median",
    ]
    assert "chrf++_difference" in csv.columns and "bleu_p" in csv.columns
    markdown = outputs["md"].read_text(encoding="utf-8")
    assert "| tiny-base | en-pt | 20 | 75.0% |" in markdown
    assert "vllm minus hf" in markdown
    assert "<table" in outputs["html"].read_text(encoding="utf-8")


# ------------------------------------------------------------------- plan


@pytest.fixture
def config(repo_root) -> dict:
    return yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))


def with_parity(config: dict, **settings) -> dict:
    config["analysis"]["backend_parity"] = {
        "runs": [{"task": "translation", "benchmark": "flores", "subsets": ["en-pt"]}],
        **settings,
    }
    return config


def test_plan_decodes_the_main_systems_again_on_the_second_backend(config):
    plan = Plan(with_parity(config, metrics=["bleu"]))
    main = [s.name for s in plan.systems.main("translation", "flores", FAMILY)]
    on_en_pt = [
        s.name for s in plan.systems.decoded("translation", "flores", FAMILY, "en-pt")
    ]
    on_pt_en = [
        s.name for s in plan.systems.decoded("translation", "flores", FAMILY, "pt-en")
    ]
    added = [name for name in on_en_pt if name.startswith("vllm-")]
    # Every main system whose prior applies to en-pt, and only on the run's subsets.
    assert added == [f"vllm-{name}" for name in main]
    assert not any(name.startswith("vllm-") for name in on_pt_en)
    settings = plan.decode.settings(
        "translation", "flores", FAMILY, "en-pt", "vllm-base"
    )
    assert settings["model"]["backend"] == "vllm"
    assert "engine" in settings["model"]
    base = plan.decode.settings("translation", "flores", FAMILY, "en-pt", "base")
    assert "backend" not in base["model"]
    # The same prompt and prior file: only the backend differs.
    prior = "prior-sft-k2"
    inputs = plan.decode.inputs("translation", "flores", FAMILY, "en-pt", prior)
    again = plan.decode.inputs(
        "translation", "flores", FAMILY, "en-pt", f"vllm-{prior}"
    )
    assert again == inputs
    analysis = plan.analysis("backend_parity")
    files = analysis.inputs("translation", "flores", FAMILY)
    assert [p.rsplit("/", 1)[1] for p in files["second_decodes"]] == [
        f"vllm-{name}.parquet" for name in main
    ]
    assert files["first_samples"][0].endswith(f"/en-pt/{main[0]}.parquet")
    settings = analysis.table_settings("translation", "flores", FAMILY)
    assert settings["backends"] == ["hf", "vllm"]
    assert settings["metrics"] == ["bleu"]
    assert [row["system"] for row in settings["rows"]][2] == "gemma3-270m"
    assert (
        f"results/tables/translation-flores-{FAMILY}-backend-parity.md"
        in plan.targets()
    )


def test_a_model_on_the_second_backend_is_decoded_again_on_the_first(config):
    config["models"]["gemma3-270m"]["backend"] = "vllm"
    plan = Plan(with_parity(config))
    names = [
        s.name for s in plan.systems.decoded("translation", "flores", FAMILY, "en-pt")
    ]
    assert "hf-base" in names and "vllm-base" not in names
    # The SFT model is trained on it: on its base's backend (vllm) too.
    assert "hf-sft-gemma3-270m-alpaca" in names
    settings = plan.decode.settings("translation", "flores", FAMILY, "en-pt", "hf-base")
    assert "backend" not in settings["model"]
    files = plan.analysis("backend_parity").inputs("translation", "flores", FAMILY)
    assert files["first_decodes"][2].endswith("/hf-base.parquet")
    assert files["second_decodes"][2].endswith("/base.parquet")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"backends": ["hf", "vllms"]}, r"backends\[1\]: not a model backend"),
        ({"backends": ["hf", "hf"]}, "two different model backends"),
        ({"backends": ["vllm"]}, "two different model backends"),
        ({"metrics": ["rouge2"]}, "'rouge2' is not scored on flores"),
    ],
)
def test_config_errors_name_the_key(config, settings, message):
    from prettyflow.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match=message):
        validate_config(with_parity(config, **settings))


def test_check_inputs_names_a_missing_vllm_environment(config, tmp_path):
    from prettyflow.preflight import MISSING, needs

    assert not any(n.key == "compute.vllm.python" for n in needs(config))
    config["compute"]["vllm"] = {"python": str(tmp_path / "no-env" / "bin" / "python")}
    found = [n for n in needs(with_parity(config)) if n.key == "compute.vllm.python"]
    assert len(found) == 1 and found[0].status == MISSING
    assert "make vllm-env" in found[0].note
