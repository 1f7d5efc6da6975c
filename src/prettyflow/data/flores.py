"""Flores-101 / Flores-200 translation directions as one table.

A Flores release directory holds one file per language and split, line ``i`` of
every file being the same sentence::

    <root>/dev/eng.dev                   Flores-101 (ISO 639-3 stems, zho_simpl, ...)
    <root>/devtest/eng_Latn.devtest      Flores-200 (stems carry the script)
    <root>/metedata_dev.tsv              optional; the misspelling is the official name

Reading checks what silently breaks a benchmark: missing files, files that are
not aligned (different line counts), empty sentences, undecodable bytes and
metadata that does not line up with the sentences.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from prettyflow.data.download import sha256_of
from prettyflow.data.parallel import check_aligned, check_max_samples, check_segments
from prettyflow.errors import InputError
from prettyflow.io import existing_file, read_lines, write_parquet

FLORES_SPLITS = ("dev", "devtest")

# ISO 639-1 -> file stem, for the languages of the paper (Section 4.1).
FLORES101_CODES: dict[str, str] = {
    "en": "eng",
    "fr": "fra",
    "de": "deu",
    "zh": "zho_simpl",
    "ru": "rus",
    "uk": "ukr",
    "pt": "por",
    "hi": "hin",
    "ar": "ara",
}
FLORES200_CODES: dict[str, str] = {
    "en": "eng_Latn",
    "fr": "fra_Latn",
    "de": "deu_Latn",
    "zh": "zho_Hans",
    "ru": "rus_Cyrl",
    "uk": "ukr_Cyrl",
    "pt": "por_Latn",
    "hi": "hin_Deva",
    "ar": "arb_Arab",
}

# Flores-200 stems are ``<iso639-3>_<ISO 15924 script>``; Flores-101 ones are not.
_FLORES200_STEM = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")

CORE_COLUMNS = (
    "id",
    "source",
    "reference",
    "source_lang",
    "target_lang",
    "split",
    "line",
)


def flores_release(code: str) -> str:
    """``"flores200"`` for a stem like ``eng_Latn``, else ``"flores101"``."""
    return "flores200" if _FLORES200_STEM.match(code) else "flores101"


def default_metadata_file(split: str) -> str:
    return f"metedata_{split}.tsv"


def language_file(root: str | Path, split: str, code: str) -> Path:
    return Path(root) / split / f"{code}.{split}"


def snake_case(name: str) -> str:
    """``URL`` -> ``url``, ``hasImage`` -> ``has_image``, ``Has Image`` -> ``has_image``."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def _require_language_file(root: Path, split: str, code: str) -> Path:
    path = language_file(root, split, code)
    # A file, or what stands in its place (a directory, a broken link): say which.
    if os.path.lexists(path):
        return existing_file(path, "Flores file")
    folder = path.parent
    if folder.is_dir():
        present = sorted(entry.name for entry in folder.iterdir())
        listing = ", ".join(present) if present else "(empty)"
        raise InputError(
            f"no file for language code {code!r} in split {split!r}; "
            f"{folder} contains: {listing}",
            path=path,
        )
    present = sorted(entry.name for entry in root.iterdir()) if root.is_dir() else []
    listing = ", ".join(present) if present else "(missing or empty)"
    raise InputError(
        f"no {split!r} folder under the Flores root {root}; the root contains: {listing}",
        path=path,
    )


def _read_metadata(path: Path, expected_rows: int, reserved: set[str]) -> pd.DataFrame:
    """The metadata tsv: a header line, then one row per sentence, tab separated."""
    lines = read_lines(path, "Flores metadata file")
    if not lines:
        raise InputError(
            "empty metadata file: expected a header line", path=path, line=1
        )
    # Fields are never quoted in Flores: a plain split keeps every character as text.
    rows = [line.split("\t") for line in lines]
    header = [snake_case(name) for name in rows[0]]
    for position, name in enumerate(header):
        if not name:
            raise InputError(
                f"column {position + 1} of the header has no name", path=path, line=1
            )
        if name in reserved:
            raise InputError(
                f"metadata column {name!r} clashes with a data column",
                path=path,
                line=1,
                field=name,
            )
        if header.index(name) != position:
            raise InputError(
                f"duplicate column {name!r} (after snake_case)",
                path=path,
                line=1,
                field=name,
            )
    body = rows[1:]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(
                f"expected {len(header)} tab-separated fields ({', '.join(header)}), found {len(row)}",
                path=path,
                line=number,
            )
    if len(body) != expected_rows:
        raise InputError(
            f"metadata has {len(body)} rows but the language files have {expected_rows} lines "
            f"(the header is line 1; row i describes sentence i)",
            path=path,
            line=min(len(body), expected_rows) + 2,
        )
    return pd.DataFrame(body, columns=header, dtype=str)


