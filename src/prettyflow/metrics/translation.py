"""Translation metrics: BLEU, chrF++ and spBLEU through sacrebleu.

Settings (all sacrebleu defaults unless stated):

- ``bleu``: ``BLEU(tokenize="zh")`` when the target language is Chinese, else
  ``tokenize="13a"`` (sacrebleu's default). Japanese and Korean also keep ``13a``:
  their sacrebleu tokenizers need MeCab, which the workflow does not install, and
  the paper's headline metric is spBLEU anyway.
- ``chrf++``: ``CHRF(word_order=2)``.
- ``spbleu``: ``BLEU(tokenize="flores101")``, the Flores-101 SentencePiece
  tokenization used by the paper (Goyal et al., 2022). sacrebleu loads that model
  from ``<SACREBLEU_DIR>/models/sacrebleu_tokenizer_spm.model`` and downloads it
  when absent, which fails offline and leaves ``.lock`` files behind. So spBLEU is
  computed only from a model file the user provides (``spm_model``): it is copied
  to ``<sacrebleu_dir>/models/`` (a temporary directory when ``sacrebleu_dir`` is
  None), sacrebleu is pointed at that directory while the tokenizer is built, and
  downloading is refused. The loaded model is checked byte for byte against the
  given file, and the file's SHA-256 is appended to the signature, so a score can
  never silently come from another SentencePiece model.

Corpus scores are the metric objects' ``corpus_score``, computed in its two steps
(each sentence's sufficient statistics, then the score of their sum) so that the
statistics can be kept: the registry scorers return them per sample in a column
``<metric>:stats`` (a list of integers per row, None when the metric was not
computed), from which :mod:`prettyflow.bootstrap` recomputes corpus scores of
resampled test sets (:func:`resample_bleu`, :func:`resample_spbleu`,
:func:`resample_chrf_plus_plus`) without tokenising again. Per-sample scores are
the metric objects' ``sentence_score``. Sentence-level BLEU/spBLEU use
``effective_order=True`` (the sacrebleu recommendation for single sentences; it
does not change corpus scores).

The workflow reaches these metrics through the registry in :mod:`prettyflow.metrics`
(:func:`bleu`, :func:`chrf_plus_plus`, :func:`spbleu`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.tokenizers import tokenizer_spm

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.io import atomic_path

# The file name sacrebleu looks for, derived exactly as sacrebleu derives it.
FLORES101_SPM_FILENAME = os.path.basename(tokenizer_spm.SPM_MODELS["flores101"]["url"])
FLORES101_SPM_URL = tokenizer_spm.SPM_MODELS["flores101"]["url"]
SPM_MODEL_FIELD = "metrics.spbleu.spm_model"
SPBLEU_NOT_PROVIDED = (
    f"Flores-101 SentencePiece model not provided (set {SPM_MODEL_FIELD})"
)

DEFAULT_METRICS = ("bleu", "chrf++", "spbleu")


@dataclass(frozen=True)
class TranslationContext:
    """What a metric may need besides hypotheses and references."""

    target_lang: str
    spm_model: Path | None = None
    sacrebleu_dir: Path | None = None


@dataclass(frozen=True)
class MetricResult:
    """One metric's output; ``score is None`` means not computed, for ``reason``."""

    sentence_scores: list[float] | None
    score: float | None
    signature: str | None
    reason: str | None = None
    # Each sentence's sufficient statistics of the corpus metric (sacrebleu's).
    sentence_statistics: list[list[int]] | None = None

    def corpus_entry(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "signature": self.signature,
            "status": "ok" if self.score is not None else "not computed",
            "reason": self.reason,
        }


MetricFunction = Callable[[list[str], list[str], TranslationContext], MetricResult]


def base_language(code: str) -> str:
    """``"zh-Hans"`` / ``"zh_CN"`` -> ``"zh"``."""
    return code.replace("_", "-").split("-")[0].lower()


def _bleu_tokenizer(target_lang: str) -> str:
    return "zh" if base_language(target_lang) == "zh" else "13a"


