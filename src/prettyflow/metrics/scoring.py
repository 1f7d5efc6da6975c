"""What every metric scorer gets: one decode's outputs beside its data table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Scoring:
    """Outputs of one decode aligned with its data rows.

    ``inputs`` holds extra files a metric reads (e.g. ``comet``: the per-sample
    scores the COMET environment wrote). :meth:`cached` shares an intermediate
    result between metrics computed together (ROUGE-2 and ROUGE-L, POS precision
    and F1).
    """

    data: pd.DataFrame
    outputs: list[str]
    target_lang: str
    inputs: Mapping[str, str] = field(default_factory=dict)
    sacrebleu_dir: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def references(self) -> list[str]:
        return list(self.data["reference"])

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]
