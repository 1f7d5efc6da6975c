"""Result tables in the paper's layout: systems x (subset, metric), averages, %SFT.

A table is defined by (all but the first two have defaults, see :func:`build_table`):

- ``metrics``: the metrics shown, a column per (subset, metric) cell;
- ``sft_metrics``: those of them whose cells feed %SFT (default: every shown metric;
  Table 1 shows spBLEU and COMET, Table 5 also BLEU);
- ``blocks``: groups of subsets, each with its own ``Avg.`` per metric and %SFT (Table
  1's English-centric and non-English-centric directions); default one block of every
  subset, without a name;
- ``sft_ratio``, the %SFT formula over a block's %SFT cells:

  - ``"mean_of_cell_ratios"`` (Tables 1 and 2): the mean over the cells of
    ``100 * system / reference``. A reference cell close to zero
    (``|reference| < near_zero_threshold``) makes its ratio explode (Table 2's Ar-Ru
    ROUGE-2 of 0.1 turns 0.6 into 600%), so such cells are flagged (a marker on the
    reference value and a footnote naming the cell and every system's ratio) and the
    table also reports ``%SFT (excl. flagged)``, the mean over the other cells.
  - ``"ratio_of_averages"`` (Tables 3 and 6): ``100 * mean(system's cells) /
    mean(reference's cells)``; the table then also shows this average (``Avg. all``,
    or ``Avg. BLEU+COMET`` when not every shown metric feeds %SFT).

- ``reference``, what a cell is compared with: ``"sft_reference"`` (the family's
  SFT reference system, Tables 1, 3 and 6) or ``"best_sft"`` (in each cell the
  highest score of the SFT systems, Table 2's "the best SFT model");
- ``lower_is_better``: shown metrics where a lower score is better (the
  wrong-language rate). They never feed %SFT (not by default, and naming one in
  ``sft_metrics`` is an error); each block shows them as a column group of their
  own after its %SFT (their cells per subset, then their ``Avg.``), a note says
  lower is better, and the best SFT model of such a cell is the lowest.

SFT systems (the reference and those in ``sft_systems``) show ``-`` for %SFT.
A missing score (absent, None or NaN, e.g. spBLEU without its SentencePiece model)
is shown as ``n/a`` with a footnote giving the reason. So that averages stay
comparable between rows, a (subset, metric) cell missing for any system is left out
of every system's averages and %SFT; a note says which cells were left out. A %SFT
none of whose cells is left is ``n/a``. The notes under the table state the %SFT
definition: its metrics, formula, reference and blocks.
Numbers are shown with one decimal; computations use the unrounded inputs.

A table may carry :class:`Intervals` (paired-bootstrap confidence intervals and
p-values against the reference, computed by :mod:`prettyflow.bootstrap`). The CSV
then has, after each column, ``<header> 95% low`` and ``<header> 95% high`` and,
after each cell and ``Avg.`` column, ``<header> p``; Markdown and LaTeX show
``value [low, high]`` and mark with ``*`` the values of non-SFT systems that
differ from the reference at p < 1 - confidence (0.05 for 95% intervals).

Long because one table's arithmetic (cells, averages, %SFT by formula and reference,
flags, footnotes, intervals) and its renderings share the Table and Column model, and
each renderer is short; the renderers are the natural next split.
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
# "sft_reference": the family's SFT reference; "best_sft": per cell, the best SFT system.
SFT_REFERENCES = ("sft_reference", "best_sft")
AVERAGE_GROUP = "Avg."
ALL_METRICS = "all"
SFT_GROUP = "%SFT"
SFT_EXCLUDING_FLAGGED_GROUP = "%SFT (excl. flagged)"
NOT_AVAILABLE = "n/a"
NOT_APPLICABLE = "-"
FLAG_MARKER = "†"
DEFAULT_MISSING_REASON = "no score"
BEST_SFT_TEXT = "the best SFT model in each cell"


@dataclass(frozen=True)
class Block:
    """Subsets with their own ``Avg.`` and %SFT; ``name`` heads them ("" for none)."""

    name: str
    subsets: tuple[str, ...]


@dataclass(frozen=True)
class Column:
    group: str  # subset, "Avg.", "%SFT" or "%SFT (excl. flagged)"
    metric: str  # metric name, "all" (or "m1+m2") or "" for the %SFT columns
    block: str = ""  # the block's name; "" for a table of one unnamed block


@dataclass(frozen=True)
class Intervals:
    """Confidence intervals and paired p-values of a table's values, by (row, column).

    ``low``/``high`` are None where the table shows ``n/a`` or ``-`` or where the
    value is undefined on some resample (``notes`` say where). ``p_values`` hold
    the paired p-value against the table's reference (``reference``: the reference
    system's name, or :data:`BEST_SFT_TEXT`) for the cell and ``Avg.`` columns of
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
    ``reference_values[column]`` what the non-SFT values of a cell or ``Avg.``
    column are compared with (the reference system's value, or the mean of the
    best SFT cells), None for the %SFT columns; ``reference`` names the reference
    system, or is :data:`BEST_SFT_TEXT`; ``intervals``, when given, the bootstrap
    intervals and p-values.
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
    reference_values: list[float | None] = field(default_factory=list)
    reference: str = ""

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def column_index(
        self, group: str, metric: str = "", block: str | None = None
    ) -> int:
        """The column of ``group`` and ``metric`` (in ``block``, needed when several
        blocks have that column, e.g. their ``Avg.``)."""
        found = [
            index
            for index, column in enumerate(self.columns)
            if (column.group, column.metric) == (group, metric)
            and (block is None or column.block == block)
        ]
        if len(found) != 1:
            where = f" in block {block!r}" if block is not None else ""
            raise KeyError(
                f"{len(found)} columns {group!r} {metric!r}{where}"
                + ("; name the block" if len(found) > 1 else "")
            )
        return found[0]

    def value(
        self, system: str, group: str, metric: str = "", block: str | None = None
    ) -> float | None:
        row = self.systems.index(system)
        return self.values[row][self.column_index(group, metric, block)]

    def frame(self) -> pd.DataFrame:
        """Numbers (NaN for n/a and -), indexed by system, columns (group, metric),
        or (block, group, metric) when the blocks have names."""
        named = any(column.block for column in self.columns)
        return pd.DataFrame(
            [[math.nan if v is None else v for v in row] for row in self.values],
            index=pd.Index(self.systems, name="system"),
            columns=pd.MultiIndex.from_tuples(
                [
                    (c.block, c.group, c.metric) if named else (c.group, c.metric)
                    for c in self.columns
                ]
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


def _check_choice(value: str, choices: Sequence[str], field_name: str) -> None:
    if value not in choices:
        raise InputError(
            f"unknown {value!r}; expected one of {', '.join(choices)}",
            field=field_name,
        )


def table_blocks(
    blocks: Sequence[Block | Mapping[str, Any] | Sequence[Any]] | None,
    subsets: Sequence[str],
) -> list[Block]:
    """Checked blocks: each a :class:`Block`, a ``{"name", "subsets"}`` mapping or a
    ``(name, subsets)`` pair; together they hold every subset once. None: one
    unnamed block of every subset."""
    if blocks is None:
        return [Block("", tuple(subsets))]
    checked: list[Block] = []
    owner: dict[str, str] = {}
    for index, block in enumerate(blocks):
        if isinstance(block, Block):
            name, members = block.name, block.subsets
        elif isinstance(block, Mapping):
            name, members = block.get("name"), block.get("subsets")
        else:
            name, members = block
        where = f"blocks[{index}]"
        if not isinstance(name, str) or (len(blocks) > 1 and not name.strip()):
            raise InputError(f"expected a block name, got {name!r}", field=where)
        if any(other.name == name for other in checked):
            raise InputError(f"a second block named {name!r}", field=where)
        members = _check_names(members or [], f"{where}.subsets")
        for subset in members:
            if subset not in subsets:
                raise InputError(
                    f"{subset!r} is not one of the subsets {list(subsets)}",
                    field=f"{where}.subsets",
                )
            if subset in owner:
                raise InputError(
                    f"{subset!r} is already in block {owner[subset]!r}",
                    field=f"{where}.subsets",
                )
            owner[subset] = name
        checked.append(Block(name, tuple(members)))
    missing = [subset for subset in subsets if subset not in owner]
    if missing:
        raise InputError(f"subsets in no block: {missing}", field="blocks")
    return checked


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
    sft_metrics: Sequence[str] | None = None,
    reference: str = "sft_reference",
    blocks: Sequence[Block | Mapping[str, Any] | Sequence[Any]] | None = None,
    lower_is_better: Sequence[str] = (),
) -> Table:
    """Build a table from ``scores`` (dicts with system, subset, metric, score and an
    optional ``reason`` shown when score is None); see the module docstring.

    ``subsets``, ``metrics`` and ``systems`` give the order (``blocks``, when given,
    the order of the subsets); ``sft_metrics`` (default ``metrics`` except those in
    ``lower_is_better``) the metrics whose cells feed %SFT; ``reference`` one of :data:`SFT_REFERENCES`;
    ``labels`` maps names to display text (default: the names themselves).
    """
    subsets = _check_names(subsets, "subsets")
    metrics = _check_names(metrics, "metrics")
    systems = _check_names(systems, "systems")
    lower = [m for m in metrics if m in set(lower_is_better)]
    sft_metrics = _check_names(
        [m for m in metrics if m not in lower] if sft_metrics is None else sft_metrics,
        "sft_metrics",
    )
    for metric in sft_metrics:
        if metric not in metrics:
            raise InputError(
                f"{metric!r} is not one of the metrics shown {metrics}",
                field="sft_metrics",
            )
        if metric in lower:
            raise InputError(
                f"{metric!r} is better when lower: it cannot feed %SFT",
                field="sft_metrics",
            )
    _check_choice(sft_ratio, SFT_RATIOS, "sft_ratio")
    _check_choice(reference, SFT_REFERENCES, "reference")
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
    checked_blocks = table_blocks(blocks, subsets)
    values, reasons = _collect_scores(scores, subsets, metrics, systems)
    sft_set = [s for s in systems if s == reference_system or s in sft_systems]
    builder = _TableBuilder(
        _Definition(
            blocks=checked_blocks,
            metrics=metrics,
            sft_metrics=[m for m in metrics if m in sft_metrics],  # in column order
            sft_ratio=sft_ratio,
            reference=reference,
            threshold=near_zero_threshold,
            lower_is_better=lower,
        ),
        systems,
        reference_system,
        sft_set,
        dict(labels or {}),
        values,
        reasons,
    )
    return builder.build()


@dataclass(frozen=True)
class _Definition:
    blocks: list[Block]
    metrics: list[str]
    sft_metrics: list[str]
    sft_ratio: str
    reference: str
    threshold: float
    lower_is_better: list[str] = field(default_factory=list)

    @property
    def higher_is_better(self) -> list[str]:
        """The shown metrics before %SFT (all but the lower-is-better ones)."""
        return [m for m in self.metrics if m not in self.lower_is_better]

    @property
    def sft_average_key(self) -> str:
        """The metric of the ``Avg.`` column that ratio_of_averages divides."""
        if self.sft_metrics == self.metrics:
            return ALL_METRICS
        return "+".join(self.sft_metrics)


Cell = tuple[str, str]  # (subset, metric)


class _TableBuilder:
    """The steps of :func:`build_table`, sharing its inputs."""

    def __init__(
        self,
        definition: _Definition,
        systems: list[str],
        reference_system: str,
        sft_set: list[str],
        labels: dict[str, str],
        values: dict[tuple[str, str, str], float],
        reasons: dict[tuple[str, str, str], str],
    ):
        self.definition = d = definition
        self.systems, self.reference_system = systems, reference_system
        self.sft_set = sft_set
        self.values, self.reasons = values, reasons
        self.labels = labels
        key = d.sft_average_key
        if key != ALL_METRICS and key not in d.metrics and key not in labels:
            labels[key] = "+".join(self.label(m) for m in d.sft_metrics)
        self.subsets = [subset for block in d.blocks for subset in block.subsets]
        self.cells = [(s, m) for s in self.subsets for m in d.metrics]
        # A cell enters averages only if every system has it, so all rows average
        # the same cells.
        self.usable = [
            cell for cell in self.cells if all((s, *cell) in values for s in systems)
        ]
        self.reference_cells = {
            cell: value
            for cell in self.cells
            if (value := self._reference_cell(cell)) is not None
        }
        self.footnotes: list[str] = []
        self.notes: list[str] = []
        self.undefined_sft: list[tuple[str, str]] = []  # (system, block)
        # Near-zero reference cells of %SFT (mean_of_cell_ratios only).
        self.flagged = (
            [
                cell
                for block in d.blocks
                for cell in self._sft_cells(block)
                if self._near_zero(self.reference_cells[cell])
            ]
            if d.sft_ratio == "mean_of_cell_ratios"
            else []
        )
        self.flagged_holders = {
            cell: self._reference_holders(cell) for cell in self.flagged
        }

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def _reference_cell(self, cell: Cell) -> float | None:
        """The reference's score in a cell; for best_sft the highest SFT score
        (None unless every SFT system is scored there)."""
        if self.definition.reference == "sft_reference":
            return self.values.get((self.reference_system, *cell))
        scores = [self.values.get((s, *cell)) for s in self.sft_set]
        if None in scores:
            return None
        return (
            min(scores) if cell[1] in self.definition.lower_is_better else max(scores)
        )

    def _reference_holders(self, cell: Cell) -> list[str]:
        """The SFT systems whose score is the reference of ``cell``."""
        if self.definition.reference == "sft_reference":
            return [self.reference_system]
        best = self.reference_cells[cell]
        return [s for s in self.sft_set if self.values[(s, *cell)] == best]

    def _block_cells(self, block: Block, metrics: Sequence[str]) -> list[Cell]:
        return [c for c in self.usable if c[0] in block.subsets and c[1] in metrics]

    def _sft_cells(self, block: Block) -> list[Cell]:
        return self._block_cells(block, self.definition.sft_metrics)

    def _value(self, system: str, cell: Cell) -> float:
        return self.values[(system, *cell)]

    def _near_zero(self, value: float) -> bool:
        # A zero is flagged at any threshold.
        return value == 0 or abs(value) < self.definition.threshold

    def _ratio(self, system: str, cell: Cell) -> float | None:
        reference = self.reference_cells[cell]
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
        self._no_sft_cells_footnote()
        self.notes += self._definition_notes()
        return Table(
            systems=self.systems,
            columns=columns,
            values=rows_values,
            texts=rows_texts,
            markers=markers,
            footnotes=self.footnotes,
            notes=self.notes,
            labels=self.labels,
            reference_values=[self._reference_value(c) for c in columns],
            reference=(
                BEST_SFT_TEXT
                if self.definition.reference == "best_sft"
                else self.reference_system
            ),
        )

    def _listing(self, names: Sequence[str]) -> str:
        labels = [self.label(name) for name in names]
        if len(labels) < 2:
            return "".join(labels)
        return ", ".join(labels[:-1]) + " and " + labels[-1]

    def _definition_notes(self) -> list[str]:
        """What %SFT is: its metrics, formula, reference and blocks."""
        d = self.definition
        metrics = self._listing(d.sft_metrics)
        if d.sft_ratio == "mean_of_cell_ratios":
            formula = f"the mean over the {metrics} cells of 100 x system / reference"
        else:
            average = f"{AVERAGE_GROUP} {self.label(d.sft_average_key)}"
            formula = (
                f"100 x the mean of the system's {metrics} cells / the mean of the "
                f"reference's ({average})"
            )
        others = [m for m in d.higher_is_better if m not in d.sft_metrics]
        if others:
            formula += f"; {self._listing(others)} shown, not in {SFT_GROUP}"
        if d.reference == "best_sft":
            reference = (
                f"{BEST_SFT_TEXT} (the highest of {self._listing(self.sft_set)})"
            )
        else:
            reference = self.label(self.reference_system)
        notes = [f"{SFT_GROUP}: {formula}; reference: {reference}."]
        if d.lower_is_better:
            notes.append(
                f"{self._listing(d.lower_is_better)}: lower is better; shown after "
                f"{SFT_GROUP}, not in it."
            )
        if any(block.name for block in d.blocks):
            notes.append(
                f"{AVERAGE_GROUP} and {SFT_GROUP} per block: "
                + "; ".join(
                    f"{block.name} ({', '.join(self.label(s) for s in block.subsets)})"
                    for block in d.blocks
                )
                + "."
            )
        return notes

    def _columns(self) -> list[Column]:
        d = self.definition
        columns = []
        for block in d.blocks:
            name = block.name
            columns += [
                Column(subset, metric, name)
                for subset in block.subsets
                for metric in d.higher_is_better
            ]
            columns += [
                Column(AVERAGE_GROUP, metric, name) for metric in d.higher_is_better
            ]
            # One %SFT metric: its own Avg. column is the one divided.
            if (
                d.sft_ratio == "ratio_of_averages"
                and d.sft_average_key not in d.metrics
            ):
                columns.append(Column(AVERAGE_GROUP, d.sft_average_key, name))
            columns.append(Column(SFT_GROUP, "", name))
            if d.sft_ratio == "mean_of_cell_ratios":
                columns.append(Column(SFT_EXCLUDING_FLAGGED_GROUP, "", name))
            # Lower-is-better metrics: a group of their own after %SFT.
            columns += [
                Column(subset, metric, name)
                for subset in block.subsets
                for metric in d.lower_is_better
            ]
            columns += [
                Column(AVERAGE_GROUP, metric, name) for metric in d.lower_is_better
            ]
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
            holders = ", ".join(self.label(s) for s in self._reference_holders(cell))
            who = (
                f"the best SFT model ({holders})"
                if self.definition.reference == "best_sft"
                else f"reference {holders}"
            )
            self.footnotes.append(
                f"{FLAG_MARKER} {self.label(cell[0])} {self.label(cell[1])}: "
                f"{who} scores "
                f"{_format_number(self.reference_cells[cell])}, closer to 0 "
                f"than the near-zero threshold {self.definition.threshold:g}, so its "
                "cell ratios are unstable: "
                + ("; ".join(ratios) if ratios else "no non-SFT system")
                + f". {SFT_EXCLUDING_FLAGGED_GROUP} leaves this cell out."
            )

    def _relative(self, system: str, block: Block) -> tuple[float | None, float | None]:
        """(%SFT, %SFT excluding flagged cells) of a non-SFT system in a block."""
        cells = self._sft_cells(block)
        if not cells:
            return None, None
        if self.definition.sft_ratio == "ratio_of_averages":
            reference_mean = _mean([self.reference_cells[c] for c in cells])
            if reference_mean == 0:
                self.undefined_sft.append((system, block.name))
                return None, None
            system_mean = _mean([self._value(system, c) for c in cells])
            return 100.0 * system_mean / reference_mean, None
        ratios = {cell: self._ratio(system, cell) for cell in cells}
        if any(value is None for value in ratios.values()):
            self.undefined_sft.append((system, block.name))
            everything = None
        else:
            everything = _mean(list(ratios.values()))
        # Zero references are always flagged, so the kept ratios have no None.
        kept = [value for cell, value in ratios.items() if cell not in self.flagged]
        return everything, _mean(kept)

    def _average_cells(self, column: Column) -> list[Cell]:
        block = self._block(column.block)
        if column.metric in self.definition.metrics:
            return self._block_cells(block, [column.metric])
        return self._sft_cells(block)

    def _block(self, name: str) -> Block:
        return next(b for b in self.definition.blocks if b.name == name)

    def _reference_value(self, column: Column) -> float | None:
        if column.group == AVERAGE_GROUP:
            return _mean([self.reference_cells[c] for c in self._average_cells(column)])
        if not has_p_value(column):
            return None
        return self.reference_cells.get((column.group, column.metric))

    def _row(
        self,
        row: int,
        system: str,
        columns: list[Column],
        markers: dict[tuple[int, int], str],
    ) -> tuple[list[float | None], list[str]]:
        relative = {
            block.name: (
                (None, None)
                if system in self.sft_set
                else self._relative(system, block)
            )
            for block in self.definition.blocks
        }
        holders = self.flagged_holders
        row_values: list[float | None] = []
        row_texts: list[str] = []
        for index, column in enumerate(columns):
            text = NOT_AVAILABLE
            if column.group == AVERAGE_GROUP:
                chosen = self._average_cells(column)
                value = _mean([self._value(system, c) for c in chosen])
            elif column.group in (SFT_GROUP, SFT_EXCLUDING_FLAGGED_GROUP):
                sft_values = relative[column.block]
                value = sft_values[0 if column.group == SFT_GROUP else 1]
                if system in self.sft_set:
                    text = NOT_APPLICABLE
            else:
                cell = (column.group, column.metric)
                value = self.values.get((system, *cell))
                if cell in holders and system in holders[cell]:
                    markers[(row, index)] = FLAG_MARKER
            row_values.append(value)
            row_texts.append(text if value is None else _format_number(value))
        return row_values, row_texts

    def _in_block(self, block: str) -> str:
        return f" ({block})" if block else ""

    def _undefined_footnote(self) -> None:
        if not self.undefined_sft:
            return
        averages = self.definition.sft_ratio == "ratio_of_averages"
        if self.definition.reference == "best_sft":
            why = (
                "the best SFT cells average 0."
                if averages
                else "the best SFT score of a cell is 0."
            )
        else:
            why = f"the reference {self.label(self.reference_system)} " + (
                "averages 0." if averages else "scores 0 in a cell."
            )
        self.footnotes.append(
            f"{SFT_GROUP} is undefined ({NOT_AVAILABLE}) for "
            + ", ".join(
                self.label(s) + self._in_block(b) for s, b in self.undefined_sft
            )
            + f": {why}"
        )

    def _no_sft_cells_footnote(self) -> None:
        if len(self.systems) == len(self.sft_set):
            return
        for block in self.definition.blocks:
            if not self._sft_cells(block):
                self.footnotes.append(
                    f"{SFT_GROUP}{self._in_block(block.name)} is {NOT_AVAILABLE}: no "
                    f"{self._listing(self.definition.sft_metrics)} cell is scored for "
                    "every system."
                )


# ---------------------------------------------------------------- writers


SUMMARY_GROUPS = (AVERAGE_GROUP, SFT_GROUP, SFT_EXCLUDING_FLAGGED_GROUP)


def header_text(table: Table, column: Column) -> str:
    """``En-Zh spBLEU``, ``Avg. COMET``, ``%SFT``; a named block's averages and
    %SFT start with the block's name (``English-centric %SFT``)."""
    group = table.label(column.group)
    if column.block and column.group in SUMMARY_GROUPS:
        group = f"{column.block} {group}"
    return f"{group} {table.label(column.metric)}" if column.metric else group


def _csv_header(table: Table) -> list[str]:
    header = ["system"]
    intervals = table.intervals
    for column in table.columns:
        name = header_text(table, column)
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
        f"{intervals.significance_level:g} vs {table.label(intervals.reference)}"
        + (
            " (its average: the mean of those cells)"
            if intervals.reference == BEST_SFT_TEXT
            else ""
        )
        + ".",
        *intervals.notes,
    ]


