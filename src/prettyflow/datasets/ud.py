"""Universal Dependencies (CoNLL-U) or XGLUE POS: one language per subset."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.datasets.base import OneFilePerSubset
from prettyflow.pos.data import prepare_pos


class UdDataset(OneFilePerSubset):
    """``datasets.ud``: files ({language: path}), max_samples (sentences)."""

    name = "ud"
    file_key = "treebank"
    task = "pos"

    def data_settings(
        self, settings: Mapping[str, Any], subset: str, languages: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "file": self._subset_file(settings, subset),
            "lang": subset,
            "max_samples": settings.get("max_samples"),
        }

    def prepare(
        self, root: str | None, output_path: str | Path, params: Mapping[str, Any]
    ) -> pd.DataFrame:
        return prepare_pos(
            params["file"],
            params["lang"],
            output_path=output_path,
            max_sentences=params.get("max_samples"),
        )
