"""The WMT23 general test set (plain-text release) as one table per direction.

The organisers' repository wmt-conference/wmt23-news-systems holds one file per
direction for the sources and one per direction and reference, line ``i`` of the
reference translating line ``i`` of the source::

    <root>/txt/sources/generaltest2023.en-uk.src.en
    <root>/txt/references/generaltest2023.en-uk.ref.refA.uk

Reading checks what silently breaks a benchmark: missing files, files that are
not aligned (different line counts), empty segments and undecodable bytes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from prettyflow.data.download import sha256_of
from prettyflow.data.flores import CORE_COLUMNS
from prettyflow.data.parallel import check_aligned, check_max_samples, check_segments
from prettyflow.errors import InputError
from prettyflow.io import existing_file, read_lines, write_parquet

WMT23_TEST_SET = "generaltest2023"
WMT23_REF = "refA"
# The archive sacrebleu's "wmt23" test set downloads (sacrebleu 2.4-2.6), with the
# md5 it checks; the top folder of the archive is wmt23-news-systems-v.0.1/.
WMT23_URL = (
    "https://github.com/wmt-conference/wmt23-news-systems/archive/refs/tags/"
    "v.0.1.tar.gz"
)
WMT23_MD5 = "63576405e4ce07130a19ad76ba7eb75b"

_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")


def _check_language(code: object, field: str) -> None:
    if not isinstance(code, str) or not _LANGUAGE_CODE.match(code):
        raise InputError(
            f"expected a language code such as 'en' or 'uk', got {code!r}", field=field
        )


def source_file(test_set: str, source_lang: str, target_lang: str) -> str:
    """The source file of a direction, relative to the release root."""
    pair = f"{source_lang}-{target_lang}"
    return f"txt/sources/{test_set}.{pair}.src.{source_lang}"


def reference_file(test_set: str, source_lang: str, target_lang: str, ref: str) -> str:
    """The reference file ``ref`` (``refA``, ``refB``) of a direction, relative to the root."""
    pair = f"{source_lang}-{target_lang}"
    return f"txt/references/{test_set}.{pair}.ref.{ref}.{target_lang}"


def _require_file(path: Path, root: Path) -> Path:
    """``path``, or an error listing what its folder holds (a wrong pair or ref name)."""
    # A file, or what stands in its place (a directory, a broken link): say which.
    if os.path.lexists(path):
        return existing_file(path, "WMT file")
    folder = path.parent
    if folder.is_dir():
        present = sorted(entry.name for entry in folder.iterdir())
        listing = ", ".join(present) if present else "(empty)"
        raise InputError(f"file not found; {folder} contains: {listing}", path=path)
    present = sorted(entry.name for entry in root.iterdir()) if root.is_dir() else []
    listing = ", ".join(present) if present else "(missing or empty)"
    raise InputError(
        f"file not found and no folder {folder}; is {root} the root of the "
        f"wmt23-news-systems release (with txt/)? It contains: {listing}",
        path=path,
    )


def wmt_paths(
    root: str | Path,
    source_lang: str,
    target_lang: str,
    test_set: str = WMT23_TEST_SET,
    ref: str = WMT23_REF,
) -> tuple[Path, Path]:
    """The (source, reference) files of a direction under ``root``."""
    root = Path(root)
    return (
        root / source_file(test_set, source_lang, target_lang),
        root / reference_file(test_set, source_lang, target_lang, ref),
    )


def read_wmt_direction(
    root: str | Path,
    source_lang: str,
    target_lang: str,
    test_set: str = WMT23_TEST_SET,
    ref: str = WMT23_REF,
    max_samples: int | None = None,
) -> pd.DataFrame:
    """One direction of a WMT general test set, one row per segment.

    ``root`` is the release folder (the one holding ``txt/``). The whole files
    are validated even when ``max_samples`` keeps only the first rows.

    Columns (those of Flores): id (``<test_set>-<line:04d>``), source,
    reference, source_lang, target_lang, split (the test set), line (1-based).
    """
    _check_language(source_lang, "source_lang")
    _check_language(target_lang, "target_lang")
    check_max_samples(max_samples)
    root = Path(root)
    source_path, reference_path = (
        _require_file(path, root)
        for path in wmt_paths(root, source_lang, target_lang, test_set, ref)
    )
    source = read_lines(source_path, "WMT source file")
    reference = read_lines(reference_path, "WMT reference file")
    check_aligned(source_path, source, reference_path, reference)
    check_segments(source_path, source, unit="segment")
    check_segments(reference_path, reference, unit="segment")

    count = len(source) if max_samples is None else min(len(source), max_samples)
    numbers = range(1, count + 1)
    frame = pd.DataFrame(
        {
            "id": [f"{test_set}-{number:04d}" for number in numbers],
            "source": pd.Series(source[:count], dtype=str),
            "reference": pd.Series(reference[:count], dtype=str),
            "source_lang": source_lang,
            "target_lang": target_lang,
            "split": test_set,
            "line": pd.Series(numbers, dtype="int64"),
        },
        columns=list(CORE_COLUMNS),
    )
    return frame


def prepare_wmt_direction(
    root: str | Path,
    source_lang: str,
    target_lang: str,
    output_path: str | Path,
    test_set: str = WMT23_TEST_SET,
    ref: str = WMT23_REF,
    max_samples: int | None = None,
) -> pd.DataFrame:
    """Read one direction (see :func:`read_wmt_direction`) and write it as Parquet.

    The output is written atomically, only after every check passed, with the
    provenance: test set, reference, root, the files read and their sha256.
    """
    root = Path(root)
    frame = read_wmt_direction(
        root, source_lang, target_lang, test_set, ref, max_samples
    )
    files = wmt_paths(root, source_lang, target_lang, test_set, ref)
    names = [path.relative_to(root).as_posix() for path in files]
    provenance = {
        "dataset": "wmt",
        "test_set": test_set,
        "ref": ref,
        "root": str(root),
        "source_lang": source_lang,
        "target_lang": target_lang,
        "files": names,
        "sha256": {name: sha256_of(path) for name, path in zip(names, files)},
        "max_samples": max_samples,
        "rows": len(frame),
    }
    write_parquet(frame, output_path, provenance=provenance)
    return frame
