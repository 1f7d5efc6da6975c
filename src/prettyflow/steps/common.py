"""Helpers shared by the steps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from prettyflow.errors import InputError


def aligned(
    frame: pd.DataFrame,
    other: pd.DataFrame,
    what: str,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """``other`` reordered to ``frame``'s ids; every id must be present."""
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
            f"{what} has no row for ids {missing[:5]}", path=path, field="id"
        )
    return indexed.loc[list(frame["id"])].reset_index()
