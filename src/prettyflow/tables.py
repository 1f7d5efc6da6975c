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

A table may carry :class:`Intervals` (paired-bootstrap confidence intervals and
p-values against the reference, computed by :mod:`prettyflow.bootstrap`). The CSV
then has, after each column, ``<header> 95% low`` and ``<header> 95% high`` and,
after each cell and ``Avg.`` column, ``<header> p``; Markdown and LaTeX show
``value [low, high]`` and mark with ``*`` the values of non-SFT systems that
differ from the reference at p < 1 - confidence (0.05 for 95% intervals).
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


@dataclass(frozen=True)
class Intervals:
    """Confidence intervals and paired p-values of a table's values, by (row, column).

    ``low``/``high`` are None where the table shows ``n/a`` or ``-`` or where the
    value is undefined on some resample (``notes`` say where). ``p_values`` hold
    the paired p-value against ``reference`` for the cell and ``Avg.`` columns of
    the other non-SFT systems, None elsewhere.
    """

    low: list[list[float | None]]
    high: list[list[float | None]]
    p_values: list[list[float | None]]
    reference: str
    confidence: float
    resamples: int
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def significance_level(self) -> float:
        return round(1.0 - self.confidence, 12)

    def percent(self) -> str:
        """The confidence as shown in headers and notes, e.g. ``"95%"``."""
        return f"{100 * self.confidence:g}%"

    def significant(self, row: int, column: int) -> bool:
        p_value = self.p_values[row][column]
        return p_value is not None and p_value < self.significance_level


@dataclass
class Table:
    """A built table: numbers, their display text, markers and footnotes.

    ``values[row][column]`` is the number or None (shown as ``texts``: ``n/a`` or
    ``-``); ``markers`` holds the flag marker of a cell, keyed by (row, column);
    ``intervals``, when given, the bootstrap intervals and p-values.
    """

    systems: list[str]
    columns: list[Column]
    values: list[list[float | None]]
    texts: list[list[str]]
    markers: dict[tuple[int, int], str] = field(default_factory=dict)
    footnotes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    intervals: Intervals | None = None

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


def _format_p_value(value: float) -> str:
    return f"{value:.4f}"


def has_p_value(column: Column) -> bool:
    """Cells and averages are compared with the reference; %SFT columns are not."""
    return column.group not in (SFT_GROUP, SFT_EXCLUDING_FLAGGED_GROUP)


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
    for name in [reference_system, *sft_systems]:
        if name not in systems:
            field_name = (
                "reference_system" if name == reference_system else "sft_systems"
            )
            raise InputError(
                f"{name!r} is not one of the systems {systems}", field=field_name
            )
    values, reasons = _collect_scores(scores, subsets, metrics, systems)
    builder = _TableBuilder(
        subsets,
        metrics,
        systems,
        reference_system,
        {reference_system, *sft_systems},
        sft_ratio,
        near_zero_threshold,
        dict(labels or {}),
        values,
        reasons,
    )
    return builder.build()


