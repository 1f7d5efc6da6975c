"""Inputs and params of the prior rules (priors.smk): refined model, keywords, priors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prettyflow.plan.values import canonical, prior_system_name
from prettyflow.priors.refined import fill_subset_options
from prettyflow.priors.sources import PRIOR_SOURCES, PriorContext
from prettyflow.tasks import TASKS

if TYPE_CHECKING:
    from prettyflow.plan import Plan


class PriorJobs:
    """Rules run_refined_model, gather_refined, extract_keywords and build_prior."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.grid = plan.grid
        self.paths = plan.paths

    # ---------------------------------------------------------- refined model
    def refined_settings(
        self, task: str, benchmark: str, subset: str
    ) -> dict[str, Any]:
        refined = self.grid.tasks[task]["priors"]["refined"]
        source, target = TASKS.get(task).languages(subset)
        return {
            "task": task,
            "benchmark": benchmark,
            "subset": subset,
            "backend": refined["backend"],
            "options": canonical(refined.get("options") or {}),
            "source_lang": source,
            "target_lang": target,
            "languages": self.grid.language_names(source, target),
        }

    def refined_inputs(self, task: str, benchmark: str, subset: str) -> list[str]:
        """Local files the refined source reads (a file of outputs, a local model folder)."""
        options = fill_subset_options(
            self.grid.tasks[task]["priors"]["refined"].get("options") or {},
            subset,
            benchmark,
            where=f"tasks.{task}.priors.refined.options",
        )
        candidates = []
        for key in ("path", "model"):
            if isinstance(options.get(key), str):
                if key == "path" or Path(options[key]).exists():
                    candidates.append(options[key])
        return candidates

    def refined_shards(self, task: str, benchmark: str, subset: str) -> list[str]:
        """The shards of a refined-model run (compute.refined.shard_size), in order."""
        count = self.plan.compute.shard_count(task, benchmark, subset, "refined")
        return [
            self.paths.path(
                "refined_shard",
                task=task,
                benchmark=benchmark,
                subset=subset,
                shard=index,
            )
            for index in range(count)
        ]

    def keyword_settings(self, task: str) -> dict[str, Any]:
        keywords = self.grid.tasks[task]["priors"]["pseudo"]["keywords"]
        return {"model": keywords["model"], "top_n": keywords["top_n"]}

    # ----------------------------------------------------------------- priors
    def source_options(self, source: str) -> dict[str, Any] | None:
        """The options of a source an analysis configures (control sources), else None."""
        for analysis in self.plan.analyses.values():
            options = analysis.source_options(source)
            if options is not None:
                return options
        return None

    def inputs(
        self, task: str, benchmark: str, family: str, subset: str, source: str
    ) -> dict[str, str]:
        """Named upstream files of one prior job (besides the data and the tokenizer)."""
        context = PriorContext(
            task, benchmark, family, subset, self.grid.sft_reference_system(family)
        )
        return PRIOR_SOURCES.get(source).upstream(
            self.paths, context, self.source_options(source)
        )

    def tokenizer(self, family: str) -> list[str]:
        """The foundation model's files: a prior's k counts its tokens."""
        return self.plan.models.inputs(self.grid.foundation(family))

    def settings(
        self,
        task: str,
        benchmark: str,
        family: str,
        subset: str,
        source: str,
        k: int | str,
    ) -> dict[str, Any]:
        if not self.plan.systems.is_decoded(
            task, benchmark, family, subset, prior_system_name(source, int(k))
        ):
            raise ValueError(
                f"{task}/{benchmark}/{subset}: no system uses the {source} prior "
                f"with k={k} (see tasks.{task}.priors and analysis)"
            )
        source_lang, target_lang = TASKS.get(task).languages(subset)
        settings = {
            "task": task,
            "source": source,
            "k": int(k),
            "source_lang": source_lang,
            "tokenizer": self.plan.models.settings(self.grid.foundation(family)),
        }
        for analysis in self.plan.analyses.values():
            settings.update(analysis.source_settings(source, target_lang))
        return settings
