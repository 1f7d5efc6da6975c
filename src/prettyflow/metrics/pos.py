"""POS-tagging metrics (paper Tables 3 and 4).

The section below is written to be pasted into the documentation as is.

## POS tagging: precision, recall, F1

The model answers each sentence with a list of (word, tag) pairs (prompt of
appendix C.2). `prettyflow.pos.output.parse_tagging_output` reads the pairs
leniently, normalises the tags (case, UD v1 `CONJ` -> `CCONJ`, full names such
as `adjective` -> `ADJ`) and aligns the predicted words to the gold words of the
sentence: a monotonic one-to-one alignment that matches as many words as
possible (longest common subsequence over NFC-normalised, case-folded words).

For one sentence with gold words G (|G| words) and predicted pairs P (|P| pairs):

- **correct**: gold words whose aligned predicted tag equals the gold UPOS tag;
- **predicted**: |P|, every pair the answer contains, aligned or not. Extra
  predicted words (not aligned to any gold word) are wrong predictions: they
  lower precision;
- **gold**: |G|. Gold words without an aligned prediction are missing: they
  lower recall.

Corpus scores are micro-averaged over all sentences, in percent:

- precision = 100 × Σ correct / Σ predicted
- recall = 100 × Σ correct / Σ gold
- F1 = 2 × precision × recall / (precision + recall)

A ratio whose denominator is 0 is 0 (so is F1 when precision + recall = 0).
An answer from which no pair can be read counts as 0 predicted pairs: it adds
its words to Σ gold only, so it lowers recall (and F1) but not precision. The
parse-failure rate, 100 × unparsed sentences / sentences, is reported beside
the scores so that the two effects can be told apart. Per-sentence scores use
the same formulas on one sentence.

Confidence intervals resample sentences and apply the corpus formulas to the
summed counts of the resample (`resample_precision`, `resample_f1`).

## Prior-token accuracy (Table 4)

With k = 1, the prior for a sentence is the first tag of a tagging. Its
accuracy is 100 × (sentences whose prior tag, normalised as above, equals the
gold tag of the sentence's first word) / sentences. A missing prior (None or a
tag that cannot be read) counts as wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from prettyflow.errors import InputError
from prettyflow.pos.output import normalize_tag, parse_tagging_output

POS_METRIC_DEFINITION = (
    "micro-averaged over sentences; correct = gold words whose aligned predicted tag equals the gold tag "
    "(monotonic longest-common-subsequence word alignment, NFC + case-folded); "
    "precision = correct / predicted pairs (aligned + extra); recall = correct / gold words; "
    "F1 = harmonic mean; unparseable answers contribute 0 predicted pairs; 0/0 = 0; percent"
)

PER_SENTENCE_COLUMNS = (
    "sentence",
    "n_gold",
    "n_predicted",
    "n_aligned",
    "n_correct",
    "precision",
    "recall",
    "f1",
    "parse_ok",
    "truncated",
    "error",
)


def _ratio(numerator: float, denominator: float) -> float:
    return 100.0 * numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _check_gold(
    gold_tokens: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]]
) -> None:
    if len(gold_tokens) != len(gold_tags):
        raise ValueError(
            f"gold_tokens has {len(gold_tokens)} sentences but gold_tags has {len(gold_tags)}"
        )
    for index, (tokens, tags) in enumerate(zip(gold_tokens, gold_tags)):
        if len(tokens) != len(tags):
            raise ValueError(
                f"sentence {index}: {len(tokens)} gold tokens but {len(tags)} gold tags"
            )


def score_pos(
    gold_tokens: Sequence[Sequence[str]],
    gold_tags: Sequence[Sequence[str]],
    outputs: Sequence[str],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Precision, recall and F1 of tagging answers against gold UPOS tags (module doc).

    ``outputs[i]`` is the model's answer for the sentence ``gold_tokens[i]``.
    Returns the per-sentence table (columns :data:`PER_SENTENCE_COLUMNS`, in
    input order, ``sentence`` = 0-based position) and the corpus dict with
    ``precision``, ``recall``, ``f1``, ``parse_failure_rate`` (all percent),
    ``n_sentences``, ``n_unparsed``, ``n_gold``, ``n_predicted``, ``n_correct``
    and ``definition``.
    """
    _check_gold(gold_tokens, gold_tags)
    if len(outputs) != len(gold_tokens):
        raise ValueError(
            f"{len(outputs)} outputs for {len(gold_tokens)} gold sentences"
        )

    rows = []
    for index, (tokens, tags, output) in enumerate(
        zip(gold_tokens, gold_tags, outputs)
    ):
        parsed = parse_tagging_output(output, list(tokens))
        n_gold = len(tokens)
        n_predicted = len(parsed.pairs)
        n_aligned = sum(tag is not None for tag in parsed.aligned_tags)
        n_correct = sum(
            predicted is not None and predicted == gold
            for predicted, gold in zip(parsed.aligned_tags, tags)
        )
        precision, recall = _ratio(n_correct, n_predicted), _ratio(n_correct, n_gold)
        rows.append(
            {
                "sentence": index,
                "n_gold": n_gold,
                "n_predicted": n_predicted,
                "n_aligned": n_aligned,
                "n_correct": n_correct,
                "precision": precision,
                "recall": recall,
                "f1": _f1(precision, recall),
                "parse_ok": parsed.parse_ok,
                "truncated": parsed.truncated,
                "error": parsed.error,
            }
        )
    per_sentence = pd.DataFrame(rows, columns=list(PER_SENTENCE_COLUMNS))

    total_gold = int(sum(row["n_gold"] for row in rows))
    total_predicted = int(sum(row["n_predicted"] for row in rows))
    total_correct = int(sum(row["n_correct"] for row in rows))
    n_unparsed = int(sum(not row["parse_ok"] for row in rows))
    precision, recall = (
        _ratio(total_correct, total_predicted),
        _ratio(total_correct, total_gold),
    )
    corpus = {
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
        "parse_failure_rate": _ratio(n_unparsed, len(rows)),
        "n_sentences": len(rows),
        "n_unparsed": n_unparsed,
        "n_gold": total_gold,
        "n_predicted": total_predicted,
        "n_correct": total_correct,
        "definition": POS_METRIC_DEFINITION,
    }
    return per_sentence, corpus


