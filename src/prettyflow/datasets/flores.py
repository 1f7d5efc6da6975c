"""Flores-101/200: one translation direction per subset, from a release folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.data.flores import default_metadata_file, prepare_flores_direction
from prettyflow.datasets.base import Dataset, split_subset
from prettyflow.errors import InputError


def flores_stem(languages: Mapping[str, Any], code: str) -> str:
    """The Flores file stem of language ``code`` (``languages.<code>.flores``)."""
    stem = (languages.get(code) or {}).get("flores")
    if not stem:
        raise InputError(
            "no Flores file stem (e.g. 'eng', 'eng_Latn') for this language",
            field=f"languages.{code}.flores",
        )
    return str(stem)


# Sentences per split, the same in every language (Flores-101 and Flores-200).
SPLIT_SIZES = {"dev": 997, "devtest": 1012}


class FloresDataset(Dataset):
    """``datasets.flores``: local_dir (or url, sha256), split, metadata_file, max_samples."""

    name = "flores"
    task = "translation"
    archive_root = "flores101_dataset"

    def raw_files(
        self,
        settings: Mapping[str, Any],
        subset: str,
        languages: Mapping[str, Any],
        root: str | None,
    ) -> dict[str, str]:
        self._require_root(root)
        split = settings["split"]
        source, target = split_subset(subset)
        files = {
            "source": f"{root}/{split}/{flores_stem(languages, source)}.{split}",
            "reference": f"{root}/{split}/{flores_stem(languages, target)}.{split}",
        }
        metadata_name = settings.get("metadata_file") or default_metadata_file(split)
        metadata = (
            metadata_name
            if Path(metadata_name).is_absolute()
            else f"{root}/{metadata_name}"
        )
        # The official archive has the metadata, so a download lists it among the
        # files the extraction yields; a local folder only when it has one.
        if not settings.get("local_dir") or Path(metadata).exists():
            files["metadata"] = metadata
        return files

    def known_size(self, settings: Mapping[str, Any], subset: str) -> int | None:
        return SPLIT_SIZES.get(settings["split"])

    def data_settings(
        self, settings: Mapping[str, Any], subset: str, languages: Mapping[str, Any]
    ) -> dict[str, Any]:
        source, target = split_subset(subset)
        return {
            "split": settings["split"],
            "source_code": flores_stem(languages, source),
            "target_code": flores_stem(languages, target),
            "source_lang": source,
            "target_lang": target,
            # Relative to root; None reads metedata_<split>.tsv when present.
            "metadata_file": settings.get("metadata_file"),
            "max_samples": settings.get("max_samples"),
        }

    def prepare(
        self, root: str | None, output_path: str | Path, params: Mapping[str, Any]
    ) -> pd.DataFrame:
        return prepare_flores_direction(
            self._require_root(root), output_path=output_path, **params
        )

    def download(self, settings: Mapping[str, Any], root: str | Path) -> None:
        url = settings.get("url")
        if not url:
            raise InputError(
                "no url to download Flores from; set it, or local_dir to a "
                "flores101_dataset/ folder",
                field="datasets.flores.url",
            )
        self._download_and_extract(url, root, settings.get("sha256"))
