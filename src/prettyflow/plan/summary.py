"""Inputs and params of rule run_summary (aggregate.smk): the report's first page."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from prettyflow.plan.values import canonical

if TYPE_CHECKING:
    from prettyflow.plan import Plan


class SummaryJobs:
    """The run summary (:mod:`prettyflow.run_summary`): every results table that has
    a sample page (main tables and analysis tables), in the report's order."""

    def __init__(self, plan: Plan):
        self.plan = plan

    def target(self) -> str:
        return self.plan.paths.path("summary")

    def _pages(self) -> list[Any]:
        """The results tables in the paper's order (Table 1, 2, ...), then the rest."""
        pages = list(self.plan.samples.pages().values())

        def number(page: Any) -> float:
            title = page.settings(page.task, page.benchmark, page.family)["title"]
            match = re.match(r"Table (\d+)\b", title)
            return int(match[1]) if match else math.inf

        return sorted(pages, key=number)

    def tables(self) -> list[str]:
        """The CSV of each results table, in the order of :meth:`settings`' tables."""
        return [
            self.plan.paths.path(
                page.kind,
                task=page.task,
                benchmark=page.benchmark,
                family=page.family,
                ext="csv",
            )
            for page in self._pages()
        ]

    def settings(self) -> dict[str, Any]:
        grid = self.plan.grid
        datasets = self.plan.config.get("datasets") or {}
        return {
            "tables": [
                {
                    "title": page.settings(page.task, page.benchmark, page.family)[
                        "title"
                    ]
                }
                for page in self._pages()
            ],
            "models": canonical(self.plan.config["models"]),
            "data": [
                [
                    task,
                    benchmark,
                    ", ".join(grid.subsets(task, benchmark)),
                    str((datasets.get(benchmark) or {}).get("max_samples") or "all"),
                ]
                for task in grid.tasks
                for benchmark in grid.benchmarks(task)
            ],
            "results_dir": self.plan.config["results_dir"],
        }
