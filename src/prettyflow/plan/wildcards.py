"""The one adapter between Snakemake's wildcards and the plan's methods."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


class from_wildcards:  # noqa: N801 (reads as a function in a rule)
    """An input, params, priority or group function of a rule: ``method`` called
    with ``fixed`` first, then the job's wildcards that it names as keywords.

    ``input: unpack(from_wildcards(plan.decode.inputs))`` calls
    ``plan.decode.inputs(task=..., benchmark=..., family=..., subset=..., system=...)``;
    ``from_wildcards(plan.tables.files, "score_corpus")`` calls
    ``plan.tables.files("score_corpus", task=..., benchmark=..., family=...)``.
    A parameter the rule has no wildcard for keeps its default.
    """

    def __init__(self, method: Callable[..., Any], *fixed: Any):
        self.method = method
        self.fixed = fixed
        parameters = list(inspect.signature(method).parameters.values())
        self.names = [parameter.name for parameter in parameters[len(fixed) :]]

    def __call__(self, wildcards: Any) -> Any:
        # Snakemake's wildcards are a list with names: its `in` looks at values.
        values = dict(wildcards.items())
        named = {name: values[name] for name in self.names if name in values}
        return self.method(*self.fixed, **named)

    def __repr__(self) -> str:
        return f"from_wildcards({getattr(self.method, '__qualname__', self.method)})"
