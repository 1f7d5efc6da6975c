"""The metric registry: a metric name in config.yaml -> how to compute and show it.

Entries are light (a label, the tasks a metric applies to, the dotted name of its
scorer), so that the plan can check the config without importing sacrebleu or
torch. A scorer is ``scorer(scoring, settings) -> (per_sample, entry)``:
``scoring`` is a :class:`prettyflow.metrics.scoring.Scoring` (data, outputs,
shared intermediate results), ``settings`` the metric's ``metrics.<name>`` config;
``per_sample`` has one row per sample (its first column named after the metric)
and ``entry`` is ``{"score", "signature", "status", "reason", ...}``.

For confidence intervals (:mod:`prettyflow.bootstrap`) a metric's corpus score is
recomputed on resamples of its saved per-sample table, never by scoring again:
``resample(per_sample, counts) -> scores``, where ``counts[r, i]`` is how often
resample ``r`` draws sample ``i`` and ``scores[r]`` is the corpus score of
resample ``r``. A metric without a ``resample`` function has the mean of its
per-sample column (the column named after the metric) as its corpus score.

A metric where lower is better (the wrong-language rate) never feeds %SFT: the
tables show it as a column group of its own, after %SFT (:mod:`prettyflow.tables`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from prettyflow.registry import Registry


@dataclass(frozen=True)
class Metric:
    label: str  # the table's column header
    tasks: frozenset[str]
    scorer: str  # "module:function"
    # A metric whose library cannot live in the main environment is computed by a
    # rule of its own in that environment (see rules/score.smk); the score step
    # then reads its per-sample file.
    environment: str | None = None
    # "module:function" computing corpus scores of resamples (see the module doc);
    # None: the corpus score is the mean of the per-sample column.
    resample: str | None = None
    # Lower scores are better (a rate of failures): shown apart from the quality
    # metrics, never in %SFT, and "best SFT" is the lowest.
    lower_is_better: bool = False
    # The range every score lies in (a rate: 0-100), for the figures' y-axes.
    value_range: tuple[float, float] | None = None

    def load(self) -> Callable:
        return _load(self.scorer)

    def load_resample(self) -> Callable | None:
        return None if self.resample is None else _load(self.resample)


def _load(dotted: str) -> Callable:
    module, function = dotted.split(":")
    return getattr(importlib.import_module(module), function)


METRICS: Registry[Metric] = Registry("metric")
_TRANSLATION = frozenset({"translation"})
_TRANSLATION_MODULE = "prettyflow.metrics.translation"
METRICS.register(
    "spbleu",
    Metric(
        "spBLEU",
        _TRANSLATION,
        f"{_TRANSLATION_MODULE}:spbleu",
        resample=f"{_TRANSLATION_MODULE}:resample_spbleu",
    ),
)
METRICS.register(
    "bleu",
    Metric(
        "BLEU",
        _TRANSLATION,
        f"{_TRANSLATION_MODULE}:bleu",
        resample=f"{_TRANSLATION_MODULE}:resample_bleu",
    ),
)
METRICS.register(
    "chrf++",
    Metric(
        "chrF++",
        _TRANSLATION,
        f"{_TRANSLATION_MODULE}:chrf_plus_plus",
        resample=f"{_TRANSLATION_MODULE}:resample_chrf_plus_plus",
    ),
)
METRICS.register(
    "comet",
    Metric("COMET", _TRANSLATION, "prettyflow.metrics.comet:from_file", "comet"),
)
_SUMMARIZATION = frozenset({"summarization"})
METRICS.register(
    "rouge2", Metric("R2", _SUMMARIZATION, "prettyflow.metrics.summarization:rouge2")
)
METRICS.register(
    "rougeL", Metric("RL", _SUMMARIZATION, "prettyflow.metrics.summarization:rouge_l")
)
METRICS.register(
    "lase", Metric("LaSE", _SUMMARIZATION, "prettyflow.metrics.summarization:lase")
)
METRICS.register(
    "wrong_language",
    Metric(
        "Wrong lang. %",
        _TRANSLATION | _SUMMARIZATION,
        "prettyflow.metrics.language:wrong_language",
        resample="prettyflow.metrics.language:resample_wrong_language",
        lower_is_better=True,
        value_range=(0.0, 100.0),
    ),
)
_POS = frozenset({"pos"})
METRICS.register(
    "precision",
    Metric(
        "Prec.",
        _POS,
        "prettyflow.metrics.pos:precision",
        resample="prettyflow.metrics.pos:resample_precision",
    ),
)
METRICS.register(
    "f1",
    Metric(
        "F1",
        _POS,
        "prettyflow.metrics.pos:f1",
        resample="prettyflow.metrics.pos:resample_f1",
    ),
)
