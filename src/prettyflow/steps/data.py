"""Data steps: benchmarks -> Parquet, downloads, dictionaries -> Parquet and Table 9."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.datasets import DATASETS
from prettyflow.errors import InputError
from prettyflow.io import atomic_paths, read_parquet, write_text
from prettyflow.priors.dictionaries import dictionary_statistics as statistics
from prettyflow.priors.dictionaries import prepare_dictionary
from prettyflow.report import titled_markdown_page


def prepare_data(
    benchmark: str, root: str | None, output_path: str | Path, params: Mapping[str, Any]
) -> pd.DataFrame:
    """One subset of a registered benchmark, read, checked and written as Parquet."""
    return DATASETS.get(benchmark).prepare(root, output_path, params)


def download_dataset(
    dataset: str, settings: Mapping[str, Any], root: str | Path
) -> None:
    """Fetch a registered dataset into ``root`` (needs internet)."""
    DATASETS.get(dataset).download(settings, root)


def merge_dictionary(
    entries: Sequence[Mapping[str, str]], output_path: str | Path
) -> pd.DataFrame:
    return prepare_dictionary(
        [
            (entry["origin"], entry["path"], entry.get("reverse", False))
            for entry in entries
        ],
        output_path,
    )


DICTIONARY_TABLE_TITLE = "Table 9: entries and sources of the merged dictionaries"


def dictionary_statistics(
    table_paths: Sequence[str | Path],
    csv_path: str | Path,
    markdown_path: str | Path,
    html_path: str | Path | None = None,
) -> pd.DataFrame:
    """The paper's Table 9: entries and sources per merged dictionary.

    The CSV, the Markdown and (with ``html_path``) its HTML page are written
    together or not at all.
    """
    if not table_paths:
        raise InputError("no merged dictionary to describe", field="tables")
    stats = statistics(
        {Path(path).stem: read_parquet(path, "dictionary") for path in table_paths}
    )
    markdown = (
        f"## {DICTIONARY_TABLE_TITLE}\n\n" + stats.to_markdown(index=False) + "\n"
    )
    with atomic_paths(csv_path, markdown_path, html_path) as (
        csv_tmp,
        md_tmp,
        html_tmp,
    ):
        write_text(stats.to_csv(index=False), csv_tmp)
        write_text(markdown, md_tmp)
        if html_tmp is not None:
            write_text(
                titled_markdown_page(markdown, Path(markdown_path).stem), html_tmp
            )
    return stats
