"""What every metric scorer gets: one decode's outputs beside its data table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from prettyflow.errors import InputError


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


def resampled_mean(
    per_sample: pd.DataFrame, column: str, counts: np.ndarray
) -> np.ndarray:
    """The mean of ``per_sample[column]`` over each resample."""
    if column not in per_sample.columns:
        raise InputError(f"no column {column!r} in the per-sample scores", field=column)
    values = per_sample[column].to_numpy(dtype=float)
    missing = int(np.isnan(values).sum())
    if missing:
        raise InputError(
            f"{missing} of {len(values)} per-sample values are missing", field=column
        )
    return (counts @ values) / len(values)
