"""Data steps: benchmarks -> Parquet, downloads, dictionaries -> Parquet and Table 9."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.io import read_parquet, write_text


def prepare_data(
    benchmark: str, root: str | None, output_path: str | Path, params: Mapping[str, Any]
) -> pd.DataFrame:
    """One subset of a registered benchmark, read, checked and written as Parquet."""
    from prettyflow.benchmarks import BENCHMARKS

    return BENCHMARKS.get(benchmark).prepare(root, output_path, params)


def download_benchmark(
    benchmark: str, settings: Mapping[str, Any], root: str | Path
) -> None:
    """Fetch a registered benchmark into ``root`` (needs internet)."""
    from prettyflow.benchmarks import BENCHMARKS

    BENCHMARKS.get(benchmark).download(settings, root)


def merge_dictionary(
    entries: Sequence[Mapping[str, str]], output_path: str | Path
) -> pd.DataFrame:
    from prettyflow.dictionaries import prepare_dictionary

    return prepare_dictionary(
        [(entry["origin"], entry["path"]) for entry in entries], output_path
    )


def dictionary_statistics(
    table_paths: Sequence[str | Path], csv_path: str | Path, markdown_path: str | Path
) -> pd.DataFrame:
    """The paper's Table 9: entries and sources per merged dictionary."""
    from prettyflow.dictionaries import dictionary_statistics as statistics

    stats = statistics({Path(path).stem: read_parquet(path) for path in table_paths})
    write_text(stats.to_csv(index=False), csv_path)
    write_text(stats.to_markdown(index=False) + "\n", markdown_path)
    return stats
