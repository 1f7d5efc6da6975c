"""Inputs and params of the decode rules (decode.smk): decode shards and their gather."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prettyflow.cleaning import STOP_AFTER
from prettyflow.plan.values import PRIORITY_UPSTREAM
from prettyflow.tasks import TASKS

if TYPE_CHECKING:
    from prettyflow.plan import Plan


class DecodeJobs:
    """Rules decode (one job per shard) and gather_decode (joins and cleans them)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.grid = plan.grid
        self.paths = plan.paths

    def settings(
        self, task: str, benchmark: str, family: str, subset: str, system: str
    ) -> dict[str, Any]:
        """What one decode depends on: model, prompt(s), prior, languages, stopping."""
        decoded = self.plan.systems.get(task, benchmark, family, system)
        settings = self.grid.tasks[task]
        source, target = TASKS.get(task).languages(subset)
        if decoded.prompts:  # an analysis's prompts (e.g. one drawn per sentence)
            templates = self.plan.analyses[decoded.prompts].decode_templates()
        else:
            templates = {"template": settings["templates"][decoded.template]}
        return {
            "task": task,
            "benchmark": benchmark,
            "system": decoded.name,
            "model": self.plan.models.settings(decoded.model, decoded.backend),
            "template_name": decoded.template,
            **templates,
            "chat": decoded.chat,
            "prior_source": decoded.prior_source,
            "k": decoded.k,
            "languages": self.grid.language_names(source, target),
            "source_lang": source,
            "target_lang": target,
            "max_new_tokens": settings["max_new_tokens"],
            "stop": list(settings["stop"]),
            "stop_after": STOP_AFTER,
        }

    def inputs(
        self, task: str, benchmark: str, family: str, subset: str, system: str
    ) -> dict[str, Any]:
        decoded = self.plan.systems.get(task, benchmark, family, system)
        inputs: dict[str, Any] = {"model": self.plan.models.inputs(decoded.model)}
        if decoded.prior_source:
            inputs["prior"] = self.paths.path(
                "prior",
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
                source=decoded.prior_source,
                k=decoded.k,
            )
        inputs.update(TASKS.get(task).decode_inputs(self.grid.tasks[task]))
        return inputs

    def shards(
        self, task: str, benchmark: str, family: str, subset: str, system: str
    ) -> list[str]:
        """The decode's shards (compute.decode.shard_size), in data order."""
        count = self.plan.compute.shard_count(task, benchmark, subset, "decode")
        return [
            self.paths.path(
                "decode_shard",
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
                system=system,
                shard=index,
            )
            for index in range(count)
        ]

    def model(self, task: str, benchmark: str, family: str, system: str) -> str:
        """The model a decode loads."""
        return self.plan.systems.get(task, benchmark, family, system).model

    def group(self, task: str, benchmark: str, family: str, system: str) -> str | None:
        """The Snakemake group of a decode: ``decode-<model>`` when compute.decode.group.

        On a cluster, jobs of one group (bundled with ``--group-components``) run in
        one allocation, so a node reads the model's weights from disk once and later
        jobs load them from the page cache. Local runs ignore groups.
        """
        if not self.plan.compute.stage("decode")["group"]:
            return None
        return f"decode-{self.model(task, benchmark, family, system)}"

    def priority(self, family: str, system: str) -> int:
        """The SFT reference's decodes feed the SFT priors: they go before the others."""
        return (
            PRIORITY_UPSTREAM if system == self.grid.sft_reference_system(family) else 0
        )

    def cleaning_settings(
        self, task: str, benchmark: str, family: str, subset: str, system: str
    ) -> dict[str, Any]:
        """What cleaning one decode's answers depends on (rule gather_decode).

        The same rules for every system of a model; changing them re-cleans and
        re-scores its decodes, without decoding again.
        """
        model = self.model(task, benchmark, family, system)
        target = TASKS.get(task).languages(subset)[1]
        return {
            "model": model,
            "rules": self.plan.models.cleaning_rules(model),
            "stop": list(self.grid.tasks[task]["stop"]),
            "target_language": self.grid.language_names(target)[target],
            "answer_words": list(TASKS.get(task).answer_words),
        }
