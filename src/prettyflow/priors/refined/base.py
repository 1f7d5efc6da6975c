"""What every refined backend is: its kinds, options and runner; subset options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prettyflow.prompts import placeholder_names

REQUIRED = object()  # marks an option without a default
GENERATION = "generation"
TAGGING = "tagging"


@dataclass(frozen=True)
class RefinedBackend:
    """A source of refined outputs: what it does (``kinds``), its options, its runner.

    ``run(options, inputs, ids, source_lang, target_lang, languages)`` gets the
    resolved options and returns one output per input (a text, or a tag list).
    ``pairs``: the source-target pairs (``en-pt``) it can do, checked against the
    subsets at start-up; None: any pair its options (its model) can do.
    """

    kinds: frozenset[str]
    options: Mapping[str, Any]
    run: Callable[..., list]
    pairs: frozenset[str] | None = None


# Refined-source options that may name the benchmark or subset ("{subset}").
SUBSET_OPTIONS = ("path", "model")
# The placeholders those options may use.
OPTION_PLACEHOLDERS = ("subset", "benchmark")
# Option read by the task (what the refined model is given), not by the backend.
TASK_OPTIONS = ("input",)


def fill_subset_options(
    options: Mapping[str, Any],
    subset: str,
    benchmark: str,
    where: str = "priors.refined.options",
) -> dict[str, Any]:
    """``options`` with ``{subset}`` and ``{benchmark}`` filled in :data:`SUBSET_OPTIONS`.

    Any other placeholder, a format spec or a stray brace is an
    :class:`~prettyflow.errors.InputError` naming the option (``where.path``).
    """
    filled = dict(options)
    for key in SUBSET_OPTIONS:  # e.g. "refined/{subset}.jsonl", "{subset}_core_news_sm"
        value = filled.get(key)
        if isinstance(value, str):
            placeholder_names(value, OPTION_PLACEHOLDERS, f"{where}.{key}")
            filled[key] = value.format(subset=subset, benchmark=benchmark)
    return filled
