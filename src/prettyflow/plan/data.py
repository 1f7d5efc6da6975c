"""Inputs and params of the data rules: benchmarks (data.smk) and dictionaries."""

from __future__ import annotations

from typing import Any

from prettyflow.plan.grid import Grid
from prettyflow.plan.values import canonical


class DataJobs:
    """Rules download_dataset, prepare_data, merge_dictionary, dictionary_statistics."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self.config = grid.config
        self.paths = grid.paths

    def root(self, benchmark: str) -> str | None:
        """``local_dir``, or the download folder when it is null; None without one."""
        settings = self.config["datasets"][benchmark]
        if "local_dir" not in settings:
            return None
        return settings["local_dir"] or self.paths.path("download", benchmark=benchmark)

    def downloads(self, benchmark: str) -> bool:
        settings = self.config["datasets"][benchmark]
        return "local_dir" in settings and not settings["local_dir"]

    def download_settings(self, benchmark: str) -> dict[str, Any]:
        return canonical(self.config["datasets"][benchmark])

    def inputs(self, task: str, benchmark: str, subset: str) -> dict[str, str]:
        """The raw files of a subset, or the download folder they will be in."""
        if self.downloads(benchmark):
            return {"download": self.paths.path("download", benchmark=benchmark)}
        return self.grid.benchmark(task, benchmark).raw_files(
            self.config["datasets"][benchmark],
            subset,
            self.config["languages"],
            self.root(benchmark),
        )

    def settings(self, task: str, benchmark: str, subset: str) -> dict[str, Any]:
        return canonical(
            self.grid.benchmark(task, benchmark).data_settings(
                self.config["datasets"][benchmark], subset, self.config["languages"]
            )
        )

    def table(self, task: str, benchmark: str, subset: str) -> str:
        """The subset's data table (the input of every job on the subset)."""
        return self.grid.data_path(task, benchmark, subset)

    def tables(self, task: str, benchmark: str) -> list[str]:
        """The data tables of every subset of the benchmark."""
        return [
            self.grid.data_path(task, benchmark, subset)
            for subset in self.grid.subsets(task, benchmark)
        ]

    # ----------------------------------------------------------- dictionaries
    def dictionary_entries(self, pair: str) -> list[dict[str, str]]:
        return canonical(self.config["dictionaries"][pair])

    def dictionary_files(self, pair: str) -> list[str]:
        return [entry["path"] for entry in self.dictionary_entries(pair)]

    def dictionary_tables(self) -> list[str]:
        return [
            self.paths.path("dictionary", pair=pair)
            for pair in self.config.get("dictionaries", {})
        ]