class _TableBuilder:
    """The steps of :func:`build_table`, sharing its inputs."""

    def __init__(
        self,
        subsets: list[str],
        metrics: list[str],
        systems: list[str],
        reference: str,
        sft_set: set[str],
        sft_ratio: str,
        near_zero_threshold: float,
        labels: dict[str, str],
        values: dict[tuple[str, str, str], float],
        reasons: dict[tuple[str, str, str], str],
    ):
        self.subsets, self.metrics, self.systems = subsets, metrics, systems
        self.reference, self.sft_set = reference, sft_set
        self.sft_ratio, self.threshold = sft_ratio, near_zero_threshold
        self.labels, self.values, self.reasons = labels, values, reasons
        self.cells = [(subset, metric) for subset in subsets for metric in metrics]
        # A cell enters averages only if every system has it, so all rows average
        # the same cells.
        self.usable = [
            cell for cell in self.cells if all((s, *cell) in values for s in systems)
        ]
        self.footnotes: list[str] = []
        self.notes: list[str] = []
        self.undefined_sft: list[str] = []
        # Near-zero reference cells (mean_of_cell_ratios only).
        self.flagged = (
            [c for c in self.usable if self._near_zero(self._value(reference, c))]
            if sft_ratio == "mean_of_cell_ratios"
            else []
        )

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def _value(self, system: str, cell: tuple[str, str]) -> float:
        return self.values[(system, *cell)]

    def _near_zero(self, value: float) -> bool:
        # A zero is flagged at any threshold.
        return value == 0 or abs(value) < self.threshold

    def _ratio(self, system: str, cell: tuple[str, str]) -> float | None:
        reference = self._value(self.reference, cell)
        return None if reference == 0 else 100.0 * self._value(system, cell) / reference

    def build(self) -> Table:
        columns = self._columns()
        self._missing_footnotes()
        self._excluded_note()
        self._flag_footnotes()
        markers: dict[tuple[int, int], str] = {}
        rows_values, rows_texts = [], []
        for row, system in enumerate(self.systems):
            row_values, row_texts = self._row(row, system, columns, markers)
            rows_values.append(row_values)
            rows_texts.append(row_texts)
        self._undefined_footnote()
        description = (
            "mean over cells of 100 x system / reference"
            if self.sft_ratio == "mean_of_cell_ratios"
            else "100 x (mean of the system's cells) / (mean of the reference's cells)"
        )
        self.notes.append(
            f"{SFT_GROUP}: {description}; reference: {self.label(self.reference)}."
        )
        return Table(
            systems=self.systems,
            columns=columns,
            values=rows_values,
            texts=rows_texts,
            markers=markers,
            footnotes=self.footnotes,
            notes=self.notes,
            labels=self.labels,
        )

    def _columns(self) -> list[Column]:
        columns = [Column(subset, metric) for subset, metric in self.cells]
        columns += [Column(AVERAGE_GROUP, metric) for metric in self.metrics]
        if self.sft_ratio == "ratio_of_averages":
            columns.append(Column(AVERAGE_GROUP, ALL_METRICS))
        columns.append(Column(SFT_GROUP, ""))
        if self.sft_ratio == "mean_of_cell_ratios":
            columns.append(Column(SFT_EXCLUDING_FLAGGED_GROUP, ""))
        return columns

    def _missing_footnotes(self) -> None:
        """One footnote per reason, so that one footnote explains many cells."""
        by_reason: dict[str, dict[str, list[str]]] = {}  # reason -> metric -> places
        for subset, metric in self.cells:
            missing = [
                s for s in self.systems if (s, subset, metric) not in self.values
            ]

            reason_of = {
                s: self.reasons.get((s, subset, metric), DEFAULT_MISSING_REASON)
                for s in missing
            }
            for reason in dict.fromkeys(reason_of.values()):
                who = [s for s in missing if reason_of[s] == reason]
                scope = (
                    "all systems"
                    if len(who) == len(self.systems)
                    else ", ".join(self.label(s) for s in who)
                )
                places = by_reason.setdefault(reason, {}).setdefault(metric, [])
                places.append(f"{self.label(subset)} {self.label(metric)} ({scope})")
        for reason, by_metric in by_reason.items():
            where = []
            for metric, places in by_metric.items():
                everywhere = [
                    f"{self.label(s)} {self.label(metric)} (all systems)"
                    for s in self.subsets
                ]
                where += (
                    [f"{self.label(metric)} (all subsets, all systems)"]
                    if places == everywhere
                    else places
                )
            self.footnotes.append(f"{NOT_AVAILABLE}: {'; '.join(where)}: {reason}.")

    def _excluded_note(self) -> None:
        excluded = [cell for cell in self.cells if cell not in self.usable]
        if excluded:
            self.notes.append(
                "Averages and %SFT use only the cells scored for every system; "
                "left out: "
                + ", ".join(
                    f"{self.label(subset)} {self.label(metric)}"
                    for subset, metric in excluded
                )
                + "."
            )

    def _flag_footnotes(self) -> None:
        for cell in self.flagged:
            ratios = []
            for system in self.systems:
                if system in self.sft_set:
                    continue
                value = self._ratio(system, cell)
                shown = (
                    "undefined (division by zero)"
                    if value is None
                    else f"{_format_number(value)}%"
                )
                ratios.append(f"{self.label(system)} {shown}")
            self.footnotes.append(
                f"{FLAG_MARKER} {self.label(cell[0])} {self.label(cell[1])}: "
                f"reference {self.label(self.reference)} scores "
                f"{_format_number(self._value(self.reference, cell))}, closer to 0 "
                f"than the near-zero threshold {self.threshold:g}, so its cell ratios "
                "are unstable: "
                + ("; ".join(ratios) if ratios else "no non-SFT system")
                + f". {SFT_EXCLUDING_FLAGGED_GROUP} leaves this cell out."
            )

    def _relative(self, system: str) -> tuple[float | None, float | None]:
        """(%SFT, %SFT excluding flagged cells) for a non-SFT system."""
        if not self.usable:
            return None, None
        if self.sft_ratio == "ratio_of_averages":
            reference_mean = _mean(
                [self._value(self.reference, c) for c in self.usable]
            )
            if reference_mean == 0:
                self.undefined_sft.append(system)
                return None, None
            system_mean = _mean([self._value(system, c) for c in self.usable])
            return 100.0 * system_mean / reference_mean, None
        ratios = {cell: self._ratio(system, cell) for cell in self.usable}
        if any(value is None for value in ratios.values()):
            self.undefined_sft.append(system)
            everything = None
        else:
            everything = _mean(list(ratios.values()))
        # Zero references are always flagged, so the kept ratios have no None.
        kept = [value for cell, value in ratios.items() if cell not in self.flagged]
        return everything, _mean(kept)

    def _row(
        self,
        row: int,
        system: str,
        columns: list[Column],
        markers: dict[tuple[int, int], str],
    ) -> tuple[list[float | None], list[str]]:
        sft_values = (None, None) if system in self.sft_set else self._relative(system)
        row_values: list[float | None] = []
        row_texts: list[str] = []
        for index, column in enumerate(columns):
            text = NOT_AVAILABLE
            if column.group == AVERAGE_GROUP:
                chosen = (
                    self.usable
                    if column.metric == ALL_METRICS
                    else [c for c in self.usable if c[1] == column.metric]
                )
                value = _mean([self._value(system, c) for c in chosen])
            elif column.group in (SFT_GROUP, SFT_EXCLUDING_FLAGGED_GROUP):
                value = sft_values[0 if column.group == SFT_GROUP else 1]
                if system in self.sft_set:
                    text = NOT_APPLICABLE
            else:
                cell = (column.group, column.metric)
                value = self.values.get((system, *cell))
                if system == self.reference and cell in self.flagged:
                    markers[(row, index)] = FLAG_MARKER
            row_values.append(value)
            row_texts.append(text if value is None else _format_number(value))
        return row_values, row_texts

    def _undefined_footnote(self) -> None:
        if self.undefined_sft:
            self.footnotes.append(
                f"{SFT_GROUP} is undefined ({NOT_AVAILABLE}) for "
                + ", ".join(self.label(s) for s in self.undefined_sft)
                + f": the reference {self.label(self.reference)} "
                + (
                    "averages 0."
                    if self.sft_ratio == "ratio_of_averages"
                    else "scores 0 in a cell."
                )
            )