def _corpus_bleu(tokenize: str) -> BLEU:
    """The corpus metric of BLEU and spBLEU (sacrebleu's defaults: exp smoothing,
    no effective order); resampling builds it again, so both share these settings."""
    return BLEU(tokenize=tokenize)


def _corpus_chrf_plus_plus() -> CHRF:
    return CHRF(word_order=2)


def statistics_column(metric: str) -> str:
    """The per-sample column holding each sentence's sufficient statistics."""
    return f"{metric}:stats"


def _score_with(
    corpus_metric: Any,
    sentence_metric: Any,
    hypotheses: list[str],
    references: list[str],
    signature_suffix: str = "",
) -> MetricResult:
    # What corpus_score does, in its two steps, to keep the statistics.
    statistics = corpus_metric._extract_corpus_statistics(hypotheses, [references])
    corpus = corpus_metric._aggregate_and_compute(statistics)
    sentence_scores = [
        float(sentence_metric.sentence_score(hypothesis, [reference]).score)
        for hypothesis, reference in zip(hypotheses, references)
    ]
    return MetricResult(
        sentence_scores=sentence_scores,
        score=float(corpus.score),
        signature=str(corpus_metric.get_signature()) + signature_suffix,
        sentence_statistics=[[int(value) for value in row] for row in statistics],
    )


def _bleu(
    hypotheses: list[str], references: list[str], context: TranslationContext
) -> MetricResult:
    tokenize = _bleu_tokenizer(context.target_lang)
    return _score_with(
        _corpus_bleu(tokenize),
        BLEU(tokenize=tokenize, effective_order=True),
        hypotheses,
        references,
    )


def _chrf_plus_plus(
    hypotheses: list[str], references: list[str], context: TranslationContext
) -> MetricResult:
    metric = _corpus_chrf_plus_plus()
    return _score_with(metric, metric, hypotheses, references)


def _spbleu(
    hypotheses: list[str], references: list[str], context: TranslationContext
) -> MetricResult:
    if context.spm_model is None:
        return MetricResult(None, None, None, reason=SPBLEU_NOT_PROVIDED)
    model_bytes, model_proto = _read_spm_model(context.spm_model)
    with _sacrebleu_uses_flores101_model(model_bytes, context.sacrebleu_dir):
        corpus_metric = _corpus_bleu("flores101")
        sentence_metric = BLEU(tokenize="flores101", effective_order=True)
    for metric in (corpus_metric, sentence_metric):
        # sacrebleu must have loaded exactly the given model, nothing else.
        if metric.tokenizer.sp.serialized_model_proto() != model_proto:
            raise RuntimeError(
                "sacrebleu loaded a different SentencePiece model than "
                f"{context.spm_model}; refusing to report spBLEU"
            )
    digest = hashlib.sha256(model_bytes).hexdigest()[:16]
    return _score_with(
        corpus_metric,
        sentence_metric,
        hypotheses,
        references,
        signature_suffix=f"|spm_sha256:{digest}",
    )


_SCORERS: dict[str, MetricFunction] = {
    "bleu": _bleu,
    "chrf++": _chrf_plus_plus,
    "spbleu": _spbleu,
}


def _read_spm_model(spm_model: Path) -> tuple[bytes, bytes]:
    """The model file's bytes and its parsed proto, after checking that it loads."""
    import sentencepiece

    path = Path(spm_model)
    if not path.is_file():
        found = "is a folder, not the model file" if path.is_dir() else "not found"
        raise MissingResourceError(
            f"{SPM_MODEL_FIELD}: Flores-101 SentencePiece model {found} at {path}. "
            f"Download {FLORES101_SPM_URL} on a machine with internet access and set "
            f"{SPM_MODEL_FIELD} to its path (or leave {SPM_MODEL_FIELD} unset to skip "
            "spBLEU)."
        )
    model_bytes = path.read_bytes()
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(model_bytes)
    except RuntimeError as error:
        raise InputError(
            f"not a valid SentencePiece model ({error}); expected the Flores-101 "
            f"model {FLORES101_SPM_URL}",
            path=path,
            field=SPM_MODEL_FIELD,
        ) from error
    return model_bytes, processor.serialized_model_proto()


