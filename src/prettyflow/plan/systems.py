"""Systems: the table rows of a benchmark, and every system decoded on a subset."""

from __future__ import annotations

from collections.abc import Mapping

from prettyflow.plan.analyses import Analysis
from prettyflow.plan.grid import Grid
from prettyflow.plan.values import SFT_PREFIX, System, prior_system
from prettyflow.priors.sources import PRIOR_SOURCES

# The foundation model's rows without a prior, in the paper's order.
PROMPTING_LABEL = "{foundation} (Prompting)"
BASE_LABEL = "{foundation}"


class Systems:
    """Which systems a benchmark's table shows and which are decoded where.

    The main table of a (task, benchmark, family) shows the SFT models, Prompting
    (when the task has that template), the foundation model (``base``) and one
    +PRETTY row per prior source and k that applies to one of the benchmark's
    subsets (``tasks.<task>.priors.<source>.benchmarks``). The analyses add their
    systems to the decodes of their runs' subsets.
    """

    def __init__(self, grid: Grid, analyses: Mapping[str, Analysis]):
        self.grid = grid
        self.analyses = analyses

    def main(self, task: str, benchmark: str, family: str) -> list[System]:
        """The rows of the benchmark's table for ``family``, in the paper's order."""
        foundation = self.grid.foundation(family)
        systems = [
            System(f"{SFT_PREFIX}{model}", model, "normal", chat=True)
            for model in self.grid.sft_models(family)
        ]
        if "prompting" in self.grid.tasks[task]["templates"]:
            label = PROMPTING_LABEL.format(foundation=foundation)
            systems.append(System("prompting", foundation, "prompting", label=label))
        label = BASE_LABEL.format(foundation=foundation)
        systems.append(System("base", foundation, "normal", label=label))
        for source in self.grid.prior_sources(task, benchmark):
            for k in self.grid.prior_ks(task, source):
                systems.append(prior_system(source, k, foundation))
        return systems

    def decoded(
        self, task: str, benchmark: str, family: str, subset: str | None = None
    ) -> list[System]:
        """Every system decoded on ``benchmark`` (``subset``: only those decoded there).

        The main table's systems (less the priors that do not apply to
        ``subset``), then those the analyses add on their runs' subsets.
        """
        systems = {
            system.name: system
            for system in self.main(task, benchmark, family)
            if subset is None
            or system.prior_source is None
            or self.grid.prior_applies(task, system.prior_source, benchmark, subset)
        }
        for analysis in self.analyses.values():
            for run in analysis.runs():
                if (run.task, run.benchmark) != (task, benchmark):
                    continue
                if subset is not None and subset not in run.subsets:
                    continue
                for system in analysis.systems(run, family):
                    systems.setdefault(system.name, system)
        return list(systems.values())

    def get(self, task: str, benchmark: str, family: str, system: str) -> System:
        for candidate in self.decoded(task, benchmark, family):
            if candidate.name == system:
                return candidate
        raise KeyError(f"{task}/{benchmark}/{family}: no system {system!r}")

    def is_decoded(
        self, task: str, benchmark: str, family: str, subset: str, system: str
    ) -> bool:
        return any(
            s.name == system for s in self.decoded(task, benchmark, family, subset)
        )

    def label(self, task: str, system: System) -> str:
        """A table row's label: the model, ``+PRETTY (<source>)`` or its own."""
        if system.prior_source:
            title = PRIOR_SOURCES.get(system.prior_source).title
            main_ks = (
                self.grid.prior_ks(task, system.prior_source)
                if system.prior_source in self.grid.tasks[task]["priors"]
                else []
            )
            if main_ks and main_ks != [system.k]:
                title = f"{title}, k={system.k}"
            return f"+PRETTY ({title})"
        if system.chat:
            return system.model
        if system.label is None:
            raise ValueError(f"system {system.name!r} has no label")
        return system.label

    def all_names(self) -> list[str]:
        """Every system name of the config (the ``system`` wildcard's values)."""
        return sorted(
            {
                system.name
                for task in self.grid.tasks
                for benchmark in self.grid.benchmarks(task)
                for family in self.grid.families()
                for system in self.decoded(task, benchmark, family)
            }
        )