# ---------------------------------------------------------------- writers


def _flat_header(table: Table, column: Column) -> str:
    group = table.label(column.group)
    return f"{group} {table.label(column.metric)}" if column.metric else group


def _csv_header(table: Table) -> list[str]:
    header = ["system"]
    intervals = table.intervals
    for column in table.columns:
        name = _flat_header(table, column)
        header.append(name)
        if intervals is not None:
            header += [
                f"{name} {intervals.percent()} low",
                f"{name} {intervals.percent()} high",
            ]
            if has_p_value(column):
                header.append(f"{name} p")
    return header


def _csv_row(table: Table, row: int) -> list[str]:
    intervals = table.intervals
    if intervals is None:
        return [table.label(table.systems[row]), *table.texts[row]]

    def shown(value: float | None, format_value: Any) -> str:
        return "" if value is None else format_value(value)

    cells = [table.label(table.systems[row])]
    for index, column in enumerate(table.columns):
        cells += [
            table.texts[row][index],
            shown(intervals.low[row][index], _format_number),
            shown(intervals.high[row][index], _format_number),
        ]
        if has_p_value(column):
            cells.append(shown(intervals.p_values[row][index], _format_p_value))
    return cells


def to_csv(table: Table, path: str | Path) -> None:
    """One header row (``subset metric``), values as shown (1 decimal, n/a, -), no markers.

    With intervals, each column is followed by its interval bounds and, for cell
    and ``Avg.`` columns, the p-value against the reference (empty where none).
    """
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(_csv_header(table))
            for row in range(len(table.systems)):
                writer.writerow(_csv_row(table, row))


