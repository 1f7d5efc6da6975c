"""WMT23 general test set: one translation direction per subset (plain-text release)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.data.wmt import (
    WMT23_REF,
    WMT23_TEST_SET,
    WMT23_URL,
    prepare_wmt_direction,
    reference_file,
    source_file,
)
from prettyflow.datasets.base import Dataset, split_subset
from prettyflow.errors import InputError


class Wmt23Dataset(Dataset):
    """``datasets.wmt23``: local_dir (or url, sha256), test_set, ref, refs, max_samples.

    ``ref`` names the reference of every direction (default ``refA``); ``refs``
    maps a direction to another one (sacrebleu scores en-he and he-en on ``refB``).
    """

    name = "wmt23"
    task = "translation"
    archive_root = None  # GitHub's <repository>-<tag>/ folder, found in the archive
    per_subset_settings = ("refs",)

    def _names(
        self, settings: Mapping[str, Any], subset: str
    ) -> tuple[str, str, str, str]:
        """(source_lang, target_lang, test set, reference name) of ``subset``."""
        source, target = split_subset(subset)
        test_set = settings.get("test_set") or WMT23_TEST_SET
        ref = (settings.get("refs") or {}).get(subset) or settings.get("ref")
        return source, target, test_set, ref or WMT23_REF

    def raw_files(
        self,
        settings: Mapping[str, Any],
        subset: str,
        languages: Mapping[str, Any],
        root: str | None,
    ) -> dict[str, str]:
        self._require_root(root)
        source, target, test_set, ref = self._names(settings, subset)
        return {
            "source": f"{root}/{source_file(test_set, source, target)}",
            "reference": f"{root}/{reference_file(test_set, source, target, ref)}",
        }

    def data_settings(
        self, settings: Mapping[str, Any], subset: str, languages: Mapping[str, Any]
    ) -> dict[str, Any]:
        source, target, test_set, ref = self._names(settings, subset)
        # The file names follow from these (see prettyflow.data.wmt.source_file).
        return {
            "source_lang": source,
            "target_lang": target,
            "test_set": test_set,
            "ref": ref,
            "max_samples": settings.get("max_samples"),
        }

    def prepare(
        self, root: str | None, output_path: str | Path, params: Mapping[str, Any]
    ) -> pd.DataFrame:
        return prepare_wmt_direction(
            self._require_root(root), output_path=output_path, **params
        )

    def download(self, settings: Mapping[str, Any], root: str | Path) -> None:
        root = self._download_and_extract(
            settings.get("url") or WMT23_URL, root, settings.get("sha256")
        )
        if not (root / "txt").is_dir():
            present = ", ".join(sorted(entry.name for entry in root.iterdir()))
            # Not the expected release: remove it so that nothing reads it as one.
            shutil.rmtree(root)
            raise InputError(
                f"the downloaded archive has no txt/ folder (found: {present or '-'}); "
                "is datasets.wmt23.url a wmt23-news-systems release?",
                path=root,
            )