def prior_tag_accuracy(
    gold_tags: Sequence[Sequence[str]], prior_tags: Sequence[str | None]
) -> dict[str, Any]:
    """Table 4: accuracy (percent) of each sentence's prior tag against its first gold tag.

    Prior tags go through :func:`prettyflow.pos.output.normalize_tag`; None or
    an empty tag counts as wrong. Returns ``accuracy``, ``n_sentences``,
    ``n_correct``, ``n_missing`` (prior None or empty) and ``definition``.
    """
    if len(gold_tags) != len(prior_tags):
        raise ValueError(
            f"{len(prior_tags)} prior tags for {len(gold_tags)} gold sentences"
        )
    n_correct = n_missing = 0
    for index, (tags, prior) in enumerate(zip(gold_tags, prior_tags)):
        if len(tags) == 0:
            raise ValueError(f"sentence {index} has no gold tags")
        normalized = normalize_tag(prior)
        if not normalized:
            n_missing += 1
        elif normalized == tags[0]:
            n_correct += 1
    return {
        "accuracy": _ratio(n_correct, len(gold_tags)),
        "n_sentences": len(gold_tags),
        "n_correct": n_correct,
        "n_missing": n_missing,
        "definition": "prior tag (normalised) == gold tag of the first word; missing prior = wrong; percent",
    }


# --------------------------------------------------------------- registry scorers
def pos_scores(scoring: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`score_pos` of a decode, computed once per scoring."""
    return scoring.cached(
        "pos",
        lambda: score_pos(
            [list(tokens) for tokens in scoring.data["tokens"]],
            [list(tags) for tags in scoring.data["tags"]],
            scoring.outputs,
        ),
    )


def _pos_metric(name: str, scoring: Any):
    per_sentence, corpus = pos_scores(scoring)
    columns = [name] + [c for c in per_sentence.columns if c != name]
    entry = {
        "score": corpus[name],
        "status": "ok",
        "reason": None,
        "signature": None,
        "settings": {"definition": corpus["definition"]},
    }
    return per_sentence[columns], entry


def precision(scoring: Any, settings: Any = None):
    return _pos_metric("precision", scoring)


def f1(scoring: Any, settings: Any = None):
    return _pos_metric("f1", scoring)


# ------------------------------------------------------------ resampling hooks
def _summed_counts(
    per_sample: pd.DataFrame, counts: np.ndarray, column: str
) -> np.ndarray:
    """Each resample's sum of a per-sentence count (``counts[r, i]``: draws of i)."""
    if column not in per_sample.columns:
        raise InputError(f"no column {column!r} in the per-sample scores", field=column)
    values = per_sample[column].to_numpy(dtype=float)
    if np.isnan(values).any():
        raise InputError(f"missing values in column {column!r}", field=column)
    return np.asarray(counts, dtype=float) @ values


def _micro_ratio(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """100 x numerator / denominator, 0 where the denominator is 0 (as :func:`_ratio`)."""
    safe = np.where(denominators > 0, denominators, 1.0)
    return np.where(denominators > 0, 100.0 * numerators / safe, 0.0)


def _micro_f1(precisions: np.ndarray, recalls: np.ndarray) -> np.ndarray:
    """Harmonic mean, 0 where precision + recall is 0 (as :func:`_f1`)."""
    sums = precisions + recalls
    safe = np.where(sums > 0, sums, 1.0)
    return np.where(sums > 0, 2 * precisions * recalls / safe, 0.0)


def resample_precision(per_sample: pd.DataFrame, counts: np.ndarray) -> np.ndarray:
    """Corpus precision of each resample, from its summed per-sentence counts."""
    return _micro_ratio(
        _summed_counts(per_sample, counts, "n_correct"),
        _summed_counts(per_sample, counts, "n_predicted"),
    )


def resample_f1(per_sample: pd.DataFrame, counts: np.ndarray) -> np.ndarray:
    """Corpus F1 of each resample, from its summed per-sentence counts."""
    correct = _summed_counts(per_sample, counts, "n_correct")
    return _micro_f1(
        _micro_ratio(correct, _summed_counts(per_sample, counts, "n_predicted")),
        _micro_ratio(correct, _summed_counts(per_sample, counts, "n_gold")),
    )
