"""Figure 5 (section 5.3): each metric against the number of prior tokens k.

Inputs are the score JSONs of the step ``score`` (``system``, ``subset``,
``scores: {metric: {score, reason, ...}}``, ``diagnostics.samples``,
``provenance`` with ``prior_source`` and ``k``) of the systems
``prior-<source>-k<k>`` for every k, of the foundation model without prior (the
"no prior" line) and of the SFT reference. Outputs:

- a tidy CSV: one row per (subset, metric, k) of the prior source, then the two
  reference lines (``k`` empty), with the score (empty when n/a), the samples
  scored and the reason a score is missing;
- one PNG: a grid of panels, metrics as rows and subsets as columns; x is k, the
  prior source a line with markers, "no prior" and "SFT" horizontal lines. A
  metric that was not computed (score None, e.g. spBLEU without its
  SentencePiece model) gets a panel saying "n/a: <reason>" instead of an empty
  plot. A metric with a fixed range (the wrong-language rate, 0-100%) is drawn on
  its whole range, and one where lower is better says so on its axis (the
  metric registry, :mod:`prettyflow.metrics`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import matplotlib

from prettyflow.metrics import METRICS
from prettyflow.priors.sources import PRIOR_SOURCES

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from prettyflow.errors import InputError  # noqa: E402
from prettyflow.io import atomic_paths, write_text  # noqa: E402
from prettyflow.score_files import read_score_file  # noqa: E402

PRIOR_SERIES = "prior"
BASE_SERIES = "no prior"
REFERENCE_SERIES = "SFT"
DEFAULT_MISSING_REASON = "no score"
COLORS = {PRIOR_SERIES: "#d62728", BASE_SERIES: "#ff7f0e", REFERENCE_SERIES: "#1f77b4"}
CSV_COLUMNS = [
    "subset",
    "metric",
    "series",
    "system",
    "k",
    "score",
    "samples",
    "reason",
]


def prior_system_name(source: str, k: int) -> str:
    """The system that decodes with ``k`` tokens of the ``source`` prior."""
    return f"prior-{source}-k{k}"


def _score(entry: Mapping[str, Any], path: str | Path, metric: str) -> float | None:
    score = entry.get("score")
    if score is None:
        return None
    if isinstance(score, bool) or not isinstance(score, Real):
        raise InputError(
            f"expected a number or None, got {score!r}",
            path=path,
            field=f"scores.{metric}.score",
        )
    return None if math.isnan(float(score)) else float(score)


def _series_of(
    result: Mapping[str, Any],
    path: str | Path,
    settings: Mapping[str, Any],
) -> tuple[str, int | None]:
    """Which line a score file belongs to: (series, k)."""
    system = result.get("system")
    if system == settings["base_system"]:
        return BASE_SERIES, None
    if system == settings["reference_system"]:
        return REFERENCE_SERIES, None
    source = settings["source"]
    for k in settings["ks"]:
        if system == prior_system_name(source, int(k)):
            provenance = result.get("provenance") or {}
            recorded = (provenance.get("prior_source"), provenance.get("k"))
            if recorded != (source, int(k)):
                raise InputError(
                    f"system {system!r} was decoded with prior source "
                    f"{recorded[0]!r} and k {recorded[1]!r}",
                    path=path,
                    field="provenance",
                )
            return PRIOR_SERIES, int(k)
    expected = [prior_system_name(source, int(k)) for k in settings["ks"]]
    raise InputError(
        f"unexpected system {system!r}; expected one of "
        f"{', '.join([*expected, settings['base_system'], settings['reference_system']])}",
        path=path,
        field="system",
    )


def prior_token_scores(
    score_paths: Sequence[str | Path], settings: Mapping[str, Any]
) -> pd.DataFrame:
    """The tidy table (:data:`CSV_COLUMNS`) of every (subset, metric, series, k).

    Every prior k, the base and the reference must be present once per subset.
    """
    subsets = [str(subset) for subset in settings["subsets"]]
    metrics = [str(metric) for metric in settings["metrics"]]
    found: dict[tuple[str, str, int | None], tuple[Path, Mapping[str, Any]]] = {}
    for path in map(Path, score_paths):
        result = read_score_file(path, metrics, diagnostics=("samples",))
        subset = result["subset"]
        if subset not in subsets:
            continue  # another subset's file: not in this figure
        series, k = _series_of(result, path, settings)
        key = (subset, series, k)
        if key in found:
            raise InputError(
                f"a second score file for {series} k={k} on {subset} "
                f"(the first: {found[key][0]})",
                path=path,
                field="system",
            )
        found[key] = (path, result)

    wanted = [
        *((PRIOR_SERIES, int(k)) for k in settings["ks"]),
        (BASE_SERIES, None),
        (REFERENCE_SERIES, None),
    ]
    missing = [
        f"{subset} {series}" + ("" if k is None else f" k={k}")
        for subset in subsets
        for series, k in wanted
        if (subset, series, k) not in found
    ]
    if missing:
        raise InputError(f"no score file for {'; '.join(missing)}", field="score_paths")

    rows = []
    for subset in subsets:
        for metric in metrics:
            for series, k in wanted:
                path, result = found[(subset, series, k)]
                entry = (result.get("scores") or {}).get(metric)
                if not isinstance(entry, Mapping):
                    raise InputError(
                        f"no score for metric {metric!r}",
                        path=path,
                        field=f"scores.{metric}",
                    )
                score = _score(entry, path, metric)
                reason = (
                    None
                    if score is not None
                    else entry.get("reason") or DEFAULT_MISSING_REASON
                )
                rows.append(
                    {
                        "subset": subset,
                        "metric": metric,
                        "series": series,
                        "system": result.get("system"),
                        "k": k,
                        "score": score,
                        "samples": (result.get("diagnostics") or {}).get("samples"),
                        "reason": reason,
                    }
                )
    table = pd.DataFrame(rows, columns=CSV_COLUMNS)
    table["k"] = table["k"].astype("Int64")  # integers, empty for the reference lines
    table["samples"] = table["samples"].astype("Int64")
    return table


def _sample_count_text(rows: pd.DataFrame) -> str:
    counts = sorted({int(n) for n in rows["samples"].dropna()})
    if not counts:
        return "n unknown"
    return f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]}–{counts[-1]}"


def _not_available_panel(axis: plt.Axes, reason: str) -> None:
    axis.text(
        0.5,
        0.5,
        textwrap.fill(f"n/a: {reason}", width=34),
        ha="center",
        va="center",
        fontsize=9,
        color="#555555",
        transform=axis.transAxes,
    )
    axis.set_xticks([])
    axis.set_yticks([])
    for spine in axis.spines.values():
        spine.set_color("#cccccc")


def metric_axis(metric: str, label: str) -> tuple[str, tuple[float, float] | None]:
    """A panel's y-axis label and its limits: a metric of fixed range (a rate in %)
    spans all of it, with a margin; one where lower is better says so."""
    if metric not in METRICS:
        return label, None
    entry = METRICS.get(metric)
    if entry.lower_is_better:
        label = f"{label}\n(lower is better)"
    if entry.value_range is None:
        return label, None
    low, high = entry.value_range
    margin = 0.04 * (high - low)
    return label, (low - margin, high + margin)


def _draw_panel(
    axis: plt.Axes,
    rows: pd.DataFrame,
    ks: Sequence[int],
    limits: tuple[float, float] | None = None,
) -> None:
    prior = rows[rows["series"] == PRIOR_SERIES]
    points = prior.dropna(subset=["score"])
    if points.empty:
        _not_available_panel(axis, str(prior["reason"].iloc[0]))
        return
    if limits is not None:
        axis.set_ylim(*limits)
    axis.plot(
        points["k"].astype(int),
        points["score"],
        marker="o",
        markersize=5,
        color=COLORS[PRIOR_SERIES],
    )
    for series, style in ((BASE_SERIES, "--"), (REFERENCE_SERIES, ":")):
        score = rows.loc[rows["series"] == series, "score"].iloc[0]
        if pd.notna(score):
            axis.axhline(score, linestyle=style, linewidth=1.5, color=COLORS[series])
    axis.set_xticks(list(ks))
    axis.set_xlim(min(ks) - 0.3, max(ks) + 0.3)
    axis.grid(alpha=0.3)


def prior_tokens_figure(
    score_paths: Sequence[str | Path],
    settings: Mapping[str, Any],
    csv_path: str | Path,
    png_path: str | Path,
) -> pd.DataFrame:
    """Figure 5 and its numbers for one (task, benchmark, family, prior source).

    ``settings``: ``task``, ``benchmark``, ``family``, ``source`` (prior source
    name), ``ks``, ``subsets``, ``metrics``, ``base_system``,
    ``reference_system``; optional ``labels`` (metric, subset or system name ->
    what the figure shows, e.g. ``bleu`` -> ``BLEU``, ``sft`` ->
    ``Llama2-7B-Alpaca``) and ``source_title`` (default the prior source's
    title, e.g. "SFT Prior"). Score files of other subsets are ignored. Returns
    the table written to ``csv_path``.

    Long because it draws one figure: its panels, lines, n/a panels, legend and titles.
    """
    ks = sorted(int(k) for k in settings["ks"])
    if not ks or len(set(ks)) != len(ks):
        raise InputError(
            f"expected distinct k values, got {settings['ks']!r}", field="ks"
        )
    if not settings["subsets"] or not settings["metrics"]:
        raise InputError("expected at least one subset and one metric", field="subsets")
    table = prior_token_scores(score_paths, {**settings, "ks": ks})

    source_title = settings.get("source_title") or _source_title(settings["source"])
    labels = dict(settings.get("labels") or {})
    subsets, metrics = list(settings["subsets"]), list(settings["metrics"])
    figure, axes = plt.subplots(
        len(metrics),
        len(subsets),
        figsize=(1.2 + 3.6 * len(subsets), 1.4 + 2.7 * len(metrics)),
        squeeze=False,
    )
    for row, metric in enumerate(metrics):
        ylabel, limits = metric_axis(metric, labels.get(metric, metric))
        for column, subset in enumerate(subsets):
            axis = axes[row][column]
            rows = table[(table["subset"] == subset) & (table["metric"] == metric)]
            _draw_panel(axis, rows, ks, limits)
            if row == 0:
                name = labels.get(subset, subset)
                axis.set_title(f"{name} ({_sample_count_text(rows)})", fontsize=10)
            if column == 0:
                axis.set_ylabel(ylabel)
            if row == len(metrics) - 1:
                axis.set_xlabel("prior tokens k")
    base_label = labels.get(settings["base_system"], settings["base_system"])
    reference_label = labels.get(
        settings["reference_system"], settings["reference_system"]
    )
    handles = [
        Line2D(
            [],
            [],
            color=COLORS[PRIOR_SERIES],
            marker="o",
            label=f"{base_label} + {source_title} (k tokens)",
        ),
        Line2D(
            [],
            [],
            color=COLORS[BASE_SERIES],
            linestyle="--",
            label=f"{base_label}, no prior",
        ),
        Line2D(
            [],
            [],
            color=COLORS[REFERENCE_SERIES],
            linestyle=":",
            label=f"{reference_label} (SFT reference)",
        ),
    ]
    figure.suptitle(
        f"{str(settings['task']).capitalize()} on {settings['benchmark']}, "
        f"{settings['family']}: score against the number of {source_title} tokens",
        fontweight="bold",
    )
    figure.legend(
        handles=handles,
        loc="lower center",
        ncol=3,
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    # The figure and its numbers together, or neither.
    with atomic_paths(png_path, csv_path) as (png_tmp, csv_tmp):
        figure.savefig(png_tmp, format="png", dpi=150, bbox_inches="tight")
        write_text(table.to_csv(index=False), csv_tmp)
    plt.close(figure)
    return table


def _source_title(source: str) -> str:
    return PRIOR_SOURCES.get(source).title if source in PRIOR_SOURCES else source
