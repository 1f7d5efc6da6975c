"""Inputs and params of the table rules (aggregate.smk), and the tables' targets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prettyflow.metrics import METRICS
from prettyflow.paths import DICTIONARY_TABLE_EXTENSIONS, TABLE_EXTENSIONS
from prettyflow.plan.values import System
from prettyflow.priors.sources import PRIOR_SOURCES
from prettyflow.tasks import TASKS

if TYPE_CHECKING:
    from prettyflow.plan import Plan


class TableJobs:
    """Rules results_table, prior_accuracy_table and dictionary_statistics.

    A main table shows every system of :meth:`Systems.main` on every subset of its
    benchmark. A prior that does not apply to a subset
    (``tasks.<task>.priors.<source>.benchmarks``) is not decoded there: its cells
    are ``n/a`` with a footnote saying so (``not_configured``), and, as for any
    missing score, the averages and %SFT of every row leave that subset out.
    """

    def __init__(self, plan: Plan):
        self.plan = plan
        self.grid = plan.grid
        self.paths = plan.paths

    def targets(self) -> list[str]:
        """Every main table and Table 4 (prior accuracy) and Table 9 (dictionaries)."""
        targets = []
        for task in self.grid.tasks:
            for benchmark in self.grid.benchmarks(task):
                for family in self.grid.families():
                    names = {"task": task, "benchmark": benchmark, "family": family}
                    targets += [
                        self.paths.path("table", ext=ext, **names)
                        for ext in TABLE_EXTENSIONS
                    ]
                    if TASKS.get(task).prior_accuracy and self.grid.prior_sources(
                        task, benchmark
                    ):
                        targets += [
                            self.paths.path("prior_accuracy", ext=ext, **names)
                            for ext in TABLE_EXTENSIONS
                        ]
        if self.grid.config.get("dictionaries"):
            targets += [
                self.paths.path("dictionary_table", ext=ext)
                for ext in DICTIONARY_TABLE_EXTENSIONS
            ]
        return targets

    # ------------------------------------------------------------ main tables
    def _cells(
        self, task: str, benchmark: str, family: str
    ) -> tuple[list[tuple[str, str]], list[tuple[str, System]]]:
        """The main table's (subset, system name) decoded, and (subset, system) not."""
        systems = self.plan.systems.main(task, benchmark, family)
        decoded, absent = [], []
        for subset in self.grid.subsets(task, benchmark):
            here = self.plan.systems.decoded(task, benchmark, family, subset)
            for system in systems:
                if system in here:
                    decoded.append((subset, system.name))
                else:
                    absent.append((subset, system))
        return decoded, absent

    def files(self, kind: str, task: str, benchmark: str, family: str) -> list[str]:
        """The score files (``score_corpus`` or ``score_samples``) of a main table."""
        decoded, _ = self._cells(task, benchmark, family)
        return self.grid.system_files(kind, task, benchmark, family, decoded)

    def settings(self, task: str, benchmark: str, family: str) -> dict[str, Any]:
        """A main table's rows, columns and definition (prettyflow.tables)."""
        definition = self.grid.table_definition(task, benchmark)
        systems = [s.name for s in self.plan.systems.main(task, benchmark, family)]
        settings = self.view_settings(
            task,
            benchmark,
            family,
            definition,
            self.grid.subsets(task, benchmark),
            systems,
            definition["metrics"],
            f"{definition['name']}: {{}}",
        )
        _, absent = self._cells(task, benchmark, family)
        if absent:  # only then, so that other tables' params stay as they were
            settings["not_configured"] = [
                {
                    "system": system.name,
                    "subset": subset,
                    "reason": f"the {PRIOR_SOURCES.get(system.prior_source).title} "
                    "is not configured on this subset "
                    f"(tasks.{task}.priors.{system.prior_source}.benchmarks)",
                }
                for subset, system in absent
            ]
        return settings

    def report_labels(self, task: str, benchmark: str, family: str) -> dict[str, str]:
        """A main table's labels in the Snakemake report: its name (e.g. Table 1)."""
        name = self.grid.table_definition(task, benchmark)["name"]
        return {"table": name, "model family": family}

    def view_settings(
        self,
        task: str,
        benchmark: str,
        family: str,
        definition: dict[str, Any],
        subsets: list[str],
        system_names: list[str],
        metrics: list[str],
        title: str = "{}",
    ) -> dict[str, Any]:
        """A table of ``system_names`` on ``subsets`` (a main table or an analysis's)."""
        systems = [
            self.plan.systems.get(task, benchmark, family, name)
            for name in system_names
        ]
        labels = {s.name: self.plan.systems.label(task, s) for s in systems}
        labels.update({m: METRICS.get(m).label for m in metrics})
        labels.update({subset: subset.title() for subset in subsets})
        return {
            "task": task,
            "benchmark": benchmark,
            "family": family,
            "title": title.format(f"{task} on {benchmark}, {family}"),
            "subsets": subsets,
            "metrics": metrics,
            "systems": [s.name for s in systems],
            "labels": labels,
            "sft_systems": [s.name for s in systems if s.chat],
            "reference_system": self.grid.sft_reference_system(family),
            "sft_metrics": definition["sft_metrics"],
            "sft_ratio": definition["sft_ratio"],
            "reference": definition["reference"],
            "near_zero_threshold": definition["near_zero_threshold"],
            "blocks": definition["blocks"],
            "bootstrap": self.bootstrap_settings(),
        }

    def bootstrap_settings(self) -> dict[str, Any]:
        """Paired bootstrap of every table (``analysis.bootstrap``, sacrebleu's defaults)."""
        bootstrap = self.grid.config["analysis"]["bootstrap"]
        # In one order whatever the config's: Snakemake compares params as text.
        return {key: bootstrap[key] for key in ("resamples", "seed", "confidence")}

    # ---------------------------------------------------- Table 4 (prior accuracy)
    def prior_tables(self, task: str, benchmark: str, family: str) -> list[str]:
        """Every prior file of the benchmark's main table."""
        return [
            self.paths.path(
                "prior",
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
                source=source,
                k=k,
            )
            for subset in self.grid.subsets(task, benchmark)
            for source in self.grid.prior_sources(task, benchmark, subset)
            for k in self.grid.prior_ks(task, source)
        ]

    def prior_accuracy_title(self, task: str, benchmark: str, family: str) -> str:
        return f"Table 4: accuracy of the prior tags, {task} on {benchmark}, {family}"

    def prior_labels(self, task: str) -> dict[str, str]:
        """Row labels of the prior-accuracy table, keyed ``<source>-k<k>``."""
        labels = {}
        for source in self.grid.prior_sources(task):
            name = PRIOR_SOURCES.get(source).title
            ks = self.grid.prior_ks(task, source)
            for k in ks:
                labels[f"{source}-k{k}"] = f"{name}, k={k}" if len(ks) > 1 else name
        return labels
