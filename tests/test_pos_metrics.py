"""POS precision/recall/F1 and prior-tag accuracy on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from prettyflow.metrics.pos import PER_SENTENCE_COLUMNS, prior_tag_accuracy, score_pos

GOLD_TOKENS = [["Le", "chat", "dort"], ["Il", "pleut"], ["Je", "sens", "qu'", "entre"]]
GOLD_TAGS = [
    ["DET", "NOUN", "VERB"],
    ["PRON", "VERB"],
    ["PRON", "VERB", "SCONJ", "ADP"],
]
OUTPUTS = [
    # 4 pairs: 3 aligned (2 right, "chat" wrong) + 1 extra "." -> P 2/4, R 2/3
    '[["Le", "DET"], ["chat", "VERB"], ["dort", "VERB"], [".", "PUNCT"]]',
    # unparseable -> 0 predictions, R 0/2
    "I am sorry, I cannot help with that.",
    # 2 pairs, both right ("pron" normalised), 2 gold words missing -> P 2/2, R 2/4
    'Here: [{"word": "Je", "tag": "pron"}, {"word": "sens", "tag": "VERB"}]',
]


def test_hand_computed_corpus() -> None:
    per_sentence, corpus = score_pos(GOLD_TOKENS, GOLD_TAGS, OUTPUTS)
    assert list(per_sentence.columns) == list(PER_SENTENCE_COLUMNS)
    assert list(per_sentence["n_gold"]) == [3, 2, 4]
    assert list(per_sentence["n_predicted"]) == [4, 0, 2]
    assert list(per_sentence["n_aligned"]) == [3, 0, 2]
    assert list(per_sentence["n_correct"]) == [2, 0, 2]
    assert list(per_sentence["parse_ok"]) == [True, False, True]
    assert per_sentence["precision"].tolist() == pytest.approx([50.0, 0.0, 100.0])
    assert per_sentence["recall"].tolist() == pytest.approx([200 / 3, 0.0, 50.0])
    assert per_sentence["f1"].tolist() == pytest.approx([400 / 7, 0.0, 200 / 3])
    assert per_sentence.loc[1, "error"] == "no JSON array or object found"

    # Micro average: correct 4, predicted 6, gold 9.
    assert corpus["precision"] == pytest.approx(200 / 3)
    assert corpus["recall"] == pytest.approx(400 / 9)
    assert corpus["f1"] == pytest.approx(
        160 / 3
    )  # 2 * (2/3) * (4/9) / (2/3 + 4/9) = 8/15
    assert corpus["parse_failure_rate"] == pytest.approx(100 / 3)
    assert (corpus["n_sentences"], corpus["n_unparsed"]) == (3, 1)
    assert (corpus["n_gold"], corpus["n_predicted"], corpus["n_correct"]) == (9, 6, 4)
    assert "micro" in corpus["definition"]


def test_extra_words_lower_precision_only_and_missing_words_recall_only() -> None:
    tokens, tags = [["a", "b"]], [["NOUN", "VERB"]]
    _, exact = score_pos(tokens, tags, ['[["a", "NOUN"], ["b", "VERB"]]'])
    _, extra = score_pos(tokens, tags, ['[["a", "NOUN"], ["x", "ADJ"], ["b", "VERB"]]'])
    _, missing = score_pos(tokens, tags, ['[["a", "NOUN"]]'])
    assert (exact["precision"], exact["recall"], exact["f1"]) == (100.0, 100.0, 100.0)
    assert extra["precision"] == pytest.approx(200 / 3) and extra["recall"] == 100.0
    assert missing["precision"] == 100.0 and missing["recall"] == 50.0


def test_nothing_parseable_scores_zero() -> None:
    _, corpus = score_pos([["a"], ["b"]], [["X"], ["X"]], ["", "no tags here"])
    assert (corpus["precision"], corpus["recall"], corpus["f1"]) == (0.0, 0.0, 0.0)
    assert corpus["parse_failure_rate"] == 100.0


def test_parquet_shaped_input_numpy_arrays() -> None:
    tokens = [np.array(["Le", "chat"], dtype=object)]
    tags = [np.array(["DET", "NOUN"], dtype=object)]
    _, corpus = score_pos(
        tokens, tags, ['[{"word": "Le", "tag": "DET"}, {"word": "chat", "tag": "ADJ"}]']
    )
    assert corpus["precision"] == 50.0 and corpus["recall"] == 50.0


@pytest.mark.parametrize(
    ("tokens", "tags", "outputs"),
    [
        ([["a"]], [["X"], ["X"]], ["", ""]),
        ([["a", "b"]], [["X"]], [""]),
        ([["a"]], [["X"]], []),
    ],
)
def test_mismatched_lengths_are_errors(tokens: list, tags: list, outputs: list) -> None:
    with pytest.raises(ValueError):
        score_pos(tokens, tags, outputs)


def test_prior_tag_accuracy() -> None:
    gold = [["DET", "NOUN"], ["PRON"], ["NOUN", "VERB"], ["VERB"], ["ADP"]]
    priors = ["det", None, "VERB", " Verb", ""]
    result = prior_tag_accuracy(gold, priors)
    assert result["accuracy"] == pytest.approx(
        40.0
    )  # det -> DET and Verb -> VERB: 2 of 5
    assert (result["n_sentences"], result["n_correct"], result["n_missing"]) == (
        5,
        2,
        2,
    )


def test_prior_tag_accuracy_errors() -> None:
    with pytest.raises(ValueError):
        prior_tag_accuracy([["DET"]], [])
    with pytest.raises(ValueError):
        prior_tag_accuracy([[]], ["DET"])


def pos_scoring():
    import pandas as pd

    from prettyflow.metrics.scoring import Scoring

    data = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "tokens": [np.array(t, dtype=object) for t in GOLD_TOKENS],
            "tags": [np.array(t, dtype=object) for t in GOLD_TAGS],
            "lang": ["fr"] * 3,
        }
    )
    return Scoring(data=data, outputs=list(OUTPUTS), target_lang="fr")


@pytest.mark.parametrize("name", ["precision", "f1"])
def test_registry_scorers_are_the_corpus_scores(name) -> None:
    from prettyflow.metrics import METRICS

    expected_sentences, expected_corpus = score_pos(GOLD_TOKENS, GOLD_TAGS, OUTPUTS)
    metric = METRICS.get(name)
    assert metric.tasks == {"pos"}
    per_sentence, entry = metric.load()(pos_scoring(), {})
    assert per_sentence.columns[0] == name  # the metric's own column first
    assert set(per_sentence.columns) == set(PER_SENTENCE_COLUMNS)
    assert per_sentence[name].tolist() == expected_sentences[name].tolist()
    assert entry["score"] == pytest.approx(expected_corpus[name])
    assert entry["status"] == "ok" and entry["reason"] is None
    assert entry["settings"]["definition"] == expected_corpus["definition"]


def test_precision_and_f1_parse_the_outputs_once(monkeypatch) -> None:
    import prettyflow.metrics.pos as pos
    from prettyflow.metrics import METRICS
    from prettyflow.tasks import TASKS

    calls = []
    original = pos.score_pos
    monkeypatch.setattr(
        pos, "score_pos", lambda *args: calls.append(1) or original(*args)
    )
    scoring = pos_scoring()
    _, precision = METRICS.get("precision").load()(scoring, {})
    _, f1 = METRICS.get("f1").load()(scoring, {})
    # The POS task reports parse failures beside the scores, from the same parse.
    diagnostics = TASKS.get("pos").diagnostics(scoring)
    assert len(calls) == 1
    assert precision["score"] == pytest.approx(200 / 3)
    assert f1["score"] == pytest.approx(160 / 3)
    assert diagnostics == {"parse_failure_rate": pytest.approx(100 / 3), "unparsed": 1}


@pytest.mark.parametrize("name", ["precision", "f1"])
def test_resampled_scores_equal_score_pos_on_the_resampled_sentences(name) -> None:
    from prettyflow.metrics import METRICS

    per_sentence, corpus = score_pos(GOLD_TOKENS, GOLD_TAGS, OUTPUTS)
    # Row 0 draws every sentence once; row 3 only the unparseable one (0 predicted).
    counts = np.array([[1, 1, 1], [2, 0, 1], [0, 1, 2], [0, 3, 0], [3, 0, 0]])
    resampled = METRICS.get(name).load_resample()(per_sentence, counts)
    assert resampled[0] == corpus[name]
    for row, draws in enumerate(counts):
        picked = [i for i, times in enumerate(draws) for _ in range(times)]
        _, expected = score_pos(
            [GOLD_TOKENS[i] for i in picked],
            [GOLD_TAGS[i] for i in picked],
            [OUTPUTS[i] for i in picked],
        )
        assert resampled[row] == expected[name]
    assert resampled[3] == 0.0  # 0/0 is 0, as in the corpus score
