"""Section 2.2 (Figures 2-4): the next-token decisions of the foundation model and
its SFT reference at the same prefix, with and without one prior token.

``analysis.decision_space``: its runs and ``max_positions``; one job per subset
(rule ``decision_space``) teacher-forces both models on the SFT reference's
answers, and rule ``decision_space_figures`` draws the figures of a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prettyflow.errors import InputError
from prettyflow.plan.analyses.base import Analysis
from prettyflow.plan.models import configured_backend


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

    @classmethod
    def check_settings(
        cls, config: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> None:
        """The teacher-forced models run on backends that give full-vocabulary logits."""
        from prettyflow.backends import MODEL_BACKENDS

        if not settings.get("runs"):
            return
        capable = [
            name for name, backend in MODEL_BACKENDS.items() if backend.teacher_forcing
        ]
        for family, spec in config["families"].items():
            for role in ("foundation", "sft_reference"):
                if spec[role] not in config["models"]:
                    continue  # named by the families check
                backend, key = configured_backend(config["models"], spec[role])
                if not MODEL_BACKENDS.get(backend).teacher_forcing:
                    raise InputError(
                        f"backend {backend!r} gives no teacher-forced logits, which "
                        f"analysis.{cls.name} needs for families.{family}.{role} "
                        f"({spec[role]!r}); backends that do: {', '.join(capable)}",
                        field=key,
                    )
