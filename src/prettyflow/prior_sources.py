"""The prior-source registry (paper section 3.3): where a prior's answer comes from.

A source names the files a prior job reads (:meth:`PriorSource.upstream`) and turns
them into one upstream answer per sample (:meth:`PriorSource.answers`); the task
then cuts the answer into the prior (first k tokens, or POS's first label).

- ``sft``: the SFT reference model's own output (its decode of the same subset);
- ``refined``: a smaller task model's output (rule ``run_refined_model``);
- ``pseudo``: a bilingual-dictionary translation of the first covered source word
  (summarization: of a KeyBERT keyword).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from prettyflow.registry import Registry


@dataclass(frozen=True)
class PriorContext:
    """Where a prior job is: what :meth:`PriorSource.upstream` needs from the plan."""

    task: str
    benchmark: str
    family: str
    subset: str
    sft_reference_system: str


class PriorSource:
    name: str
    title: str  # "SFT Prior": the paper's row is "+PRETTY (SFT Prior)"
    # Whether the source needs a task that defines it (Task.pseudo_prior).
    needs_pseudo_prior: bool = False

    def upstream(self, paths: Any, context: PriorContext) -> dict[str, str]:
        """Named input files of one prior job (besides the data and the tokenizer)."""
        raise NotImplementedError

    def answers(
        self,
        frame: pd.DataFrame,
        inputs: Mapping[str, str],
        settings: Mapping[str, Any],
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """One upstream answer per row of ``frame`` (same order) and provenance extras.

        The table has ``id`` and ``output`` (a text; None = no prior) or ``tags``.
        """
        from prettyflow.io import read_parquet, read_provenance
        from prettyflow.steps.common import aligned

        path = inputs["upstream"]
        table = aligned(frame, read_parquet(path), f"the {self.name} outputs", path)
        return table, {"upstream_provenance": read_provenance(path)}


class SftPrior(PriorSource):
    name = "sft"
    title = "SFT Prior"

    def upstream(self, paths, context):
        return {
            "upstream": paths.path(
                "decode",
                task=context.task,
                benchmark=context.benchmark,
                family=context.family,
                subset=context.subset,
                system=context.sft_reference_system,
            )
        }


class RefinedPrior(PriorSource):
    name = "refined"
    title = "Refined Prior"

    def upstream(self, paths, context):
        return {
            "upstream": paths.path(
                "refined",
                task=context.task,
                benchmark=context.benchmark,
                subset=context.subset,
            )
        }


class PseudoPrior(PriorSource):
    name = "pseudo"
    title = "Pseudo Prior"
    needs_pseudo_prior = True

    def upstream(self, paths, context):
        from prettyflow.tasks import TASKS

        return {
            "dictionary": paths.path("dictionary", pair=context.subset),
            **TASKS.get(context.task).pseudo_upstream(
                paths, context.benchmark, context.subset
            ),
        }

    def answers(self, frame, inputs, settings):
        from prettyflow.dictionaries import build_lexicon
        from prettyflow.io import read_parquet
        from prettyflow.priors import coverage_stats
        from prettyflow.tasks import TASKS

        lexicon = build_lexicon(read_parquet(inputs["dictionary"]))
        extra = {
            name: read_parquet(path)
            for name, path in inputs.items()
            if name != "dictionary"
        }
        words = TASKS.get(settings["task"]).pseudo_words(
            frame, lexicon, extra, settings["source_lang"]
        )
        table = pd.DataFrame({"id": list(frame["id"]), "output": words})
        return table, {"coverage": coverage_stats(words)}


# The order is the tables' row order.
PRIOR_SOURCES: Registry[PriorSource] = Registry("prior source")
PRIOR_SOURCES.register("sft", SftPrior())
PRIOR_SOURCES.register("pseudo", PseudoPrior())
PRIOR_SOURCES.register("refined", RefinedPrior())
