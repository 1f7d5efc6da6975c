"""Run summary step: the results tables' CSVs and the config -> the report's first page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prettyflow.io import write_text
from prettyflow.run_summary import summary_page


def run_summary(
    table_csvs: Sequence[str | Path],
    settings: Mapping[str, Any],
    config: Mapping[str, Any],
    root: str | Path,
    html_path: str | Path,
) -> None:
    """Write the summary page (:func:`prettyflow.run_summary.summary_page`) of the
    run of ``config`` by the workflow checked out at ``root``."""
    write_text(summary_page(table_csvs, settings, config, root), html_path)
