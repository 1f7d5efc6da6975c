"""Inputs and params of the score rules (score.smk)."""

from __future__ import annotations

from typing import Any

from prettyflow.metrics import METRICS
from prettyflow.plan.grid import Grid
from prettyflow.plan.values import canonical
from prettyflow.tasks import TASKS


class ScoreJobs:
    """Rules score (every metric of a decode) and score_comet (its own environment)."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self.config = grid.config

    def metric_settings(self, name: str) -> dict[str, Any]:
        return canonical(self.config.get("metrics", {}).get(name) or {})

    def inputs(
        self, task: str, benchmark: str, family: str, subset: str, system: str
    ) -> dict[str, str]:
        """Per-sample files of the metrics computed in an environment of their own."""
        names = {
            "task": task,
            "benchmark": benchmark,
            "family": family,
            "subset": subset,
            "system": system,
        }
        return {
            metric: self.grid.paths.path(metric, **names)
            for metric in self.grid.metrics(task, benchmark)
            if METRICS.get(metric).environment
        }

    def settings(self, task: str, benchmark: str, subset: str) -> dict[str, Any]:
        metrics = self.grid.metrics(task, benchmark)
        return {
            "task": task,
            "benchmark": benchmark,
            "subset": subset,
            "metrics": metrics,
            "metric_settings": {name: self.metric_settings(name) for name in metrics},
            "target_lang": TASKS.get(task).languages(subset)[1],
        }

    def comet_settings(self) -> dict[str, Any]:
        """What a COMET score depends on: the checkpoint (not batch size or device)."""
        return {"checkpoint": self.metric_settings("comet").get("checkpoint")}
