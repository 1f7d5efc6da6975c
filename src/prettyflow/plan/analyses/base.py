"""What every analysis gives the plan (:class:`Analysis`), and its shared checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prettyflow.errors import InputError
from prettyflow.plan.values import System
from prettyflow.tasks import TASKS

if TYPE_CHECKING:
    from prettyflow.plan import Plan


@dataclass(frozen=True)
class AnalysisRun:
    """One run of an analysis: a configured (task, benchmark) and its subsets."""

    task: str
    benchmark: str
    subsets: tuple[str, ...]


class Analysis:
    """One analysis of ``config.analysis`` (e.g. Table 5, Figure 5): its part of the plan.

    An entry of :data:`prettyflow.plan.analyses.ANALYSES`, built once per plan.
    It says which runs are configured (:meth:`runs`), which systems it adds to the
    decodes of a run's subsets (:meth:`systems`), which files it makes
    (:meth:`targets`), and checks its config section (:meth:`check`). Its rules
    take their inputs and params from its own methods (``rules/analysis.smk``).
    """

    name: str

    def __init__(self, plan: Plan):
        self.plan = plan
        self.settings: dict[str, Any] = dict(
            (plan.config.get("analysis") or {}).get(self.name) or {}
        )

    # ------------------------------------------------------------------ plan
    def runs(self) -> list[AnalysisRun]:
        """The runs whose task and benchmark are configured (others plan nothing)."""
        runs = []
        for run in self.settings.get("runs", []):
            task, benchmark = run["task"], run["benchmark"]
            if not self.plan.grid.is_configured(task, benchmark):
                continue
            subsets = tuple(
                run.get("subsets") or self.plan.grid.subsets(task, benchmark)
            )
            runs.append(self.make_run(run, task, benchmark, subsets))
        return runs

    def make_run(
        self, entry: Mapping[str, Any], task: str, benchmark: str, subsets: tuple
    ) -> AnalysisRun:
        """The run of one ``runs`` entry (an analysis may keep more of it)."""
        return AnalysisRun(task, benchmark, subsets)

    def run(self, task: str, benchmark: str, **key: Any) -> AnalysisRun:
        """The run on (task, benchmark) (and ``key``: e.g. its ``source``)."""
        for run in self.runs():
            if (run.task, run.benchmark) == (task, benchmark) and all(
                getattr(run, name) == value for name, value in key.items()
            ):
                return run
        where = "/".join([task, benchmark, *map(str, key.values())])
        raise KeyError(f"analysis.{self.name} has no run on {where}")

    def systems(self, run: AnalysisRun, family: str) -> list[System]:
        """The systems it decodes on the run's subsets besides the main table's."""
        return []

    def targets(self) -> list[str]:
        """The files it makes, for every run and family."""
        raise NotImplementedError

    def table_targets(self, kind: str, extensions: Sequence[str]) -> list[str]:
        """A table per run and family (path ``kind``), in each of ``extensions``."""
        return [
            self.plan.paths.path(
                kind, task=run.task, benchmark=run.benchmark, family=family, ext=ext
            )
            for run in self.runs()
            for family in self.plan.grid.families()
            for ext in extensions
        ]

    def results_tables(self) -> list[tuple]:
        """Its results tables that get a sample page (:mod:`prettyflow.plan.samples`):
        ``(path kind, page label, files, settings, task, benchmark)`` per run, where
        ``files(kind, task, benchmark, family)`` gives the table's score files and
        ``settings(task, benchmark, family)`` its rows and columns."""
        return []

    def source_options(self, source: str) -> dict[str, Any] | None:
        """The options of a prior source it configures (None: not one of its)."""
        return None

    def source_settings(self, source: str, target_lang: str) -> dict[str, Any]:
        """What a prior job of such a source depends on beyond its task's settings."""
        return {}

    def decode_templates(self) -> dict[str, Any]:
        """The prompts of the systems it gives prompts (:attr:`System.prompts`)."""
        raise NotImplementedError(f"analysis {self.name} gives no system its prompts")

    # ---------------------------------------------------------------- checks
    @classmethod
    def sources(cls, config: Mapping[str, Any]) -> list[str]:
        """The prior sources its config section configures (control sources)."""
        return []

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> None:
        """Raise :class:`InputError` whose ``field`` is the key of a bad setting.

        Every run names a configured benchmark and subsets of known languages;
        then :meth:`check_settings` and :meth:`check_run` of the analysis.
        """
        settings = (config.get("analysis") or {}).get(cls.name) or {}
        cls.check_settings(config, settings)
        for index, run in enumerate(settings.get("runs", [])):
            key = f"analysis.{cls.name}.runs[{index}]"
            benchmarks = (config["tasks"].get(run["task"]) or {}).get("benchmarks", {})
            if run["benchmark"] not in benchmarks:
                raise InputError(
                    f"no benchmark {run['benchmark']!r} under tasks.{run['task']}",
                    field=key,
                )
            task = TASKS.get(run["task"])
            for subset in run.get("subsets") or []:
                for lang in dict.fromkeys(task.languages(subset)):
                    if lang not in config["languages"]:
                        raise InputError(
                            f"language {lang!r} of {subset!r} is not defined under "
                            "languages",
                            field=f"{key}.subsets",
                        )
            cls.check_run(config, settings, run, key)

    @classmethod
    def check_settings(
        cls, config: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> None:
        """Checks of the analysis's own settings (before its runs')."""

    @classmethod
    def check_run(
        cls,
        config: Mapping[str, Any],
        settings: Mapping[str, Any],
        run: Mapping[str, Any],
        key: str,
    ) -> None:
        """Checks of one of its runs (task and benchmark are configured)."""
