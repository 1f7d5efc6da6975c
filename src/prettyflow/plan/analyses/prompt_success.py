"""Table 8 (appendix C.3): how often the foundation model answers in the target
language when one of several prompts is drawn per sentence.

``analysis.prompt_success``: its runs, ``templates``, ``seed`` and
``language_identifier``; the foundation model decodes each run's subsets once
more with a drawn prompt per sentence (system ``prompt-success``), and rule
``prompt_success_table`` counts the answers in the target language.
"""

from __future__ import annotations

from typing import Any

from prettyflow.errors import InputError
from prettyflow.paths import TABLE_EXTENSIONS
from prettyflow.plan.analyses.base import Analysis
from prettyflow.plan.values import System, canonical
from prettyflow.prompts import (
    PROMPT_FIELDS,
    check_task_template,
    check_templates,
    placeholder_names,
)

SYSTEM = "prompt-success"
TEMPLATE = "prompt_success"
LABEL = "{foundation} (random prompt per sentence)"


class PromptSuccess(Analysis):
    name = "prompt_success"

    def systems(self, run, family):
        foundation = self.plan.grid.foundation(family)
        return [
            System(
                SYSTEM,
                foundation,
                TEMPLATE,
                label=LABEL.format(foundation=foundation),
                prompts=self.name,
            )
        ]

    def decode_templates(self) -> dict[str, Any]:
        return {
            "templates": list(self.settings["templates"]),
            "template_seed": int(self.settings["seed"]),
            "templates_key": f"analysis.{self.name}.templates",
        }

    def targets(self) -> list[str]:
        return self.table_targets("prompt_success_table", TABLE_EXTENSIONS)

    def inputs(self, task: str, benchmark: str, family: str) -> dict[str, list[str]]:
        run = self.run(task, benchmark)
        grid = self.plan.grid
        pairs = [(subset, SYSTEM) for subset in run.subsets]
        return {
            "decodes": grid.system_files("decode", task, benchmark, family, pairs),
            "data": [grid.data_path(task, benchmark, s) for s in run.subsets],
        }

    def table_settings(self, task: str, benchmark: str, family: str) -> dict[str, Any]:
        """Table 8: how often the foundation model answers in the target language."""
        run = self.run(task, benchmark)
        return {
            "task": task,
            "benchmark": benchmark,
            "family": family,
            "model": self.plan.grid.foundation(family),
            "subsets": list(run.subsets),
            "templates": list(self.settings["templates"]),
            "seed": int(self.settings["seed"]),
            "language_identifier": canonical(self.settings["language_identifier"]),
            "labels": {subset: subset.title() for subset in run.subsets},
        }

    @classmethod
    def check_settings(cls, config, settings):
        """No blank or repeated prompt (as the decode checks); each prompt uses only
        the placeholders of its runs' tasks."""
        key = f"analysis.{cls.name}.templates"
        if "templates" in settings:
            _naming(key, check_templates, settings["templates"], key)
        tasks = list(dict.fromkeys(run["task"] for run in settings.get("runs", [])))
        for index, template in enumerate(settings.get("templates") or []):
            where = f"{key}[{index}]"
            for task in tasks:
                _naming(where, check_task_template, template, task, where)
            if not tasks:
                _naming(where, placeholder_names, template, PROMPT_FIELDS, where)


def _naming(key: str, check, *arguments) -> None:
    """``check(*arguments)``; its InputError names ``key`` when it names no field."""
    try:
        check(*arguments)
    except InputError as error:
        raise InputError(error.message, field=error.field or key) from None
