"""Compute settings per stage, and the shards a large subset is cut into."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from prettyflow.plan.grid import Grid
from prettyflow.plan.values import SHARDED_STAGES


class Compute:
    """``compute.<stage>``: resources of a stage's jobs, and its shards."""

    def __init__(self, config: Mapping[str, Any], grid: Grid):
        self.config = config
        self.grid = grid

    def stage(self, stage: str) -> dict[str, Any]:
        """``compute.<stage>`` (with the schema's defaults: threads, gpu, ...)."""
        return dict(self.config["compute"][stage])

    def shard_count(
        self, task: str, benchmark: str, subset: str, stage: str = "decode"
    ) -> int:
        """How many shards a ``stage`` job over ``subset`` is cut into.

        ``stage`` is one of :data:`SHARDED_STAGES`, sized by
        ``compute.<stage>.shard_size``. Known before any data is read: from
        ``max_samples`` or the benchmark's fixed size, whichever is smaller; one
        shard when neither is known or no size is set. Shard i holds the data rows
        [i * shard_size, (i + 1) * shard_size).
        """
        size = self._shard_size(stage)
        settings = self.config["datasets"][benchmark]
        bounds = [
            bound
            for bound in (
                settings.get("max_samples"),
                self.grid.benchmark(task, benchmark).known_size(settings, subset),
            )
            if bound
        ]
        if not size or not bounds:
            return 1
        return max(1, math.ceil(min(bounds) / size))

    def _shard_size(self, stage: str) -> int | None:
        if stage not in SHARDED_STAGES:
            raise ValueError(
                f"{stage!r} is not sharded; sharded stages: {', '.join(SHARDED_STAGES)}"
            )
        return self.stage(stage)["shard_size"]

    def shard_settings(
        self, stage: str, task: str, benchmark: str, subset: str, shard: int | str
    ) -> dict[str, Any]:
        """One shard's rows: what a shard's job depends on besides its settings."""
        count = self.shard_count(task, benchmark, subset, stage)
        if not 0 <= int(shard) < count:
            raise ValueError(
                f"{task}/{benchmark}/{subset}: no {stage} shard {shard} of {count}"
            )
        if count == 1:
            return {"index": 0, "count": 1, "size": None}
        size = int(self._shard_size(stage))
        return {"index": int(shard), "count": count, "size": size}
