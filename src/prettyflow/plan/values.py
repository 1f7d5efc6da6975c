"""What the parts of the plan share: systems, naming, defaults, canonical settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prettyflow.metrics import METRICS

SFT_PREFIX = "sft-"
# A results table's name where the config gives none (tables.<task>...table.name).
DEFAULT_TABLE_NAME = "Results"
PRIOR_PREFIX = "prior-"
# Scheduling priorities (Snakemake runs ready jobs of higher priority first). Jobs
# that many others wait on go first, so that on a few cores the model conversion,
# refined models and SFT decodes overlap with other work instead of leaving one
# chain (prior -> decode -> score) to run alone at the end.
PRIORITY_MODEL = 3
PRIORITY_UPSTREAM = 2
PRIORITY_PRIOR = 1
# The compute stages whose jobs compute.<stage>.shard_size cuts into shards.
SHARDED_STAGES = ("decode", "refined")
# tasks.<task>.priors.<source>.benchmarks.<benchmark>: every subset of the benchmark.
ALL_SUBSETS = "all"


@dataclass(frozen=True)
class System:
    """One decoding configuration of a family: a row of a results table.

    ``label`` is the row's fixed label (None: from the model or the prior);
    ``prompts`` names the analysis whose settings give its prompts (None: the
    task's ``templates[template]``); ``backend`` the model backend it decodes
    with (None: its model's, ``models.<model>.backend``).
    """

    name: str
    model: str
    template: str
    chat: bool = False
    prior_source: str | None = None
    k: int | None = None
    label: str | None = None
    prompts: str | None = None
    backend: str | None = None


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted, recursively.

    Snakemake compares params by their text, so the same settings written in another
    key order in config.yaml must give the same params (and rerun nothing).
    """
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


def as_list(value: Any) -> list:
    """A setting that may be one value or a list of them (e.g. a prior's ``k``)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def prior_system_name(source: str, k: int) -> str:
    return f"{PRIOR_PREFIX}{source}-k{k}"


def prior_system(source: str, k: int, foundation: str) -> System:
    """The foundation model decoding with ``source``'s first ``k`` prior tokens."""
    return System(
        prior_system_name(source, k),
        foundation,
        "normal",
        prior_source=source,
        k=k,
    )


def table_definition(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A benchmark's table definition, from its entry with the schema's defaults
    (:func:`prettyflow.config.apply_defaults`); shown metrics default to the scored
    ones, %SFT's to the shown ones where higher is better."""
    table = entry["table"]
    metrics = list(table.get("metrics") or entry["metrics"])
    quality = [m for m in metrics if not METRICS.get(m).lower_is_better]
    return {
        "name": table["name"] or DEFAULT_TABLE_NAME,
        "metrics": metrics,
        "sft_metrics": list(table.get("sft_metrics") or quality),
        "sft_ratio": table["sft_ratio"],
        "reference": table["reference"],
        "near_zero_threshold": table["near_zero_threshold"],
        "blocks": [
            {"name": block["name"], "subsets": list(block["subsets"])}
            for block in table["blocks"]
        ]
        if table.get("blocks")
        else None,
    }


def prior_applies(
    task_settings: Mapping[str, Any], source: str, benchmark: str, subset: str
) -> bool:
    """Whether the task's ``source`` prior applies to ``subset`` of ``benchmark``.

    ``tasks.<task>.priors.<source>.benchmarks`` names where it applies (a
    benchmark -> ``all`` or a list of its subsets; a benchmark it leaves out gets
    no such prior); without it, everywhere.
    """
    scope = task_settings["priors"][source].get("benchmarks")
    if scope is None:
        return True
    chosen = scope.get(benchmark)
    return chosen == ALL_SUBSETS or (chosen is not None and subset in chosen)


def prior_subsets(
    task_settings: Mapping[str, Any], source: str, benchmark: str
) -> list[str]:
    """The subsets of ``benchmark`` (in its order) the task's ``source`` applies to."""
    return [
        subset
        for subset in task_settings["benchmarks"][benchmark]["subsets"]
        if prior_applies(task_settings, source, benchmark, subset)
    ]
