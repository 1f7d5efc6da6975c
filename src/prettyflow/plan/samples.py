"""Inputs and params of rule sample_page (aggregate.smk): every answer of a results
table beside its source and reference (:mod:`prettyflow.sample_pages`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prettyflow.metrics import METRICS

if TYPE_CHECKING:
    from prettyflow.plan import Plan


@dataclass(frozen=True)
class SamplePage:
    """The results table a page shows: its files and settings come from the table's
    owner (the main tables, or the analysis whose table it is)."""

    table: str  # the table's file stem, e.g. translation-flores-gemma
    kind: str  # the table's path kind (prettyflow.paths.RESULT_TEMPLATES)
    task: str
    benchmark: str
    family: str
    label: str  # the report's label of the page
    files: Callable[..., list[str]]  # (kind, task, benchmark, family) -> score files
    settings: Callable[..., dict[str, Any]]  # (task, benchmark, family) -> settings


class SamplePageJobs:
    """One page per results table: the main tables (Tables 1-3 and 6) and every
    analysis table listed by :meth:`Analysis.results_tables` (Table 5)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.paths = plan.paths
        self._pages: dict[str, SamplePage] | None = None

    def pages(self) -> dict[str, SamplePage]:
        """Every sample page, keyed by its table's file stem."""
        if self._pages is None:
            grid, tables = self.plan.grid, self.plan.tables
            owners = [
                ("table", "samples", tables.files, tables.settings, task, benchmark)
                for task in grid.tasks
                for benchmark in grid.benchmarks(task)
            ]
            for analysis in self.plan.analyses.values():
                owners += analysis.results_tables()
            self._pages = {}
            for kind, label, files, settings, task, benchmark in owners:
                for family in grid.families():
                    path = self.paths.path(
                        kind, task=task, benchmark=benchmark, family=family, ext="html"
                    )
                    page = SamplePage(
                        Path(path).stem,
                        kind,
                        task,
                        benchmark,
                        family,
                        label,
                        files,
                        settings,
                    )
                    self._pages[page.table] = page
        return self._pages

    def page(self, table: str) -> SamplePage:
        try:
            return self.pages()[table]
        except KeyError:
            raise KeyError(f"no results table {table!r} has a sample page") from None

    def targets(self) -> list[str]:
        return [self.paths.path("sample_page", table=table) for table in self.pages()]

    def inputs(self, table: str) -> dict[str, list[str]]:
        """The data, decodes, per-sample scores and priors of a table's page, in the
        order :func:`prettyflow.steps.samples.sample_page` pairs them; a cell the
        table marks not configured has no files."""
        page = self.page(table)
        shown = self._table_settings(page)
        grid = self.plan.grid
        absent = {(c["subset"], c["system"]) for c in shown.get("not_configured", [])}
        pairs = [
            (subset, system)
            for subset in shown["subsets"]
            for system in shown["systems"]
            if (subset, system) not in absent
        ]
        names = (page.task, page.benchmark, page.family)
        systems = {
            name: self.plan.systems.get(*names, name) for name in shown["systems"]
        }
        return {
            "data": [
                grid.data_path(page.task, page.benchmark, subset)
                for subset in shown["subsets"]
            ],
            "decodes": grid.system_files("decode", *names, pairs),
            "scores": grid.system_files("score_samples", *names, pairs),
            "priors": [
                self.paths.path(
                    "prior",
                    task=page.task,
                    benchmark=page.benchmark,
                    family=page.family,
                    subset=subset,
                    source=systems[name].prior_source,
                    k=systems[name].k,
                )
                for subset, name in pairs
                if systems[name].prior_source
            ],
        }

    def _table_settings(self, page: SamplePage) -> dict[str, Any]:
        return page.settings(page.task, page.benchmark, page.family)

    def settings(self, table: str) -> dict[str, Any]:
        """A page's rows and columns: its table's subsets and systems (and cells not
        configured), and every metric scored on its benchmark."""
        page = self.page(table)
        shown = self._table_settings(page)
        metrics = self.plan.grid.metrics(page.task, page.benchmark)
        systems = [
            self.plan.systems.get(page.task, page.benchmark, page.family, name)
            for name in shown["systems"]
        ]
        settings = {
            "task": page.task,
            "benchmark": page.benchmark,
            "family": page.family,
            "title": f"Samples: {shown['title']}",
            "subsets": shown["subsets"],
            "systems": [
                {"name": s.name, "chat": s.chat, "prior_source": s.prior_source}
                for s in systems
            ],
            "metrics": metrics,
            "labels": {
                **shown["labels"],
                **{metric: METRICS.get(metric).label for metric in metrics},
            },
        }
        if shown.get("not_configured"):
            settings["not_configured"] = shown["not_configured"]
        return settings

    def category(self, table: str) -> str:
        page = self.page(table)
        return f"{page.task} on {page.benchmark}"

    def labels(self, table: str) -> dict[str, str]:
        page = self.page(table)
        return {"table": page.label, "model family": page.family}
