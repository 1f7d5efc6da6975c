"""Checks on workflow tables read back from Parquet: column kinds, rows aligned by id."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prettyflow.errors import InputError

# What a cell of a workflow table may hold, as read back from Parquet (lists come
# back as numpy arrays, integers as numpy integers).
COLUMN_KINDS: dict[str, Callable[[Any], bool]] = {
    "a text": lambda value: isinstance(value, str),
    "a text or null": lambda value: (
        value is None
        or isinstance(value, str)
        or (isinstance(value, float) and math.isnan(value))
    ),
    "a list of texts": lambda value: (
        isinstance(value, (list, tuple, np.ndarray))
        and all(isinstance(item, str) for item in value)
    ),
    "an integer": lambda value: (
        isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    ),
}


def check_column_kinds(
    table: pd.DataFrame, kinds: Mapping[str, str], path: str | Path | None = None
) -> None:
    """Every cell of each column holds its kind (a key of :data:`COLUMN_KINDS`).

    A table whose column has another type (int ids, a list where a text belongs)
    would otherwise be compared silently as never equal; the error names the
    file, the column and the first bad row.
    """
    for column, kind in kinds.items():
        check = COLUMN_KINDS[kind]
        for row, value in enumerate(table[column], start=1):
            if not check(value):
                shown = repr(
                    value if not isinstance(value, np.ndarray) else list(value)
                )
                raise InputError(
                    f"row {row}: expected {kind}, got {type(value).__name__} "
                    f"{shown[:60]}",
                    path=path,
                    field=column,
                )


def aligned(
    frame: pd.DataFrame,
    other: pd.DataFrame,
    what: str,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """``other`` reordered to ``frame``'s ids; every id must be present."""
    if "id" not in other.columns:
        raise InputError(
            f"{what} has no 'id' column; columns found: "
            f"{', '.join(map(str, other.columns)) or 'none'}",
            path=path,
            field="id",
        )
    repeated = other["id"][other["id"].duplicated()].tolist()
    if repeated:
        # A repeated id would silently pair one sample with two rows.
        raise InputError(
            f"{what} has repeated ids {repeated[:5]}", path=path, field="id"
        )
    indexed = other.set_index("id")
    missing = [sample_id for sample_id in frame["id"] if sample_id not in indexed.index]
    if missing:
        raise InputError(
            f"{what} has no row for ids {missing[:5]}{_id_hint(frame, other)}",
            path=path,
            field="id",
        )
    return indexed.loc[list(frame["id"])].reset_index()


def _id_hint(frame: pd.DataFrame, other: pd.DataFrame) -> str:
    """Why no id matches: an empty table, or ids written differently (int vs str)."""
    if other.empty:
        return " (it has no rows)"
    kinds = [
        ", ".join(sorted({type(value).__name__ for value in table["id"]}))
        for table in (frame, other)
    ]
    if kinds[0] != kinds[1]:
        return f" (its ids are {kinds[1]}, the data's are {kinds[0]})"
    spaced = [
        value
        for value in other["id"]
        if isinstance(value, str) and value != value.strip()
    ]
    if spaced:
        return f" (its ids have surrounding whitespace, e.g. {spaced[0]!r})"
    return ""
