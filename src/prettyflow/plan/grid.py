"""The experiment grid and its names: tasks, benchmarks, subsets, families, priors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from prettyflow.datasets import DATASETS
from prettyflow.paths import Paths
from prettyflow.plan.values import (
    SFT_PREFIX,
    as_list,
    prior_applies,
    prior_subsets,
    table_definition,
)
from prettyflow.priors.sources import PRIOR_SOURCES
from prettyflow.tasks import TASKS


class Grid:
    """Which (task, benchmark, subset, family, prior) the config runs, and their files."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.paths = Paths(config["results_dir"])
        # In registry order, so tables and targets come in a stable order.
        self.tasks = {
            name: config["tasks"][name] for name in TASKS if name in config["tasks"]
        }

    def benchmarks(self, task: str) -> list[str]:
        return list(self.tasks[task]["benchmarks"])

    def subsets(self, task: str, benchmark: str) -> list[str]:
        return list(self.tasks[task]["benchmarks"][benchmark]["subsets"])

    def metrics(self, task: str, benchmark: str) -> list[str]:
        """The metrics scored on ``benchmark`` (a table shows some or all of them)."""
        return list(self.tasks[task]["benchmarks"][benchmark]["metrics"])

    def table_definition(self, task: str, benchmark: str) -> dict[str, Any]:
        """The benchmark's table (``tasks.<task>.benchmarks.<benchmark>.table``)."""
        return table_definition(self.tasks[task]["benchmarks"][benchmark])

    def grid(self) -> list[tuple[str, str, str]]:
        """Every (task, benchmark, subset)."""
        return [
            (task, benchmark, subset)
            for task in self.tasks
            for benchmark in self.benchmarks(task)
            for subset in self.subsets(task, benchmark)
        ]

    def is_configured(self, task: str, benchmark: str) -> bool:
        return task in self.tasks and benchmark in self.tasks[task]["benchmarks"]

    def benchmark(self, task: str, benchmark: str):
        """The benchmark's registry entry, which must serve ``task``."""
        impl = DATASETS.get(benchmark)
        if impl.task != task:
            raise ValueError(f"benchmark {benchmark!r} is for {impl.task}, not {task}")
        return impl

    def language_names(self, *codes: str) -> dict[str, str]:
        langs = self.config["languages"]
        return {code: langs[code]["name"] for code in dict.fromkeys(codes)}

    # --------------------------------------------------------------- families
    def families(self) -> list[str]:
        return list(self.config["families"])

    def foundation(self, family: str) -> str:
        return self.config["families"][family]["foundation"]

    def sft_models(self, family: str) -> list[str]:
        return list(self.config["families"][family]["sft"])

    def sft_reference(self, family: str) -> str:
        return self.config["families"][family]["sft_reference"]

    def sft_reference_system(self, family: str) -> str:
        return f"{SFT_PREFIX}{self.sft_reference(family)}"

    # ----------------------------------------------------------------- priors
    def prior_sources(
        self, task: str, benchmark: str | None = None, subset: str | None = None
    ) -> list[str]:
        """The task's prior sources, in registry (table) order.

        With ``benchmark`` (and ``subset``): those that apply there
        (``tasks.<task>.priors.<source>.benchmarks``).
        """
        return [
            name
            for name in PRIOR_SOURCES
            if name in self.tasks[task]["priors"]
            and (benchmark is None or self.prior_subsets(task, name, benchmark))
            and (subset is None or self.prior_applies(task, name, benchmark, subset))
        ]

    def prior_ks(self, task: str, source: str) -> list[int]:
        return as_list(self.tasks[task]["priors"][source]["k"])

    def prior_applies(
        self, task: str, source: str, benchmark: str, subset: str
    ) -> bool:
        return prior_applies(self.tasks[task], source, benchmark, subset)

    def prior_subsets(self, task: str, source: str, benchmark: str) -> list[str]:
        """The subsets of ``benchmark`` the task's ``source`` prior applies to."""
        return prior_subsets(self.tasks[task], source, benchmark)

    # ------------------------------------------------------------------ files
    def data_path(self, task: str, benchmark: str, subset: str) -> str:
        return self.paths.path("data", task=task, benchmark=benchmark, subset=subset)

    def system_files(
        self,
        kind: str,
        task: str,
        benchmark: str,
        family: str,
        pairs: Iterable[tuple[str, str]],
    ) -> list[str]:
        """One ``kind`` file (decode, score_corpus, ...) per (subset, system)."""
        return [
            self.paths.path(
                kind,
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
                system=system,
            )
            for subset, system in pairs
        ]

    @staticmethod
    def wildcard_pattern(names: Iterable[str]) -> str:
        return "|".join(re.escape(name) for name in names)