# The readable views put the headline first: %SFT, then averages, then the cells.
READING_RANKS = {SFT_GROUP: 0, SFT_EXCLUDING_FLAGGED_GROUP: 1, AVERAGE_GROUP: 2}


def reading_columns(table: Table) -> tuple[list[int], list[int]]:
    """The columns the Markdown/HTML view shows, headline first (%SFT, %SFT (excl.
    flagged), Avg., then the per-subset cells, each in table order), and those it
    leaves out because they are ``n/a`` for every system (their footnotes say why).
    The CSV and LaTeX keep every column in the paper's order."""
    empty = [
        column
        for column in range(len(table.columns))
        if table.systems
        and all(texts[column] == NOT_AVAILABLE for texts in table.texts)
    ]
    shown = [column for column in range(len(table.columns)) if column not in empty]
    shown.sort(key=lambda column: READING_RANKS.get(table.columns[column].group, 3))
    return shown, empty


def render_markdown(table: Table) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    shown, empty = reading_columns(table)
    header = ["Models", *(header_text(table, table.columns[c]) for c in shown)]
    lines = [
        "| " + " | ".join(escape(h) for h in header) + " |",
        "|" + "|".join([":---"] + ["---:"] * len(shown)) + "|",
    ]

    def cell(row: int, column: int) -> str:
        text = _marked(table, row, column, "{}")
        if _significant(table, row, column):
            text += SIGNIFICANCE_MARKER
        interval = _interval_text(table, row, column)
        return text if interval is None else f"{text} {interval}"

    for row, system in enumerate(table.systems):
        cells = [cell(row, column) for column in shown]
        lines.append(
            "| " + " | ".join(escape(c) for c in [table.label(system), *cells]) + " |"
        )
    extra = table.footnotes + table.notes + _interval_notes(table)
    if empty:
        names = ", ".join(header_text(table, table.columns[c]) for c in empty)
        extra = [
            f"Not shown, {NOT_AVAILABLE} for every system (see above; the CSV and "
            f"LaTeX keep them): {names}."
        ] + extra
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


