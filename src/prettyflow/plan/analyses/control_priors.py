"""Table 5 (section 5.2): the foundation model with a random word of a given kind
as its prior, beside the SFT reference.

``analysis.control_priors``: its runs, ``k``, ``seed``, the table's ``metrics`` and
the control sources with their word lists (:mod:`prettyflow.priors.control`);
each source is a prior system on the run's subsets (rule ``control_priors_table``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prettyflow.errors import InputError
from prettyflow.paths import TABLE_EXTENSIONS
from prettyflow.plan.analyses.base import Analysis, AnalysisRun
from prettyflow.plan.values import (
    canonical,
    prior_system,
    prior_system_name,
    table_definition,
)
from prettyflow.priors.control import OPTIONS_FIELD, config_word_list
from prettyflow.priors.sources import PRIOR_SOURCES
from prettyflow.tasks import TASKS

TITLE = "Table 5: control priors, {}"


@dataclass(frozen=True)
class ControlPriorsRun(AnalysisRun):
    priors: tuple[tuple[str, int], ...]  # (source, k) of each prior system


class ControlPriors(Analysis):
    name = "control_priors"

    def make_run(self, entry, task, benchmark, subsets):
        # In registry order, whatever the config's key order.
        priors = tuple(
            (source, int(self.settings["k"]))
            for source in PRIOR_SOURCES
            if source in self.settings["sources"]
        )
        return ControlPriorsRun(task, benchmark, subsets, priors)

    def systems(self, run, family):
        foundation = self.plan.grid.foundation(family)
        return [prior_system(source, k, foundation) for source, k in run.priors]

    def targets(self) -> list[str]:
        return self.table_targets("control_table", TABLE_EXTENSIONS)

    def results_tables(self) -> list[tuple]:
        return [
            (
                "control_table",
                "samples (control priors)",
                self.table_files,
                self.table_settings,
                run.task,
                run.benchmark,
            )
            for run in self.runs()
        ]

    def source_options(self, source: str) -> dict[str, Any] | None:
        """``analysis.control_priors.sources.<source>``: where its words come from."""
        sources = self.settings.get("sources") or {}
        return canonical(sources[source] or {}) if source in sources else None

    def source_settings(self, source: str, target_lang: str) -> dict[str, Any]:
        options = self.source_options(source)
        if options is None:
            return {}
        return {
            "target_lang": target_lang,
            "seed": int(self.settings["seed"]),
            "options": options,
        }

    # ------------------------------------------------------------- the table
    def _table_systems(self, run: ControlPriorsRun, family: str) -> list[str]:
        names = [self.plan.grid.sft_reference_system(family), "base"]
        return names + [prior_system_name(source, k) for source, k in run.priors]

    def table_files(
        self, kind: str, task: str, benchmark: str, family: str
    ) -> list[str]:
        """The score files (``score_corpus`` or ``score_samples``) of Table 5."""
        run = self.run(task, benchmark)
        systems = self._table_systems(run, family)
        pairs = [(subset, system) for subset in run.subsets for system in systems]
        return self.plan.grid.system_files(kind, task, benchmark, family, pairs)

    def table_settings(self, task: str, benchmark: str, family: str) -> dict[str, Any]:
        """Table 5: the benchmark table's formula, reference and threshold, one block
        of the run's subsets, and %SFT over the benchmark table's %SFT metrics it
        shows."""
        run = self.run(task, benchmark)
        metrics = list(self.settings["metrics"])
        definition = self.plan.grid.table_definition(task, benchmark)
        definition["blocks"] = None
        definition["sft_metrics"] = [
            m for m in metrics if m in definition["sft_metrics"]
        ]
        return self.plan.tables.view_settings(
            task,
            benchmark,
            family,
            definition,
            list(run.subsets),
            self._table_systems(run, family),
            metrics,
            TITLE,
        )

    # ---------------------------------------------------------------- checks
    @classmethod
    def sources(cls, config):
        settings = (config.get("analysis") or {}).get(cls.name) or {}
        return list(settings.get("sources") or {})

    @classmethod
    def check_settings(cls, config, settings):
        for source in settings.get("sources", {}):
            if (
                source not in PRIOR_SOURCES.names()
                or not PRIOR_SOURCES.get(source).control
            ):
                raise InputError(
                    "not a control prior source; control sources: "
                    + ", ".join(n for n, s in PRIOR_SOURCES.items() if s.control),
                    field=f"analysis.{cls.name}.sources.{source}",
                )
        _check_word_lists(settings.get("sources") or {})

    @classmethod
    def check_run(cls, config, settings, run, key):
        """Answers that start with a word; Table 5's metrics scored, one in %SFT."""
        if not TASKS.get(run["task"]).word_priors:
            raise InputError(
                f"{run['task']} answers do not start with a word", field=key
            )
        entry = config["tasks"][run["task"]]["benchmarks"][run["benchmark"]]
        metrics = entry["metrics"]
        where = f"tasks.{run['task']}.benchmarks.{run['benchmark']}"
        for metric in settings["metrics"]:
            if metric not in metrics:
                raise InputError(
                    f"{metric!r} is not scored on {run['benchmark']} "
                    f"({where}.metrics: {metrics})",
                    field=f"analysis.{cls.name}.metrics",
                )
        # Table 5's %SFT: the benchmark table's %SFT metrics it shows (the config
        # check has checked the table itself).
        sft_metrics = table_definition(entry)["sft_metrics"]
        if not set(settings["metrics"]) & set(sft_metrics):
            raise InputError(
                f"none feeds %SFT on {run['benchmark']}, so Table 5 would have none "
                f"({where}.table.sft_metrics: {sft_metrics})",
                field=f"analysis.{cls.name}.metrics",
            )


def _check_word_lists(sources: dict[str, Any]) -> None:
    """Control word lists as the prior job reads them: words written in the config
    are one word each, unique after NFC; a lexicon alone needs tags; words and
    lexicons are written in the target language's script."""
    for source, options in sources.items():
        listed = (options or {}).get("words") or {}
        for language, words in listed.items():
            if isinstance(words, list):
                key = f"{OPTIONS_FIELD}.{source}.words.{language}"
                try:
                    config_word_list(words, key)
                except InputError as error:
                    raise InputError(error.message, field=error.field or key) from None
        for language, lexicon in ((options or {}).get("lexicon") or {}).items():
            if language not in listed and not lexicon.get("tags"):
                raise InputError(
                    f"without words.{language} the lexicon needs tags to choose "
                    "words, e.g. [d]",
                    field=f"{OPTIONS_FIELD}.{source}.lexicon.{language}.tags",
                )
        try:  # words in the target language's script
            PRIOR_SOURCES.get(source).check_options(options)
        except InputError as error:
            raise InputError(
                error.message, field=error.field or f"{OPTIONS_FIELD}.{source}"
            ) from None
