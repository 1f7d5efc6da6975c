"""Backend parity (``analysis.backend_parity``): the same systems decoded by two
model backends (e.g. hf and vllm), compared per system and subset.

- **Identical answers**: the share of samples whose answers (the decode table's
  ``output``, the cleaned answer the metrics score) are the same text.
- **First divergence**: among the samples whose answers differ, the 0-based
  character index of the first differing character (where one answer is a
  prefix of the other, the shorter one's length); mean and median. Characters,
  not tokens: the decode tables keep text, and characters do not depend on the
  tokenizer.
- **Metric differences**: for each metric the second backend's corpus score minus
  the first's, with a paired-bootstrap percentile interval and p-value: the
  resamples, interval and p-value of the results tables
  (:func:`prettyflow.bootstrap.resample_indices`, :func:`percentile_interval`,
  :func:`paired_p_value`; ``analysis.bootstrap``), both backends scored on the
  same resamples of the subset.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prettyflow.bootstrap import (
    BootstrapSettings,
    paired_p_value,
    percentile_interval,
    resample_counts,
    resample_indices,
    resampled_scores,
)
from prettyflow.errors import InputError
from prettyflow.io import atomic_paths, read_parquet, write_text
from prettyflow.report import titled_markdown_page

ROLES = ("first", "second")


def first_divergence(first: str, second: str) -> int | None:
    """The index of the first character where ``first`` and ``second`` differ
    (the shorter one's length when one is a prefix of the other); None if equal."""
    if first == second:
        return None
    for index, (a, b) in enumerate(zip(first, second)):
        if a != b:
            return index
    return min(len(first), len(second))


def _paired_rows(
    first: pd.DataFrame, second: pd.DataFrame, paths: Sequence[str | Path], what: str
) -> pd.DataFrame:
    """``second`` in ``first``'s sample order; both must hold the same ids."""
    for frame, path in zip((first, second), paths):
        if "id" not in frame.columns:
            raise InputError(f"the {what} has no 'id' column", path=path, field="id")
    if sorted(first["id"]) != sorted(second["id"]) or first["id"].duplicated().any():
        raise InputError(
            f"the {what}s of the two backends hold different samples (or repeat "
            f"one); compared with {paths[0]}",
            path=paths[1],
            field="id",
        )
    return second.set_index("id").loc[list(first["id"])].reset_index()


def compare_answers(
    first: pd.DataFrame,
    second: pd.DataFrame,
    paths: Sequence[str | Path] = ("first", "second"),
) -> dict[str, Any]:
    """Identical answers and first divergences of two decode tables of one subset."""
    for frame, path in zip((first, second), paths):
        if "output" not in frame.columns:
            raise InputError("the decode table has no 'output'", path=path)
    second = _paired_rows(first, second, paths, "decode table")
    divergences = [
        first_divergence(str(a), str(b))
        for a, b in zip(first["output"], second["output"])
    ]
    differing = [index for index in divergences if index is not None]
    samples = len(divergences)
    return {
        "samples": samples,
        "identical": samples - len(differing),
        "identical_percent": 100.0 * (samples - len(differing)) / samples
        if samples
        else math.nan,
        "divergence_mean": statistics.fmean(differing) if differing else math.nan,
        "divergence_median": float(statistics.median(differing))
        if differing
        else math.nan,
    }


def metric_difference(
    metric: str,
    first: pd.DataFrame,
    second: pd.DataFrame,
    bootstrap: BootstrapSettings,
    paths: Sequence[str | Path] = ("first", "second"),
) -> dict[str, float]:
    """``metric``'s corpus score on each backend's per-sample scores, the difference
    second - first, its paired-bootstrap interval and p-value."""
    second = _paired_rows(first, second, paths, "per-sample score table")
    n = len(first)
    if n == 0:
        raise InputError("no samples", path=paths[0])
    counts = resample_counts(
        resample_indices(n, bootstrap.resamples, bootstrap.seed), n
    ).astype(float)
    everything = np.ones((1, n))
    scores = [
        float(resampled_scores(metric, t, everything)[0]) for t in (first, second)
    ]
    resampled = [resampled_scores(metric, t, counts) for t in (first, second)]
    low, high = percentile_interval(resampled[1] - resampled[0], bootstrap.confidence)
    return {
        "first": scores[0],
        "second": scores[1],
        "difference": scores[1] - scores[0],
        "low": low,
        "high": high,
        "p": paired_p_value(scores[1], scores[0], resampled[1], resampled[0]),
    }


def parity_table(
    decodes: Mapping[str, Sequence[str | Path]],
    samples: Mapping[str, Sequence[str | Path]],
    settings: Mapping[str, Any],
) -> pd.DataFrame:
    """One row per ``settings["rows"]`` entry (``system``, ``subset``): its decodes
    and per-sample scores on each backend (``decodes[role][i]``,
    ``samples[role][i]``, role ``first`` or ``second``), compared."""
    rows = list(settings["rows"])
    for role in ROLES:
        if not len(decodes[role]) == len(samples[role]) == len(rows):
            raise InputError(
                f"expected one decode and one score table per row ({len(rows)}) for "
                f"the {role} backend, got {len(decodes[role])} and "
                f"{len(samples[role])}",
                field="rows",
            )
    bootstrap = BootstrapSettings.from_mapping(settings.get("bootstrap") or {})
    records = []
    for index, row in enumerate(rows):
        decode_paths = [decodes[role][index] for role in ROLES]
        record: dict[str, Any] = {"system": row["system"], "subset": row["subset"]}
        record.update(
            compare_answers(*(read_parquet(p) for p in decode_paths), decode_paths)
        )
        sample_paths = [samples[role][index] for role in ROLES]
        frames = [read_parquet(p) for p in sample_paths]
        for metric in settings["metrics"]:
            difference = metric_difference(
                metric, *frames, bootstrap, paths=sample_paths
            )
            record.update({f"{metric}_{key}": v for key, v in difference.items()})
        records.append(record)
    return pd.DataFrame(records)


def _number(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _render_csv(table: pd.DataFrame) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for record in table.itertuples(index=False):
        writer.writerow(
            [
                ""
                if isinstance(value, float) and math.isnan(value)
                else f"{value:.4f}"
                if isinstance(value, float)
                else value
                for value in record
            ]
        )
    return buffer.getvalue()


def _render_markdown(table: pd.DataFrame, settings: Mapping[str, Any]) -> str:
    first, second = settings["backends"]
    bootstrap = BootstrapSettings.from_mapping(settings.get("bootstrap") or {})
    percent = f"{100 * bootstrap.confidence:g}%"
    headers = ["System", "Subset", "n", "Identical", "First divergence (mean / median)"]
    for metric in settings["metrics"]:
        headers += [
            f"{metric} {first}",
            f"{metric} {second}",
            f"Δ {metric} [{percent}]",
            "p",
        ]
    lines = [
        f"## {settings['title']}",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join([":---", ":---"] + ["---:"] * (len(headers) - 2)) + "|",
    ]
    for record in table.to_dict("records"):
        cells = [
            str(record["system"]).replace("|", "\\|"),
            str(record["subset"]),
            str(record["samples"]),
            f"{_number(record['identical_percent'], 1)}%",
            f"{_number(record['divergence_mean'], 1)} / "
            f"{_number(record['divergence_median'], 1)}",
        ]
        for metric in settings["metrics"]:
            cells += [
                _number(record[f"{metric}_first"]),
                _number(record[f"{metric}_second"]),
                f"{record[f'{metric}_difference']:+.2f} "
                f"[{_number(record[f'{metric}_low'])}, "
                f"{_number(record[f'{metric}_high'])}]",
                _number(record[f"{metric}_p"], 3),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Identical: answers (cleaned, as scored) that are the same text on {first} "
        f"and {second}. First divergence: the 0-based character index of the first "
        "difference among the answers that differ. "
        f"Δ: {second} minus {first}, with the {percent} paired-bootstrap percentile "
        f"interval and p-value ({bootstrap.resamples} resamples, seed "
        f"{bootstrap.seed}).  ",
    ]
    return "\n".join(lines) + "\n"


def backend_parity_table(
    decodes: Mapping[str, Sequence[str | Path]],
    samples: Mapping[str, Sequence[str | Path]],
    settings: Mapping[str, Any],
    csv_path: str | Path,
    markdown_path: str | Path,
    html_path: str | Path | None = None,
) -> pd.DataFrame:
    """:func:`parity_table`, written as CSV, Markdown and (with ``html_path``) the
    Markdown's HTML page, together or not at all. ``settings``: ``title``,
    ``backends`` (first, second), ``rows``, ``metrics``, ``bootstrap``."""
    table = parity_table(decodes, samples, settings)
    markdown = _render_markdown(table, settings)
    with atomic_paths(csv_path, markdown_path, html_path) as (
        csv_tmp,
        md_tmp,
        html_tmp,
    ):
        write_text(_render_csv(table), csv_tmp)
        write_text(markdown, md_tmp)
        if html_tmp is not None:
            write_text(
                titled_markdown_page(markdown, Path(markdown_path).stem), html_tmp
            )
    return table