# sacrebleu reads its directory from a module constant: patching it is process-wide.
_SACREBLEU_PATCH_LOCK = threading.Lock()


def _refuse_download(url: str, dest_path: str, *args: Any, **kwargs: Any) -> None:
    raise MissingResourceError(
        f"sacrebleu tried to download {url} to {dest_path}; downloads are disabled. "
        f"Set {SPM_MODEL_FIELD} to a local copy of the model."
    )


@contextlib.contextmanager
def _sacrebleu_uses_flores101_model(
    model_bytes: bytes, sacrebleu_dir: str | Path | None
) -> Iterator[None]:
    """Place the model where sacrebleu looks and point sacrebleu there, no downloads."""
    with contextlib.ExitStack() as stack:
        if sacrebleu_dir is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            directory = Path(sacrebleu_dir)
        target = directory / "models" / FLORES101_SPM_FILENAME
        if not target.is_file() or target.read_bytes() != model_bytes:
            with atomic_path(target) as tmp:
                tmp.write_bytes(model_bytes)
        with _SACREBLEU_PATCH_LOCK:
            saved = (tokenizer_spm.SACREBLEU_DIR, tokenizer_spm.download_file)
            tokenizer_spm.SACREBLEU_DIR = str(directory)
            tokenizer_spm.download_file = _refuse_download
            try:
                yield
            finally:
                tokenizer_spm.SACREBLEU_DIR, tokenizer_spm.download_file = saved


def _check_texts(texts: Sequence[Any], field: str) -> list[str]:
    checked = list(texts)
    for line, text in enumerate(checked, start=1):
        if not isinstance(text, str):
            raise InputError(
                f"expected a string, got {type(text).__name__} ({text!r})",
                line=line,
                field=field,
            )
    return checked


def _check_metric_names(metrics: Sequence[str]) -> list[str]:
    names = list(metrics)
    if not names:
        raise InputError(
            f"no metric requested; known metrics: {', '.join(_SCORERS)}",
            field="metrics",
        )
    for name in names:
        if name not in _SCORERS:
            raise InputError(
                f"unknown metric {name!r}; known metrics: {', '.join(_SCORERS)}",
                field="metrics",
            )
    if len(set(names)) != len(names):
        raise InputError(f"metric listed twice in {names}", field="metrics")
    return names


