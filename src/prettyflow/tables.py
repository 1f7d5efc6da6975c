"""Result tables in the paper's layout: systems x (subset, metric), averages, %SFT.

Rows are systems; columns are every (subset, metric) cell, then ``Avg.`` per metric,
then the relative performance ``%SFT`` against a reference SFT system:

- ``"mean_of_cell_ratios"`` (Tables 1 and 2): the mean over the (subset, metric)
  cells of ``100 * system / reference``. A reference cell close to zero
  (``|reference| < near_zero_threshold``) makes its ratio explode (Table 2's Ar-Ru
  ROUGE-2 of 0.1 turns 0.6 into 600%), so such cells are flagged (a marker on the
  reference value and a footnote naming the cell and every system's ratio) and the
  table also reports ``%SFT (excl. flagged)``, the mean over the other cells.
- ``"ratio_of_averages"`` (Table 3): ``100 * mean(system's cells) /
  mean(reference's cells)``; the table then also shows ``Avg. all``, the mean over
  all cells that this ratio uses.

SFT systems (the reference and those in ``sft_systems``) show ``-`` for %SFT.
A missing score (absent, None or NaN, e.g. spBLEU without its SentencePiece model)
is shown as ``n/a`` with a footnote giving the reason. So that averages stay
comparable between rows, a (subset, metric) cell missing for any system is left out
of every system's averages and %SFT; a note says which cells were left out.
Numbers are shown with one decimal; computations use the unrounded inputs.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.io import atomic_path

SFT_RATIOS = ("mean_of_cell_ratios", "ratio_of_averages")
AVERAGE_GROUP = "Avg."
ALL_METRICS = "all"
SFT_GROUP = "%SFT"
SFT_EXCLUDING_FLAGGED_GROUP = "%SFT (excl. flagged)"
NOT_AVAILABLE = "n/a"
NOT_APPLICABLE = "-"
FLAG_MARKER = "†"
DEFAULT_MISSING_REASON = "no score"


@dataclass(frozen=True)
class Column:
    group: str  # subset, "Avg.", "%SFT" or "%SFT (excl. flagged)"
    metric: str  # metric name, "all" or "" for the %SFT columns


@dataclass
class Table:
    """A built table: numbers, their display text, markers and footnotes.

    ``values[row][column]`` is the number or None (shown as ``texts``: ``n/a`` or
    ``-``); ``markers`` holds the flag marker of a cell, keyed by (row, column).
    """

    systems: list[str]
    columns: list[Column]
    values: list[list[float | None]]
    texts: list[list[str]]
    markers: dict[tuple[int, int], str] = field(default_factory=dict)
    footnotes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def value(self, system: str, group: str, metric: str = "") -> float | None:
        row = self.systems.index(system)
        return self.values[row][self.columns.index(Column(group, metric))]

    def frame(self) -> pd.DataFrame:
        """Numbers (NaN for n/a and -), indexed by system, columns (group, metric)."""
        return pd.DataFrame(
            [[math.nan if v is None else v for v in row] for row in self.values],
            index=pd.Index(self.systems, name="system"),
            columns=pd.MultiIndex.from_tuples(
                [(c.group, c.metric) for c in self.columns]
            ),
        )


def _format_number(value: float) -> str:
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _score_value(entry: Mapping[str, Any], line: int) -> float | None:
    score = entry["score"]
    if score is None:
        return None
    if isinstance(score, bool) or not isinstance(score, Real):
        raise InputError(
            f"expected a number or None, got {score!r}", line=line, field="score"
        )
    score = float(score)
    if math.isnan(score):
        return None
    if math.isinf(score):
        raise InputError(
            f"expected a finite number, got {score!r}", line=line, field="score"
        )
    return score


def _collect_scores(
    scores: Sequence[Mapping[str, Any]],
    subsets: Sequence[str],
    metrics: Sequence[str],
    systems: Sequence[str],
) -> tuple[dict[tuple[str, str, str], float], dict[tuple[str, str, str], str]]:
    """Values and missing-value reasons keyed by (system, subset, metric).

    Entries for systems, subsets or metrics not requested are ignored, so one list of
    scores can feed several tables.
    """
    wanted = (set(systems), set(subsets), set(metrics))
    values: dict[tuple[str, str, str], float] = {}
    reasons: dict[tuple[str, str, str], str] = {}
    seen: set[tuple[str, str, str]] = set()
    for line, entry in enumerate(scores, start=1):
        for key in ("system", "subset", "metric", "score"):
            if key not in entry:
                raise InputError(
                    f"missing key {key!r} in {dict(entry)!r}", line=line, field=key
                )
        key = (entry["system"], entry["subset"], entry["metric"])
        if not all(part in allowed for part, allowed in zip(key, wanted)):
            continue
        if key in seen:
            raise InputError(
                f"second score for system/subset/metric {key}", line=line, field="score"
            )
        seen.add(key)
        value = _score_value(entry, line)
        if value is None:
            reasons[key] = str(entry.get("reason") or "metric not computed")
        else:
            values[key] = value
    for system in systems:
        if not any(key[0] == system for key in seen):
            raise InputError(f"no scores for system {system!r}", field="systems")
    return values, reasons


def _check_names(names: Sequence[str], field_name: str) -> list[str]:
    names = list(names)
    if not names:
        raise InputError("empty list", field=field_name)
    if len(set(names)) != len(names):
        raise InputError(f"duplicate names in {names}", field=field_name)
    return names


def build_table(
    scores: Sequence[Mapping[str, Any]],
    subsets: Sequence[str],
    metrics: Sequence[str],
    systems: Sequence[str],
    reference_system: str,
    sft_systems: Sequence[str] = (),
    sft_ratio: str = "mean_of_cell_ratios",
    near_zero_threshold: float = 1.0,
    labels: Mapping[str, str] | None = None,
) -> Table:
    """Build a table from ``scores`` (dicts with system, subset, metric, score and an
    optional ``reason`` shown when score is None); see the module docstring.

    ``subsets``, ``metrics`` and ``systems`` give the order; ``labels`` maps those
    names to display text (default: the names themselves).
    """
    subsets = _check_names(subsets, "subsets")
    metrics = _check_names(metrics, "metrics")
    systems = _check_names(systems, "systems")
    if sft_ratio not in SFT_RATIOS:
        raise InputError(
            f"unknown {sft_ratio!r}; expected one of {', '.join(SFT_RATIOS)}",
            field="sft_ratio",
        )
    if not near_zero_threshold >= 0:
        raise InputError(
            f"expected a number >= 0, got {near_zero_threshold!r}",
            field="near_zero_threshold",
        )
    if reference_system not in systems:
        raise InputError(
            f"{reference_system!r} is not one of the systems {systems}",
            field="reference_system",
        )
    for system in sft_systems:
        if system not in systems:
            raise InputError(
                f"{system!r} is not one of the systems {systems}", field="sft_systems"
            )
    labels = dict(labels or {})

    def label(name: str) -> str:
        return labels.get(name, name)

    values, reasons = _collect_scores(scores, subsets, metrics, systems)
    sft_set = {reference_system, *sft_systems}
    cells = [(subset, metric) for subset in subsets for metric in metrics]
    # A cell enters averages only if every system has it, so all rows average the same cells.
    usable = [cell for cell in cells if all((s, *cell) in values for s in systems)]
    excluded = [cell for cell in cells if cell not in usable]

    columns = [Column(subset, metric) for subset, metric in cells]
    columns += [Column(AVERAGE_GROUP, metric) for metric in metrics]
    if sft_ratio == "ratio_of_averages":
        columns.append(Column(AVERAGE_GROUP, ALL_METRICS))
    columns.append(Column(SFT_GROUP, ""))
    if sft_ratio == "mean_of_cell_ratios":
        columns.append(Column(SFT_EXCLUDING_FLAGGED_GROUP, ""))

    footnotes: list[str] = []
    notes: list[str] = []
    markers: dict[tuple[int, int], str] = {}

    # Missing values: grouped by reason so that one footnote explains many cells.
    missing_by_reason: dict[
        str, dict[str, list[str]]
    ] = {}  # reason -> metric -> places
    for subset, metric in cells:
        missing_systems = [s for s in systems if (s, subset, metric) not in values]
        for reason in dict.fromkeys(
            reasons.get((s, subset, metric), DEFAULT_MISSING_REASON)
            for s in missing_systems
        ):
            who = [
                s
                for s in missing_systems
                if reasons.get((s, subset, metric), DEFAULT_MISSING_REASON) == reason
            ]
            scope = (
                "all systems"
                if len(who) == len(systems)
                else ", ".join(label(s) for s in who)
            )
            places = missing_by_reason.setdefault(reason, {}).setdefault(metric, [])
            places.append(f"{label(subset)} {label(metric)} ({scope})")
    for reason, by_metric in missing_by_reason.items():
        where = []
        for metric, places in by_metric.items():
            everywhere = [f"{label(s)} {label(metric)} (all systems)" for s in subsets]
            where += (
                [f"{label(metric)} (all subsets, all systems)"]
                if places == everywhere
                else places
            )
        footnotes.append(f"{NOT_AVAILABLE}: {'; '.join(where)}: {reason}.")
    if excluded:
        notes.append(
            "Averages and %SFT use only the cells scored for every system; left out: "
            + ", ".join(
                f"{label(subset)} {label(metric)}" for subset, metric in excluded
            )
            + "."
        )

    def cell_value(system: str, cell: tuple[str, str]) -> float:
        return values[(system, *cell)]

    def near_zero(value: float) -> bool:
        return (
            value == 0 or abs(value) < near_zero_threshold
        )  # a zero is flagged at any threshold

    # Near-zero reference cells (mean_of_cell_ratios only).
    flagged = (
        [cell for cell in usable if near_zero(cell_value(reference_system, cell))]
        if sft_ratio == "mean_of_cell_ratios"
        else []
    )

    def ratio(system: str, cell: tuple[str, str]) -> float | None:
        reference = cell_value(reference_system, cell)
        return None if reference == 0 else 100.0 * cell_value(system, cell) / reference

    for cell in flagged:
        ratios = []
        for system in systems:
            if system in sft_set:
                continue
            value = ratio(system, cell)
            shown = (
                "undefined (division by zero)"
                if value is None
                else f"{_format_number(value)}%"
            )
            ratios.append(f"{label(system)} {shown}")
        footnotes.append(
            f"{FLAG_MARKER} {label(cell[0])} {label(cell[1])}: reference {label(reference_system)} "
            f"scores {_format_number(cell_value(reference_system, cell))}, closer to 0 than "
            f"the near-zero threshold {near_zero_threshold:g}, so its cell ratios are unstable: "
            + ("; ".join(ratios) if ratios else "no non-SFT system")
            + f". {SFT_EXCLUDING_FLAGGED_GROUP} leaves this cell out."
        )
    undefined_sft: list[str] = []

    def relative(system: str) -> tuple[float | None, float | None]:
        """(%SFT, %SFT excluding flagged cells) for a non-SFT system."""
        if not usable:
            return None, None
        if sft_ratio == "ratio_of_averages":
            reference_mean = _mean([cell_value(reference_system, c) for c in usable])
            if reference_mean == 0:
                undefined_sft.append(system)
                return None, None
            return (
                100.0 * _mean([cell_value(system, c) for c in usable]) / reference_mean,
                None,
            )
        ratios = {cell: ratio(system, cell) for cell in usable}
        if any(value is None for value in ratios.values()):
            undefined_sft.append(system)
            everything = None
        else:
            everything = _mean(list(ratios.values()))
        kept = [value for cell, value in ratios.items() if cell not in flagged]
        return everything, _mean(
            kept
        )  # zero references are always flagged, so kept has no None

    rows_values: list[list[float | None]] = []
    rows_texts: list[list[str]] = []
    for row, system in enumerate(systems):
        row_values: list[float | None] = []
        row_texts: list[str] = []
        if system in sft_set:
            sft_values = (None, None)
        else:
            sft_values = relative(system)
        for index, column in enumerate(columns):
            text = NOT_AVAILABLE
            if column.group == AVERAGE_GROUP:
                chosen = (
                    usable
                    if column.metric == ALL_METRICS
                    else [c for c in usable if c[1] == column.metric]
                )
                value = _mean([cell_value(system, c) for c in chosen])
            elif column.group in (SFT_GROUP, SFT_EXCLUDING_FLAGGED_GROUP):
                value = sft_values[0 if column.group == SFT_GROUP else 1]
                if system in sft_set:
                    text = NOT_APPLICABLE
            else:
                cell = (column.group, column.metric)
                value = values.get((system, *cell))
                if system == reference_system and cell in flagged:
                    markers[(row, index)] = FLAG_MARKER
            row_values.append(value)
            row_texts.append(text if value is None else _format_number(value))
        rows_values.append(row_values)
        rows_texts.append(row_texts)

    if undefined_sft:
        footnotes.append(
            f"{SFT_GROUP} is undefined ({NOT_AVAILABLE}) for "
            + ", ".join(label(s) for s in undefined_sft)
            + f": the reference {label(reference_system)} "
            + (
                "averages 0."
                if sft_ratio == "ratio_of_averages"
                else "scores 0 in a cell."
            )
        )
    description = (
        "mean over cells of 100 x system / reference"
        if sft_ratio == "mean_of_cell_ratios"
        else "100 x (mean of the system's cells) / (mean of the reference's cells)"
    )
    notes.append(f"{SFT_GROUP}: {description}; reference: {label(reference_system)}.")
    return Table(
        systems=systems,
        columns=columns,
        values=rows_values,
        texts=rows_texts,
        markers=markers,
        footnotes=footnotes,
        notes=notes,
        labels=labels,
    )


# ---------------------------------------------------------------- writers


def _flat_header(table: Table, column: Column) -> str:
    group = table.label(column.group)
    return f"{group} {table.label(column.metric)}" if column.metric else group


def to_csv(table: Table, path: str | Path) -> None:
    """One header row (``subset metric``), values as shown (1 decimal, n/a, -), no markers."""
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["system", *(_flat_header(table, c) for c in table.columns)]
            )
            for system, texts in zip(table.systems, table.texts):
                writer.writerow([table.label(system), *texts])


def _marked(table: Table, row: int, column: int, marker_format: str) -> str:
    marker = table.markers.get((row, column))
    text = table.texts[row][column]
    return text + marker_format.format(marker) if marker else text


def render_markdown(table: Table) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    header = ["Models", *(_flat_header(table, c) for c in table.columns)]
    lines = [
        "| " + " | ".join(escape(h) for h in header) + " |",
        "|" + "|".join([":---"] + ["---:"] * len(table.columns)) + "|",
    ]
    for row, system in enumerate(table.systems):
        cells = [
            _marked(table, row, column, "{}") for column in range(len(table.columns))
        ]
        lines.append(
            "| " + " | ".join(escape(c) for c in [table.label(system), *cells]) + " |"
        )
    extra = table.footnotes + table.notes
    if extra:
        lines.append("")
        lines.extend(f"{text}  " for text in extra)
    return "\n".join(lines) + "\n"


def to_markdown(table: Table, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(render_markdown(table), encoding="utf-8")


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    FLAG_MARKER: r"$^{\dagger}$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def render_latex(table: Table) -> str:
    """A booktabs tabular with subset headers spanning their metric columns."""
    groups: list[
        tuple[str, int, int]
    ] = []  # (group, first column, span), 1-based after "Models"
    for index, column in enumerate(table.columns, start=2):
        if groups and groups[-1][0] == column.group:
            name, first, span = groups[-1]
            groups[-1] = (name, first, span + 1)
        else:
            groups.append((column.group, index, 1))
    top = ["Models"] + [
        rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(table.label(name))}}}"
        for name, _, span in groups
    ]
    rules = " ".join(
        rf"\cmidrule(lr){{{first}-{first + span - 1}}}"
        for name, first, span in groups
        if any(c.metric for c in table.columns if c.group == name)
    )
    bottom = [""] + [latex_escape(table.label(c.metric)) for c in table.columns]
    lines = [
        r"\begin{tabular}{l" + "r" * len(table.columns) + "}",
        r"\toprule",
        " & ".join(top) + r" \\",
    ]
    if rules:
        lines.append(rules)
    lines += [" & ".join(bottom) + r" \\", r"\midrule"]
    for row, system in enumerate(table.systems):
        cells = [
            latex_escape(_marked(table, row, column, "{}"))
            for column in range(len(table.columns))
        ]
        lines.append(" & ".join([latex_escape(table.label(system)), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    extra = table.footnotes + table.notes
    if extra:
        lines.append(r"\par\smallskip")
        lines.append(r"{\footnotesize")
        lines.extend(latex_escape(text) + r"\par" for text in extra)
        lines.append("}")
    return "\n".join(lines) + "\n"


def to_latex(table: Table, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(render_latex(table), encoding="utf-8")