def _marked(table: Table, row: int, column: int, marker_format: str) -> str:
    marker = table.markers.get((row, column))
    text = table.texts[row][column]
    return text + marker_format.format(marker) if marker else text


SIGNIFICANCE_MARKER = "*"


def _interval_text(table: Table, row: int, column: int) -> str | None:
    """``[low, high]`` of a value, or None when it has no interval."""
    intervals = table.intervals
    if intervals is None:
        return None
    low, high = intervals.low[row][column], intervals.high[row][column]
    if low is None or high is None:
        return None
    return f"[{_format_number(low)}, {_format_number(high)}]"


def _significant(table: Table, row: int, column: int) -> bool:
    return table.intervals is not None and table.intervals.significant(row, column)


def _interval_notes(table: Table) -> list[str]:
    intervals = table.intervals
    if intervals is None:
        return []
    return [
        f"{intervals.percent()} paired-bootstrap intervals ({intervals.resamples} "
        f"resamples, seed {intervals.seed}); {SIGNIFICANCE_MARKER} p < "
        f"{intervals.significance_level:g} vs {table.label(intervals.reference)}.",
        *intervals.notes,
    ]


def render_markdown(table: Table) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    header = ["Models", *(_flat_header(table, c) for c in table.columns)]
    lines = [
        "| " + " | ".join(escape(h) for h in header) + " |",
        "|" + "|".join([":---"] + ["---:"] * len(table.columns)) + "|",
    ]

    def cell(row: int, column: int) -> str:
        text = _marked(table, row, column, "{}")
        if _significant(table, row, column):
            text += SIGNIFICANCE_MARKER
        interval = _interval_text(table, row, column)
        return text if interval is None else f"{text} {interval}"

    for row, system in enumerate(table.systems):
        cells = [cell(row, column) for column in range(len(table.columns))]
        lines.append(
            "| " + " | ".join(escape(c) for c in [table.label(system), *cells]) + " |"
        )
    extra = table.footnotes + table.notes + _interval_notes(table)
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

    def cell(row: int, column: int) -> str:
        text = latex_escape(_marked(table, row, column, "{}"))
        if _significant(table, row, column):
            text += rf"$^{{{SIGNIFICANCE_MARKER}}}$"
        interval = _interval_text(table, row, column)
        return text if interval is None else rf"{text}\,{{\scriptsize{interval}}}"

    for row, system in enumerate(table.systems):
        cells = [cell(row, column) for column in range(len(table.columns))]
        lines.append(" & ".join([latex_escape(table.label(system)), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    extra = table.footnotes + table.notes + _interval_notes(table)
    if extra:
        lines.append(r"\par\smallskip")
        lines.append(r"{\footnotesize")
        lines.extend(latex_escape(text) + r"\par" for text in extra)
        lines.append("}")
    return "\n".join(lines) + "\n"


def to_latex(table: Table, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(render_latex(table), encoding="utf-8")
