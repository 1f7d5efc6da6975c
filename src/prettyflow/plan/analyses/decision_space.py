"""Section 2.2 (Figures 2-4): the next-token decisions of the foundation model and
its SFT reference at the same prefix, with and without one prior token.

``analysis.decision_space``: its runs and ``max_positions``; one job per subset
(rule ``decision_space``) teacher-forces both models on the SFT reference's
answers, and rule ``decision_space_figures`` draws the figures of a run.
"""

from __future__ import annotations

from typing import Any

from prettyflow.plan.analyses.base import Analysis


class DecisionSpace(Analysis):
    name = "decision_space"

    def targets(self) -> list[str]:
        return [
            self.plan.paths.path(
                "decision_space_figures",
                task=run.task,
                benchmark=run.benchmark,
                family=family,
            )
            for run in self.runs()
            for family in self.plan.grid.families()
        ]

    def inputs(
        self, task: str, benchmark: str, family: str, subset: str
    ) -> dict[str, Any]:
        grid, models = self.plan.grid, self.plan.models
        return {
            "decodes": self.plan.paths.path(
                "decode",
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
                system=grid.sft_reference_system(family),
            ),
            "foundation": models.inputs(grid.foundation(family)),
            "sft": models.inputs(grid.sft_reference(family)),
        }

    def job_settings(self, family: str) -> dict[str, Any]:
        grid, models = self.plan.grid, self.plan.models
        return {
            "foundation": models.settings(grid.foundation(family)),
            "sft": models.settings(grid.sft_reference(family)),
            "max_positions": self.settings["max_positions"],
        }

    def tables(self, task: str, benchmark: str, family: str) -> list[str]:
        """The per-subset tables the figures of a run are drawn from."""
        return [
            self.plan.paths.path(
                "decision_space",
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
            )
            for subset in self.run(task, benchmark).subsets
        ]

    def figure_label(self, benchmark: str, family: str) -> str:
        return f"{family} on {benchmark}"
