"""The benchmark interface: raw files of one subset -> one validated Parquet table.

A benchmark reads its own part of the config (``datasets.<name>``) and knows
where the raw files of a subset are, how to read and check them, and (for users
with internet) how to download them. The task it serves decides what columns the
table has (translation: id, source, reference, source_lang, target_lang, ...).
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import pandas as pd

from prettyflow.data.download import (
    TAR_SUFFIXES,
    ZIP_SUFFIXES,
    download_archive,
    extract_archive,
)
from prettyflow.errors import InputError, MissingResourceError


class Dataset:
    """One data set. Subclasses set ``name``/``task`` and implement the methods."""

    name: ClassVar[str]
    task: ClassVar[str]  # the registered task whose data this dataset yields
    # Top folder inside the downloaded archive that becomes the download root;
    # None: the archive's single top folder, whatever it is called (GitHub names
    # it after the tag: ``<repository>-<tag>/``).
    archive_root: ClassVar[str | None] = None

    def raw_files(
        self,
        settings: Mapping[str, Any],
        subset: str,
        languages: Mapping[str, Any],
        root: str | None,
    ) -> dict[str, str]:
        """Named raw input files of ``subset``.

        ``languages`` is the config's ``languages`` map (names, Flores stems, ...);
        ``root`` is ``local_dir`` or the download folder (None for benchmarks that
        list their files per subset).
        """
        raise NotImplementedError

    def data_settings(
        self, settings: Mapping[str, Any], subset: str, languages: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The job parameters of :meth:`prepare` for ``subset`` (only what it depends on)."""
        raise NotImplementedError

    # Settings that map a subset to a value (``files``, ``refs``): the config check
    # refuses an entry for a subset that is not run, which would be ignored silently
    # (a typo in ``refs`` would score a direction on the wrong reference).
    per_subset_settings: ClassVar[tuple[str, ...]] = ()

    def known_size(self, settings: Mapping[str, Any], subset: str) -> int | None:
        """The number of samples of ``subset`` when the benchmark fixes it, else None.

        Lets the plan cut a decode into shards before the data is read
        (``max_samples`` bounds it too); None: one shard.
        """
        return None

    def prepare(
        self, root: str | None, output_path: str | Path, params: Mapping[str, Any]
    ) -> pd.DataFrame:
        """Read, check and write one subset atomically; ``params`` from :meth:`data_settings`."""
        raise NotImplementedError

    def download(self, settings: Mapping[str, Any], root: str | Path) -> None:
        """Fetch the benchmark into the folder ``root`` (needs internet)."""
        raise MissingResourceError(
            f"benchmark {self.name!r} cannot be downloaded: set datasets.{self.name} "
            "to local files"
        )

    # ------------------------------------------------------------- helpers
    def _require_root(self, root: str | Path | None) -> Path:
        if root is None:
            raise InputError(
                f"benchmark {self.name!r} needs a root folder: set "
                f"datasets.{self.name}.local_dir or download it",
                field=f"datasets.{self.name}.local_dir",
            )
        return Path(root)

    def _subset_file(self, settings: Mapping[str, Any], subset: str) -> str:
        """``datasets.<name>.files[subset]``, for benchmarks that list one file per subset."""
        files = settings.get("files") or {}
        if subset not in files:
            listed = ", ".join(files) or "(none)"
            raise InputError(
                f"no file for subset {subset!r}; datasets.{self.name}.files lists: "
                f"{listed}",
                field=f"datasets.{self.name}.files.{subset}",
            )
        return str(files[subset])

    def _download_and_extract(
        self, url: str, root: str | Path, sha256: str | None
    ) -> Path:
        """Download ``url`` next to ``root`` and unpack its top folder as ``root``.

        The archive is kept (``<root>.tar.gz`` or the URL's suffix) so that a failed
        extraction can be retried without downloading again.
        """
        root = Path(root)
        archive = download_archive(url, archive_path(url, root), sha256=sha256)
        member_root = self.archive_root or top_folder(archive)
        extract_archive(archive, root, member_root=member_root)
        return root


class OneFilePerSubset(Dataset):
    """A benchmark that lists one raw file per subset (``datasets.<name>.files``)."""

    file_key: ClassVar[str]  # the rule's name for that input file
    per_subset_settings = ("files",)

    def raw_files(
        self,
        settings: Mapping[str, Any],
        subset: str,
        languages: Mapping[str, Any],
        root: str | None,
    ) -> dict[str, str]:
        return {self.file_key: self._subset_file(settings, subset)}


def archive_path(url: str, root: str | Path) -> Path:
    """Where the archive of ``root`` is downloaded: beside it, with the URL's suffix."""
    root = Path(root)
    name = Path(urlparse(url).path).name.lower()
    suffix = next(
        (suffix for suffix in TAR_SUFFIXES + ZIP_SUFFIXES if name.endswith(suffix)),
        ".tar.gz",  # tarfile detects the compression itself
    )
    return root.with_name(root.name + suffix)


def top_folder(archive: str | Path) -> str:
    """The one folder every member of ``archive`` lies under (an error otherwise)."""
    archive = Path(archive)
    if archive.name.lower().endswith(ZIP_SUFFIXES):
        with zipfile.ZipFile(archive) as handle:
            names = handle.namelist()
    else:
        try:
            with tarfile.open(archive, "r:*") as handle:
                names = handle.getnames()
        except (tarfile.TarError, EOFError, OSError) as error:
            raise InputError(f"cannot read archive: {error}", path=archive) from error
    tops = set()
    for name in names:
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if parts:
            tops.add(parts[0])
    if len(tops) != 1:
        found = ", ".join(sorted(tops)) or "(nothing)"
        raise InputError(
            f"expected one top folder in the archive, found: {found}", path=archive
        )
    return tops.pop()


def split_subset(subset: str) -> tuple[str, str]:
    """``"en-pt"`` -> ``("en", "pt")``."""
    parts = subset.split("-") if isinstance(subset, str) else []
    if len(parts) != 2 or not all(parts):
        raise InputError(
            f"expected a pair such as 'en-pt', got {subset!r}", field="subset"
        )
    return parts[0], parts[1]