def _metadata_path(
    root: Path, split: str, metadata_file: str | Path | None
) -> Path | None:
    """The metadata file to read, or None when the default one is absent."""
    if metadata_file is not None:
        path = Path(metadata_file)
        path = path if path.is_absolute() else root / path
        if not os.path.lexists(path):
            raise InputError("metadata file given explicitly but not found", path=path)
        return path
    path = root / default_metadata_file(split)
    # Present but not a readable file (a broken link): the reader says what it is.
    return path if os.path.lexists(path) else None


def _flores_files(
    root: Path,
    split: str,
    source_code: str,
    target_code: str,
    metadata_file: str | Path | None,
) -> tuple[Path, Path, Path | None]:
    if split not in FLORES_SPLITS:
        raise InputError(
            f"unknown split {split!r}; expected one of {', '.join(FLORES_SPLITS)}",
            field="split",
        )
    releases = {flores_release(source_code), flores_release(target_code)}
    if len(releases) != 1:
        raise InputError(
            f"language codes {source_code!r} and {target_code!r} come from different Flores releases",
            field="source_code",
        )
    source_path = _require_language_file(root, split, source_code)
    target_path = _require_language_file(root, split, target_code)
    return source_path, target_path, _metadata_path(root, split, metadata_file)


def read_flores_direction(
    root: str | Path,
    split: str,
    source_code: str,
    target_code: str,
    source_lang: str,
    target_lang: str,
    metadata_file: str | Path | None = None,
    max_samples: int | None = None,
) -> pd.DataFrame:
    """One translation direction of a Flores split, one row per sentence.

    ``source_code``/``target_code`` are file stems (``eng``, ``zho_simpl``,
    ``eng_Latn``); ``source_lang``/``target_lang`` are the ISO 639-1 codes stored
    in the rows. ``metadata_file`` is relative to ``root`` (or absolute); by
    default ``metedata_<split>.tsv`` is used when present. The whole files are
    validated even when ``max_samples`` keeps only the first rows.

    Columns: id (``<split>-<line:04d>``), source, reference, source_lang,
    target_lang, split, line (1-based), then the metadata columns in snake_case.
    """
    root = Path(root)
    check_max_samples(max_samples)
    source_path, target_path, metadata_path = _flores_files(
        root, split, source_code, target_code, metadata_file
    )
    source = read_lines(source_path, "Flores file")
    target = read_lines(target_path, "Flores file")
    check_aligned(source_path, source, target_path, target)
    check_segments(source_path, source)
    check_segments(target_path, target)

    count = len(source)
    frame = pd.DataFrame(
        {
            "id": [f"{split}-{number:04d}" for number in range(1, count + 1)],
            "source": pd.Series(source, dtype=str),
            "reference": pd.Series(target, dtype=str),
            "source_lang": source_lang,
            "target_lang": target_lang,
            "split": split,
            "line": pd.Series(range(1, count + 1), dtype="int64"),
        }
    )
    if metadata_path is not None:
        metadata = _read_metadata(metadata_path, count, reserved=set(CORE_COLUMNS))
        frame = pd.concat([frame, metadata], axis=1)
    if max_samples is not None:
        frame = frame.head(max_samples).reset_index(drop=True)
    return frame


def prepare_flores_direction(
    root: str | Path,
    split: str,
    source_code: str,
    target_code: str,
    source_lang: str,
    target_lang: str,
    output_path: str | Path,
    metadata_file: str | Path | None = None,
    max_samples: int | None = None,
) -> pd.DataFrame:
    """Read one direction (see :func:`read_flores_direction`) and write it as Parquet.

    The output is written atomically, only after every check passed, with the
    provenance: dataset, split, root, the files read and their sha256.
    """
    root = Path(root)
    frame = read_flores_direction(
        root,
        split,
        source_code,
        target_code,
        source_lang,
        target_lang,
        metadata_file,
        max_samples,
    )
    source_path, target_path, metadata_path = _flores_files(
        root, split, source_code, target_code, metadata_file
    )
    files = [
        path for path in (source_path, target_path, metadata_path) if path is not None
    ]
    names = [_relative_name(path, root) for path in files]
    provenance = {
        "dataset": flores_release(source_code),
        "split": split,
        "root": str(root),
        "source_code": source_code,
        "target_code": target_code,
        "files": names,
        "sha256": {name: sha256_of(path) for name, path in zip(names, files)},
        "max_samples": max_samples,
        "rows": len(frame),
    }
    write_parquet(frame, output_path, provenance=provenance)
    return frame


def _relative_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
