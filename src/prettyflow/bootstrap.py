"""Paired-bootstrap confidence intervals and p-values for the result tables.

Computed from the per-sample scores the score step saved, never by decoding or
scoring again:

- **Resamples.** For every subset, the test sentences are drawn with replacement
  ``resamples`` times (default 1000): ``numpy.random.default_rng(seed)
  .choice(n, size=(resamples, n), replace=True)``, exactly the call of
  sacrebleu's paired bootstrap (``sacrebleu.significance._paired_bs_test``,
  default seed 12345), so a cell's resamples are sacrebleu's. Each subset gets its
  own generator seeded with the same ``seed``: every subset's resamples are what
  sacrebleu would draw for it alone (subsets of equal size therefore share their
  index matrix; for parallel test sets such as Flores this resamples the same
  source sentences in every language). Within a subset, every system uses the
  same resamples: the test is paired.
- **Corpus scores of a resample** come from each metric's ``resample`` function in
  the registry (:mod:`prettyflow.metrics`): BLEU, spBLEU and chrF++ from summed
  sufficient statistics (sacrebleu's ``_compute_score_from_stats``), POS precision
  and F1 from summed counts, the other metrics (ROUGE, LaSE, COMET, whose corpus
  score is the mean of the per-sample scores) as the resample's mean.
- **The table of a resample** is :func:`prettyflow.tables.build_table` on the
  resampled scores, so averages, %SFT, left-out cells and near-zero flags follow
  exactly the table's definition (its blocks, the metrics that feed %SFT, the
  formula, the reference; flags and the best SFT model of a cell are decided again
  on each resample).
- **Intervals** are percentile intervals: with ``R`` resamples and confidence
  ``c``, the bounds are the ``k``-th smallest and ``k``-th largest resampled
  values (0-based), ``k = floor(R (1 - c) / 2)``; for 95% this is ``R // 40``,
  the order statistics of sacrebleu's ``estimate_ci``. A value undefined on some
  resample (a %SFT whose reference scores 0 there) gets no interval, and a note
  says so.
- **p-values** against the table's reference, as sacrebleu's paired bootstrap
  (``_paired_bs_test`` and ``_compute_p_value``): with the observed difference
  ``d = |system - reference|`` and the resampled differences
  ``D_r = |system_r - reference_r|``, ``p = (#{r: D_r - mean(D) > d} + 1) / (R + 1)``.
  The reference of a column is :attr:`prettyflow.tables.Table.reference_values`:
  the SFT reference's value, or with ``reference="best_sft"`` the best SFT score of
  the cell (of each resample), for an ``Avg.`` column the mean of those cells.
  Given for every non-SFT system in every cell and ``Avg.`` column, not for %SFT.
  One departure: a system equal to the reference on every resample (both at a
  wrong-language rate of 0%) gets p = 1, where sacrebleu's formula gives 1/(R+1).

Missing scores (``n/a``) stay missing in every resample.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from prettyflow.errors import InputError
from prettyflow.metrics import METRICS
from prettyflow.metrics.scoring import resampled_mean
from prettyflow.tables import Intervals, Table, build_table, has_p_value, header_text

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 12345  # sacrebleu's default SACREBLEU_SEED
DEFAULT_CONFIDENCE = 0.95
# Each subset draws a (resamples x samples) index matrix: 100000 x 1012 Flores
# sentences is 0.8 GB; more would fail with out-of-memory at the end of a run.
MAX_RESAMPLES = 100_000

# A score recomputed from the saved per-sample table must equal the saved corpus
# score (up to summation order); otherwise the files do not belong together.
_POINT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    confidence: float = DEFAULT_CONFIDENCE

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> BootstrapSettings:
        """Checked settings from ``{"resamples", "seed", "confidence"}`` (each optional)."""
        unknown = set(settings) - {"resamples", "seed", "confidence"}
        if unknown:
            raise InputError(
                f"unknown bootstrap settings {sorted(unknown)}; expected resamples, "
                "seed, confidence",
                field="bootstrap",
            )
        resamples = settings.get("resamples", DEFAULT_RESAMPLES)
        seed = settings.get("seed", DEFAULT_SEED)
        confidence = settings.get("confidence", DEFAULT_CONFIDENCE)
        if (
            isinstance(resamples, bool)
            or not isinstance(resamples, int)
            or not 1 <= resamples <= MAX_RESAMPLES
        ):
            raise InputError(
                f"expected an integer from 1 to {MAX_RESAMPLES}, got {resamples!r}",
                field="bootstrap.resamples",
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(
                f"expected an integer >= 0, got {seed!r}", field="bootstrap.seed"
            )
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, int | float)
            or not 0 < confidence < 1
        ):
            raise InputError(
                f"expected a number between 0 and 1, got {confidence!r}",
                field="bootstrap.confidence",
            )
        return cls(resamples, seed, float(confidence))


def _settings(
    bootstrap: Mapping[str, Any] | BootstrapSettings | None,
) -> BootstrapSettings:
    if isinstance(bootstrap, BootstrapSettings):
        return bootstrap
    return BootstrapSettings.from_mapping(bootstrap or {})


def resample_indices(
    n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """A (resamples x n) matrix of sample indices, drawn as sacrebleu's paired bootstrap.

    Same generator and call as ``sacrebleu.significance._paired_bs_test``, so the
    rows equal sacrebleu's resamples for the same seed.
    """
    rng = np.random.default_rng(seed)
    return rng.choice(n, size=(resamples, n), replace=True)


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """``counts[r, i]``: how often resample ``r`` draws sample ``i``.

    Summing per-sample statistics over a resample's indices is ``counts @ stats``,
    one matrix product for all resamples.
    """
    resamples = indices.shape[0]
    offsets = np.arange(resamples)[:, None] * n
    return np.bincount((indices + offsets).ravel(), minlength=resamples * n).reshape(
        resamples, n
    )


def resampled_scores(
    metric: str, per_sample: pd.DataFrame, counts: np.ndarray
) -> np.ndarray:
    """Corpus scores of ``metric`` on each resample, through the metric registry."""
    resample = METRICS.get(metric).load_resample()
    if resample is None:
        return resampled_mean(per_sample, metric, counts)
    return np.asarray(resample(per_sample, counts), dtype=float)


def percentile_interval(
    values: np.ndarray, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """The percentile interval of resampled values (module doc; sacrebleu's for 95%)."""
    ordered = np.sort(np.asarray(values, dtype=float))
    # The small epsilon keeps e.g. 1000 * 0.05 / 2 = 25.000000000000004 at 25.
    k = math.floor(len(ordered) * (1.0 - confidence) / 2.0 + 1e-9)
    return float(ordered[k]), float(ordered[len(ordered) - 1 - k])


def paired_p_value(
    system: float,
    reference: float,
    system_resampled: np.ndarray,
    reference_resampled: np.ndarray,
) -> float:
    """sacrebleu's paired-bootstrap p-value of a system against the reference.

    As ``sacrebleu.significance._paired_bs_test``: the resampled absolute
    differences, centred on their mean, exceed the observed absolute difference
    in ``c`` of ``R`` resamples; ``p = (c + 1) / (R + 1)`` (``_compute_p_value``).
    A system that equals the reference on every resample gets p = 1, not
    sacrebleu's 1 / (R + 1): no difference is not a significant one (a rate
    of 0% beside a reference's 0%).
    """
    differences = np.abs(
        np.asarray(system_resampled, dtype=float)
        - np.asarray(reference_resampled, dtype=float)
    )
    if system == reference and not differences.any():
        return 1.0
    centred = differences - differences.mean()
    exceeding = int(np.sum(centred > abs(system - reference)))
    return (exceeding + 1) / (len(differences) + 1)


def _table_matrix(table: Table) -> np.ndarray:
    """The table's values, and as a last row its reference values; NaN for none."""
    rows = [*table.values, table.reference_values]
    return np.array(
        [[math.nan if v is None else v for v in row] for row in rows], dtype=float
    )


def _subset_counts(
    subset: str,
    tables: list[tuple[str, pd.DataFrame]],
    settings: BootstrapSettings,
) -> np.ndarray:
    """The subset's resample counts, after checking its systems' samples pair up."""
    first_system, first = tables[0]
    n = len(first)
    if n == 0:
        raise InputError(f"no samples for {first_system!r} on {subset!r}")
    for system, table in tables[1:]:
        if len(table) != n:
            raise InputError(
                f"{system!r} has {len(table)} samples on {subset!r}, "
                f"{first_system!r} has {n}: a paired bootstrap needs the same samples"
            )
        if "id" in table.columns and "id" in first.columns:
            if list(table["id"]) != list(first["id"]):
                raise InputError(
                    f"{system!r} and {first_system!r} have different sample ids "
                    f"(or order) on {subset!r}",
                    field="id",
                )
    indices = resample_indices(n, settings.resamples, settings.seed)
    # As floats once (exact for counts): every metric multiplies them with floats.
    return resample_counts(indices, n).astype(float)


def resampled_tables(
    scores: Sequence[Mapping[str, Any]],
    samples: Mapping[tuple[str, str], pd.DataFrame],
    bootstrap: Mapping[str, Any] | BootstrapSettings | None = None,
    **table_arguments: Any,
) -> tuple[Table, np.ndarray, np.ndarray]:
    """The table, the values of its resampled tables ``(resamples, rows, columns)``
    and their reference values ``(resamples, columns)``
    (:attr:`prettyflow.tables.Table.reference_values`).

    Arguments as :func:`bootstrap_table`; NaN where a resampled table shows no
    number. Resampled table ``r`` is ``build_table`` on the corpus scores of
    resample ``r``.
    """
    settings = _settings(bootstrap)
    point = build_table(scores, **table_arguments)
    subsets, systems = table_arguments["subsets"], table_arguments["systems"]
    wanted = (set(systems), set(subsets), set(table_arguments["metrics"]))
    entries = [
        dict(entry)
        for entry in scores
        if all(
            part in allowed
            for part, allowed in zip(
                (entry["system"], entry["subset"], entry["metric"]), wanted
            )
        )
    ]
    resampled = _resampled_entries(entries, samples, subsets, systems, settings)
    values = np.empty((settings.resamples, *_table_matrix(point).shape))
    for r in range(settings.resamples):
        for index, draws in resampled.items():
            entries[index]["score"] = float(draws[r])
        values[r] = _table_matrix(build_table(entries, **table_arguments))
    return point, values[:, :-1, :], values[:, -1, :]


def bootstrap_table(
    scores: Sequence[Mapping[str, Any]],
    samples: Mapping[tuple[str, str], pd.DataFrame],
    bootstrap: Mapping[str, Any] | BootstrapSettings | None = None,
    **table_arguments: Any,
) -> Table:
    """:func:`prettyflow.tables.build_table` with paired-bootstrap intervals attached.

    ``scores`` and the table arguments are those of ``build_table`` (the point
    values are its values); ``samples[(system, subset)]`` is that decode's
    per-sample table (the score step's ``score_samples`` Parquet), needed for
    every (system, subset) with a score; ``bootstrap``: ``resamples``, ``seed``,
    ``confidence`` (defaults 1000, 12345, 0.95). Returns the table with
    :class:`prettyflow.tables.Intervals`; see the module doc for the method.
    """
    settings = _settings(bootstrap)
    point, values, references = resampled_tables(
        scores, samples, settings, **table_arguments
    )
    intervals = _intervals(
        point,
        values,
        references,
        table_arguments["reference_system"],
        table_arguments.get("sft_systems", ()),
        settings,
    )
    return dataclasses.replace(point, intervals=intervals)


def _resampled_entries(
    entries: list[dict[str, Any]],
    samples: Mapping[tuple[str, str], pd.DataFrame],
    subsets: Sequence[str],
    systems: Sequence[str],
    settings: BootstrapSettings,
) -> dict[int, np.ndarray]:
    """Resampled corpus scores of every scored entry, keyed by its position."""
    scored = {
        index: entry
        for index, entry in enumerate(entries)
        if entry["score"] is not None and not _is_nan(entry["score"])
    }
    resampled: dict[int, np.ndarray] = {}
    for subset in subsets:
        in_subset = {i: e for i, e in scored.items() if e["subset"] == subset}
        scored_systems = [
            s for s in systems if any(e["system"] == s for e in in_subset.values())
        ]
        if not scored_systems:
            continue
        missing = [s for s in scored_systems if (s, subset) not in samples]
        if missing:
            raise InputError(
                f"no per-sample scores for {missing} on {subset!r}", field="samples"
            )
        counts = _subset_counts(
            subset, [(s, samples[(s, subset)]) for s in scored_systems], settings
        )
        everything = np.ones((1, counts.shape[1]), dtype=counts.dtype)
        for index, entry in in_subset.items():
            per_sample = samples[(entry["system"], subset)]
            recomputed = resampled_scores(entry["metric"], per_sample, everything)[0]
            if not math.isclose(
                recomputed, float(entry["score"]), rel_tol=0, abs_tol=_POINT_TOLERANCE
            ):
                raise InputError(
                    f"{entry['metric']} of {entry['system']!r} on {subset!r}: the "
                    f"per-sample scores give {recomputed!r}, the corpus score is "
                    f"{entry['score']!r}; do the files belong together?",
                    field="samples",
                )
            resampled[index] = resampled_scores(entry["metric"], per_sample, counts)
    return resampled


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _intervals(
    point: Table,
    values: np.ndarray,
    references: np.ndarray,
    reference: str,
    sft_systems: Sequence[str],
    settings: BootstrapSettings,
) -> Intervals:
    rows, columns = len(point.systems), len(point.columns)
    low: list[list[float | None]] = [[None] * columns for _ in range(rows)]
    high: list[list[float | None]] = [[None] * columns for _ in range(rows)]
    p_values: list[list[float | None]] = [[None] * columns for _ in range(rows)]
    undefined: list[str] = []
    compared = set(point.systems) - {reference, *sft_systems}
    for row, system in enumerate(point.systems):
        for column, header in enumerate(point.columns):
            value = point.values[row][column]
            if value is None:
                continue
            draws = values[:, row, column]
            undefined_draws = int(np.isnan(draws).sum())
            if undefined_draws:
                place = header_text(point, header)
                undefined.append(
                    f"{point.label(system)} {place} ({undefined_draws} of "
                    f"{settings.resamples})"
                )
                continue
            low[row][column], high[row][column] = percentile_interval(
                draws, settings.confidence
            )
            reference_value = point.reference_values[column]
            if (
                system in compared
                and has_p_value(header)
                and reference_value is not None
            ):
                p_values[row][column] = paired_p_value(
                    value, reference_value, draws, references[:, column]
                )
    notes = []
    if undefined:
        notes.append(
            "No interval where the value is undefined on some resamples (a reference "
            "scoring 0): " + "; ".join(undefined) + "."
        )
    return Intervals(
        low=low,
        high=high,
        p_values=p_values,
        reference=point.reference,
        confidence=settings.confidence,
        resamples=settings.resamples,
        seed=settings.seed,
        notes=notes,
    )
