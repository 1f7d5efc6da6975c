"""Backend parity: the main table's systems decoded by two model backends, compared.

``analysis.backend_parity``: its runs, ``backends`` (two model backends, default
``[hf, vllm]``; the differences are the second's minus the first's) and
``metrics`` (default: the benchmark's). Every system of a run's main table is
decoded on each backend: a system whose model is configured on that backend is
the main table's decode itself, the others are added as systems named
``<backend>-<system>`` (the same model, prompt and prior file, only the backend
changed: :attr:`prettyflow.plan.values.System.backend`), then scored like any
system. Rule ``backend_parity_table`` compares them
(:mod:`prettyflow.analysis.backend_parity`), so a user who moves to vLLM sees
whether the paper's numbers moved.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from prettyflow.errors import InputError
from prettyflow.paths import PARITY_TABLE_EXTENSIONS
from prettyflow.plan.analyses.base import Analysis, AnalysisRun
from prettyflow.plan.models import configured_backend
from prettyflow.plan.values import System

# An added system: the main table's system on another backend.
SYSTEM = "{backend}-{system}"
LABEL = "{label} [{backend}]"
TITLE = "Backend parity, {task} on {benchmark} ({family}): {second} - {first}"


class BackendParity(Analysis):
    name = "backend_parity"

    def backends(self) -> list[str]:
        return list(self.settings["backends"])

    def _main_systems(self, run: AnalysisRun, family: str) -> list[System]:
        """The main table's systems decoded on every subset of the run (a prior
        that leaves out one of them is not compared)."""
        grid = self.plan.grid
        return [
            system
            for system in self.plan.systems.main(run.task, run.benchmark, family)
            if system.prior_source is None
            or all(
                grid.prior_applies(run.task, system.prior_source, run.benchmark, s)
                for s in run.subsets
            )
        ]

    def _on_backend(self, task: str, system: System, backend: str) -> System:
        """``system`` decoded on ``backend``: itself when its model is configured
        on it, else the added system."""
        if configured_backend(self.plan.config["models"], system.model)[0] == backend:
            return system
        label = LABEL.format(
            label=self.plan.systems.label(task, system), backend=backend
        )
        return dataclasses.replace(
            system,
            name=SYSTEM.format(backend=backend, system=system.name),
            label=label,
            backend=backend,
        )

    def systems(self, run, family):
        added = []
        for system in self._main_systems(run, family):
            for backend in self.backends():
                decoded = self._on_backend(run.task, system, backend)
                if decoded is not system:
                    added.append(decoded)
        return added

    def targets(self) -> list[str]:
        return self.table_targets("backend_parity_table", PARITY_TABLE_EXTENSIONS)

    def _pairs(self, task: str, benchmark: str, family: str) -> list[tuple]:
        """(subset, main system, its decode on each backend), system-major."""
        run = self.run(task, benchmark)
        return [
            (
                subset,
                system,
                [self._on_backend(task, system, b) for b in self.backends()],
            )
            for system in self._main_systems(run, family)
            for subset in run.subsets
        ]

    def inputs(self, task: str, benchmark: str, family: str) -> dict[str, list[str]]:
        """Per backend (``first``, ``second``): the decodes and the per-sample scores
        of every (system, subset) of the table, in the same order."""
        grid = self.plan.grid
        files: dict[str, list[str]] = {}
        for position, role in enumerate(("first", "second")):
            pairs = [
                (subset, decoded[position].name)
                for subset, _, decoded in self._pairs(task, benchmark, family)
            ]
            for kind, key in (("decode", "decodes"), ("score_samples", "samples")):
                files[f"{role}_{key}"] = grid.system_files(
                    kind, task, benchmark, family, pairs
                )
        return files

    def table_settings(self, task: str, benchmark: str, family: str) -> dict[str, Any]:
        """The table's rows (system label and subset per input), backends, metrics
        and the bootstrap of every table (``analysis.bootstrap``)."""
        first, second = self.backends()
        entry = self.plan.grid.tasks[task]["benchmarks"][benchmark]
        return {
            "title": TITLE.format(
                task=task,
                benchmark=benchmark,
                family=family,
                first=first,
                second=second,
            ),
            "backends": [first, second],
            "rows": [
                {"system": self.plan.systems.label(task, system), "subset": subset}
                for subset, system, _ in self._pairs(task, benchmark, family)
            ],
            "metrics": list(self.settings.get("metrics") or entry["metrics"]),
            "bootstrap": self.plan.tables.bootstrap_settings(),
        }

    # ---------------------------------------------------------------- checks
    @classmethod
    def check_settings(cls, config, settings):
        """Two different registered model backends."""
        from prettyflow.backends import MODEL_BACKENDS

        if not settings:
            return  # not configured
        backends = list(settings["backends"])
        for index, backend in enumerate(backends):
            if backend not in MODEL_BACKENDS.names():
                raise InputError(
                    f"not a model backend; model backends: "
                    f"{', '.join(MODEL_BACKENDS.names())}",
                    field=f"analysis.{cls.name}.backends[{index}]",
                )
        if len(backends) != 2 or backends[0] == backends[1]:
            raise InputError(
                f"expected two different model backends, got {backends}",
                field=f"analysis.{cls.name}.backends",
            )

    @classmethod
    def check_run(cls, config, settings, run, key):
        """Its metrics are scored on the run's benchmark."""
        metrics = config["tasks"][run["task"]]["benchmarks"][run["benchmark"]][
            "metrics"
        ]
        where = f"tasks.{run['task']}.benchmarks.{run['benchmark']}.metrics"
        for metric in settings.get("metrics") or []:
            if metric not in metrics:
                raise InputError(
                    f"{metric!r} is not scored on {run['benchmark']} "
                    f"({where}: {metrics})",
                    field=f"analysis.{cls.name}.metrics",
                )
