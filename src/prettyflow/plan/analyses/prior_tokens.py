"""Figure 5 (section 5.3): every metric against the number of prior tokens k.

``analysis.prior_tokens.runs``: a prior source with several k on a benchmark; each
k is a system of its own on the run's subsets (rule ``prior_tokens_figure``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prettyflow.errors import InputError
from prettyflow.metrics import METRICS
from prettyflow.paths import FIGURE_EXTENSIONS
from prettyflow.plan.analyses.base import Analysis, AnalysisRun
from prettyflow.plan.values import (
    as_list,
    prior_applies,
    prior_system,
    prior_system_name,
)
from prettyflow.priors.sources import PRIOR_SOURCES
from prettyflow.tasks import TASKS


@dataclass(frozen=True)
class PriorTokensRun(AnalysisRun):
    source: str
    ks: tuple[int, ...]


class PriorTokens(Analysis):
    name = "prior_tokens"

    def make_run(self, entry, task, benchmark, subsets):
        ks = tuple(int(k) for k in as_list(entry["k"]))
        return PriorTokensRun(task, benchmark, subsets, entry["source"], ks)

    def systems(self, run, family):
        foundation = self.plan.grid.foundation(family)
        return [prior_system(run.source, k, foundation) for k in run.ks]

    def targets(self) -> list[str]:
        return [
            self.plan.paths.path(
                "prior_tokens",
                task=run.task,
                benchmark=run.benchmark,
                family=family,
                source=run.source,
                ext=ext,
            )
            for run in self.runs()
            for family in self.plan.grid.families()
            for ext in FIGURE_EXTENSIONS
        ]

    def inputs(self, task: str, benchmark: str, family: str, source: str) -> list[str]:
        """The corpus scores of the SFT reference, base and every k, per subset."""
        run = self.run(task, benchmark, source=source)
        systems = [self.plan.grid.sft_reference_system(family), "base"]
        systems += [prior_system_name(source, k) for k in run.ks]
        pairs = [(subset, system) for subset in run.subsets for system in systems]
        return self.plan.grid.system_files(
            "score_corpus", task, benchmark, family, pairs
        )

    def figure_settings(
        self, task: str, benchmark: str, family: str, source: str
    ) -> dict[str, Any]:
        """Figure 5: every metric of the benchmark against k, per subset."""
        grid = self.plan.grid
        run = self.run(task, benchmark, source=source)
        metrics = grid.metrics(task, benchmark)
        base = self.plan.systems.get(task, benchmark, family, "base")
        return {
            "task": task,
            "benchmark": benchmark,
            "family": family,
            "source": source,
            "source_title": PRIOR_SOURCES.get(source).title,
            "ks": list(run.ks),
            "subsets": list(run.subsets),
            "metrics": metrics,
            "labels": {
                **{m: METRICS.get(m).label for m in metrics},
                **{subset: subset.title() for subset in run.subsets},
                "base": self.plan.systems.label(task, base),
                grid.sft_reference_system(family): grid.sft_reference(family),
            },
            "base_system": "base",
            "reference_system": grid.sft_reference_system(family),
        }

    @classmethod
    def check_run(cls, config, settings, run, key):
        """The source is configured for the run's subsets; k within the task's limit."""
        from prettyflow.plan.analyses import ANALYSES

        source = run["source"]
        task_settings = config["tasks"][run["task"]]
        analysis_sources = {
            name: f"analysis.{analysis}.sources"
            for analysis, entry in ANALYSES.items()
            for name in entry.sources(config)
        }
        if source not in task_settings["priors"] and source not in analysis_sources:
            raise InputError(
                f"{source!r} is configured neither under tasks.{run['task']}.priors "
                "nor under "
                + (
                    ", ".join(dict.fromkeys(analysis_sources.values()))
                    or "an analysis's sources"
                ),
                field=f"{key}.source",
            )
        if source in task_settings["priors"]:
            _check_in_scope(task_settings, run, source, key)
        ks = as_list(run["k"])
        task = TASKS.get(run["task"])
        if task.max_prior_k is not None and max(ks) > task.max_prior_k:
            raise InputError(
                f"a {run['task']} prior has at most {task.max_prior_k} unit(s)",
                field=f"{key}.k",
            )


def _check_in_scope(
    task_settings: Mapping[str, Any], run: Mapping[str, Any], source: str, key: str
) -> None:
    """The task's source applies to every subset of the run."""
    benchmark = run["benchmark"]
    subsets = run.get("subsets") or task_settings["benchmarks"][benchmark]["subsets"]
    outside = [
        subset
        for subset in subsets
        if not prior_applies(task_settings, source, benchmark, subset)
    ]
    if outside:
        raise InputError(
            f"the {source} prior is not configured on {benchmark} "
            f"{', '.join(outside)} (tasks.{run['task']}.priors.{source}.benchmarks)",
            field=key,
        )
