"""The experiment plan: config -> file paths, systems and per-job settings.

Everything the rules need is computed here, in plain tested Python, so the ``.smk``
files only wire inputs to outputs: a rule reaches a method of the plan through
:class:`from_wildcards`, which passes the job's wildcards as keyword arguments.
Each ``settings`` method returns the slice of the config that one job depends on
and nothing else: Snakemake compares these params between runs, so changing one
prior source's settings reruns exactly the jobs that use it. What differs between
tasks, benchmarks, prior sources, metrics and analyses comes from their
registries; the plan never branches on one of their names.

:class:`Plan` composes the parts, by concern:

- ``grid`` (:mod:`.grid`): tasks, benchmarks, subsets, families, where priors apply;
- ``models`` (:mod:`.models`): model settings and inputs, training, GGUF;
- ``compute`` (:mod:`.compute`): resources per stage and shards;
- ``systems`` (:mod:`.systems`): table rows and what is decoded where;
- ``analyses`` (:mod:`.analyses`): one entry per ``analysis.<name>``;
- per rule file: ``data``, ``priors``, ``decode``, ``score``, ``tables``,
  ``samples``, ``summary``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prettyflow.config import with_defaults
from prettyflow.plan.analyses import ANALYSES, Analysis
from prettyflow.plan.compute import Compute
from prettyflow.plan.data import DataJobs
from prettyflow.plan.decode import DecodeJobs
from prettyflow.plan.grid import Grid
from prettyflow.plan.models import Models
from prettyflow.plan.priors import PriorJobs
from prettyflow.plan.samples import SamplePageJobs
from prettyflow.plan.score import ScoreJobs
from prettyflow.plan.summary import SummaryJobs
from prettyflow.plan.systems import Systems
from prettyflow.plan.tables import TableJobs
from prettyflow.plan.values import System, canonical
from prettyflow.plan.wildcards import from_wildcards


class Plan:
    """The one object the rules hold: the parts of the plan for one config."""

    def __init__(self, config: Mapping[str, Any]):
        # The settings every job reads: the config with the schema's defaults.
        self.config = config = with_defaults(config)
        self.grid = Grid(config)
        self.paths = self.grid.paths
        self.models = Models(config, self.paths)
        self.compute = Compute(config, self.grid)
        self.analyses: dict[str, Analysis] = {
            name: entry(self) for name, entry in ANALYSES.items()
        }
        self.systems = Systems(self.grid, self.analyses)
        self.data = DataJobs(self.grid)
        self.priors = PriorJobs(self)
        self.decode = DecodeJobs(self)
        self.score = ScoreJobs(self.grid)
        self.tables = TableJobs(self)
        self.samples = SamplePageJobs(self)
        self.summary = SummaryJobs(self)

    def analysis(self, name: str) -> Analysis:
        """The analysis ``name`` (:data:`ANALYSES`), e.g. for its rules' methods."""
        ANALYSES.get(name)  # an unknown name lists the registered ones
        return self.analyses[name]

    def targets(self) -> list[str]:
        """Every table, sample page and figure the config asks for (rule ``all``)."""
        targets = [self.summary.target()]
        targets += self.tables.targets() + self.samples.targets()
        for analysis in self.analyses.values():
            targets += analysis.targets()
        return list(dict.fromkeys(targets))


__all__ = ["Plan", "System", "canonical", "from_wildcards"]
