"""CrossSum: one cross-lingual summarization pair per subset, one JSONL file each."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.data.crosssum import prepare_crosssum
from prettyflow.datasets.base import OneFilePerSubset, split_subset


class CrossSumDataset(OneFilePerSubset):
    """``datasets.crosssum``: files ({subset: path}), max_samples.

    (``demonstration`` is read by the decode step, not here.)
    """

    name = "crosssum"
    file_key = "jsonl"
    task = "summarization"

    def data_settings(
        self, settings: Mapping[str, Any], subset: str, languages: Mapping[str, Any]
    ) -> dict[str, Any]:
        source, target = split_subset(subset)
        return {
            "file": self._subset_file(settings, subset),
            "source_lang": source,
            "target_lang": target,
            "max_samples": settings.get("max_samples"),
        }

    def prepare(
        self, root: str | None, output_path: str | Path, params: Mapping[str, Any]
    ) -> pd.DataFrame:
        return prepare_crosssum(
            params["file"],
            params["source_lang"],
            params["target_lang"],
            output_path=output_path,
            max_samples=params.get("max_samples"),
        )