def score_translation(
    hypotheses: Sequence[str],
    references: Sequence[str],
    target_lang: str,
    metrics: Sequence[str] = DEFAULT_METRICS,
    spm_model: str | Path | None = None,
    sacrebleu_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Score translations against single references.

    Returns ``(per_sample, corpus)``: ``per_sample`` has one row per hypothesis (input
    order) and one column per metric (NaN for a metric not computed); ``corpus`` maps
    each metric to ``{"score", "signature", "status", "reason"}`` with ``status``
    ``"ok"`` or ``"not computed"`` (then ``score`` and ``signature`` are None and
    ``reason`` says why). Scores are on sacrebleu's 0-100 scale.
    """
    names = _check_metric_names(metrics)
    if not isinstance(target_lang, str) or not target_lang.strip():
        raise InputError(
            f"expected a language code, got {target_lang!r}", field="target_lang"
        )
    hypothesis_list = _check_texts(hypotheses, "hypothesis")
    reference_list = _check_texts(references, "reference")
    if not hypothesis_list:
        raise InputError("no hypotheses to score", field="hypothesis")
    if len(hypothesis_list) != len(reference_list):
        raise InputError(
            f"{len(hypothesis_list)} hypotheses but {len(reference_list)} references",
            field="reference",
        )
    context = TranslationContext(
        target_lang=target_lang,
        spm_model=None if spm_model is None else Path(spm_model),
        sacrebleu_dir=None if sacrebleu_dir is None else Path(sacrebleu_dir),
    )
    per_sample: dict[str, list[float]] = {}
    corpus: dict[str, dict[str, Any]] = {}
    for name in names:
        result = _SCORERS[name](hypothesis_list, reference_list, context)
        per_sample[name] = (
            result.sentence_scores
            if result.sentence_scores is not None
            else [math.nan] * len(hypothesis_list)
        )
        corpus[name] = result.corpus_entry()
    return pd.DataFrame(per_sample, columns=names), corpus


# --------------------------------------------------------------- registry scorers
def _registry_scorer(name: str, scoring: Any, settings: Any):
    spm_model = (settings or {}).get("spm_model")
    context = TranslationContext(
        target_lang=scoring.target_lang,
        spm_model=None if spm_model is None else Path(spm_model),
        sacrebleu_dir=None
        if scoring.sacrebleu_dir is None
        else Path(scoring.sacrebleu_dir),
    )
    hypotheses = _check_texts(scoring.outputs, "hypothesis")
    result = _SCORERS[name](
        hypotheses, _check_texts(scoring.references, "reference"), context
    )
    scores = (
        result.sentence_scores
        if result.sentence_scores is not None
        else [math.nan] * len(hypotheses)
    )
    statistics = result.sentence_statistics or [None] * len(hypotheses)
    per_sample = pd.DataFrame({name: scores, statistics_column(name): statistics})
    return per_sample, result.corpus_entry()


def bleu(scoring: Any, settings: Any = None):
    return _registry_scorer("bleu", scoring, settings)


def chrf_plus_plus(scoring: Any, settings: Any = None):
    return _registry_scorer("chrf++", scoring, settings)


def spbleu(scoring: Any, settings: Any = None):
    return _registry_scorer("spbleu", scoring, settings)


# ------------------------------------------------------------ resampling hooks
def _statistics_matrix(per_sample: pd.DataFrame, metric: str) -> np.ndarray:
    """The ``<metric>:stats`` column as a (samples x statistics) integer matrix."""
    column = statistics_column(metric)
    if column not in per_sample.columns:
        raise InputError(
            f"no column {column!r} in the per-sample scores; score the outputs again "
            "to save the sufficient statistics",
            field=column,
        )
    rows = list(per_sample[column])
    missing = [
        index
        for index, row in enumerate(rows)
        if row is None or (isinstance(row, float) and math.isnan(row))
    ]
    if missing:
        raise InputError(
            f"{len(missing)} of {len(rows)} rows have no statistics "
            f"(first: row {missing[0]}); was {metric} computed?",
            field=column,
        )
    return np.array([np.asarray(row, dtype=np.int64) for row in rows])


def _resampled_scores(
    metric: Any, name: str, per_sample: pd.DataFrame, counts: np.ndarray
) -> np.ndarray:
    sums = np.asarray(counts) @ _statistics_matrix(per_sample, name)
    # Sums of counts are integers; as Python ints they take the same arithmetic
    # path as the corpus score itself.
    totals = np.rint(sums).astype(np.int64)
    return np.array(
        [metric._compute_score_from_stats(row.tolist()).score for row in totals],
        dtype=float,
    )


def resample_bleu(per_sample: pd.DataFrame, counts: np.ndarray) -> np.ndarray:
    """Corpus BLEU of each resample (``counts[r, i]``: draws of sentence i).

    The tokenizer plays no part in a score computed from statistics, so the
    metric is built with ``tokenize="none"``; smoothing and effective order are
    those of the corpus metric.
    """
    return _resampled_scores(_corpus_bleu("none"), "bleu", per_sample, counts)


def resample_spbleu(per_sample: pd.DataFrame, counts: np.ndarray) -> np.ndarray:
    """Corpus spBLEU of each resample, as :func:`resample_bleu` (no model needed)."""
    return _resampled_scores(_corpus_bleu("none"), "spbleu", per_sample, counts)


def resample_chrf_plus_plus(per_sample: pd.DataFrame, counts: np.ndarray) -> np.ndarray:
    """Corpus chrF++ of each resample (``counts[r, i]``: draws of sentence i)."""
    return _resampled_scores(_corpus_chrf_plus_plus(), "chrf++", per_sample, counts)