def _spans(keys: Sequence[Any]) -> list[tuple[Any, int, int]]:
    """(key, first column, span) of each run of equal keys; columns 1-based after
    "Models"."""
    spans: list[tuple[Any, int, int]] = []
    for index, key in enumerate(keys, start=2):
        if spans and spans[-1][0] == key:
            name, first, span = spans[-1]
            spans[-1] = (name, first, span + 1)
        else:
            spans.append((key, index, 1))
    return spans


def render_latex(table: Table) -> str:
    """A booktabs tabular with subset headers spanning their metric columns, under
    the names of the blocks (when they have names)."""
    groups = _spans([(c.block, c.group) for c in table.columns])
    top = ["Models"] + [
        rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(table.label(group))}}}"
        for (_, group), _, span in groups
    ]
    rules = " ".join(
        rf"\cmidrule(lr){{{first}-{first + span - 1}}}"
        for key, first, span in groups
        if any(c.metric for c in table.columns if (c.block, c.group) == key)
    )
    bottom = [""] + [latex_escape(table.label(c.metric)) for c in table.columns]
    lines = [
        r"\begin{tabular}{l" + "r" * len(table.columns) + "}",
        r"\toprule",
    ]
    if any(c.block for c in table.columns):
        blocks = _spans([c.block for c in table.columns])
        lines.append(
            " & ".join(
                [""]
                + [
                    rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(name)}}}"
                    for name, _, span in blocks
                ]
            )
            + r" \\"
        )
        lines.append(
            " ".join(
                rf"\cmidrule(lr){{{first}-{first + span - 1}}}"
                for _, first, span in blocks
            )
        )
    lines.append(" & ".join(top) + r" \\")
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
