"""CrossSum cross-lingual summarization pairs as one table.

CrossSum (Bhattacharjee et al., 2023; csebuetnlp/CrossSum) is released as JSON
Lines, one file per language pair and split (``english-chinese_simplified_test.jsonl``),
one object per line::

    {"source_url": "https://www.bbc.com/...", "target_url": "https://www.bbc.com/...",
     "summary": "<summary in the target language>", "text": "<article in the source language>"}

``text`` (the article, in the source language) becomes ``source`` and ``summary``
(in the target language) becomes ``reference``. Every other field is kept as a
metadata column. Reading checks what silently breaks a benchmark: lines that are
not JSON objects, missing or non-string ``text``/``summary``, empty texts,
undecodable bytes and duplicate ids.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.data.download import sha256_of
from prettyflow.errors import InputError
from prettyflow.io import parse_json_text, read_lines, write_parquet

REQUIRED_FIELDS = ("text", "summary")
# The id comes from the first of these fields that holds a non-empty string.
ID_FIELDS = ("id", "source_url")
CORE_COLUMNS = ("id", "source", "reference", "source_lang", "target_lang", "line")

_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")


def _check_language(code: Any, field: str) -> None:
    if not isinstance(code, str) or not _LANGUAGE_CODE.match(code):
        raise InputError(
            f"expected an ISO 639-1 code such as 'en' or 'zh', got {code!r}",
            field=field,
        )


def _metadata_value(value: Any) -> str | None:
    """Metadata columns hold strings so that the Parquet schema does not depend on the data."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _parse_record(path: Path, number: int, line: str) -> dict[str, Any]:
    # Also refuses repeated keys and strings Parquet cannot hold (lone surrogates).
    record = parse_json_text(
        line, path=path, line=number, expected="one JSON object per line"
    )
    if not isinstance(record, dict):
        raise InputError(
            f"expected a JSON object with fields {', '.join(REQUIRED_FIELDS)}, got a JSON {type(record).__name__}",
            path=path,
            line=number,
        )
    for field in REQUIRED_FIELDS:
        if field not in record:
            present = ", ".join(sorted(record)) or "(none)"
            raise InputError(
                f"missing required field; the object has: {present}",
                path=path,
                line=number,
                field=field,
            )
        value = record[field]
        if not isinstance(value, str):
            raise InputError(
                f"expected a string, got {type(value).__name__}",
                path=path,
                line=number,
                field=field,
            )
        if not value.strip():
            raise InputError(
                "empty or whitespace-only text", path=path, line=number, field=field
            )
    return record


def _record_id(
    record: dict[str, Any], path: Path, number: int
) -> tuple[str, str | None]:
    """The id and the field it came from (None for the line-number fallback).

    An ``id`` field that is there must be usable: a null, a number with a
    fraction or a list would otherwise be passed over silently for the next field.
    """
    if "id" in record:
        value = record["id"]
        if (
            isinstance(value, bool)
            or not isinstance(value, (str, int))
            or not str(value).strip()
        ):
            raise InputError(
                f"expected a non-empty string or integer id, got {json.dumps(value)[:60]} "
                "(leave the field out to use source_url or the line number)",
                path=path,
                line=number,
                field="id",
            )
    for field in ID_FIELDS:
        value = record.get(field)
        if (
            isinstance(value, (str, int))
            and not isinstance(value, bool)
            and str(value).strip()
        ):
            return str(value).strip(), field
    return f"{number:05d}", None


def read_crosssum(
    path: str | Path,
    source_lang: str,
    target_lang: str,
    max_samples: int | None = None,
) -> pd.DataFrame:
    """One CrossSum JSONL file, one row per article-summary pair.

    Blank lines are skipped. The whole file is validated even when
    ``max_samples`` keeps only the first rows (in file order).

    Columns: id, source (``text``), reference (``summary``), source_lang,
    target_lang, line (1-based line of the object), then every other field of
    the objects in order of first appearance (strings; other JSON values are
    JSON-encoded; None where a line lacks the field).

    The id is the ``id`` field, else ``source_url``, else the line number as
    ``f"{line:05d}"``. Ids must be unique: an explicit ``id`` that repeats is an
    error; a repeated ``source_url`` (one article paired with several
    summaries) gets ``#2``, ``#3``... appended to its later occurrences, so ids
    stay stable for the same file.

    Long because each field of a CrossSum record has its own check and its own error
    message.
    """
    path = Path(path)
    _check_language(source_lang, "source_lang")
    _check_language(target_lang, "target_lang")
    if max_samples is not None and (
        isinstance(max_samples, bool)
        or not isinstance(max_samples, int)
        or max_samples < 1
    ):
        raise InputError(
            f"must be a positive integer or None, got {max_samples!r}",
            field="max_samples",
        )

    rows: list[dict[str, Any]] = []
    metadata_fields: list[str] = []
    first_line_of_id: dict[str, int] = {}
    url_occurrences: dict[str, int] = {}
    for number, line in enumerate(read_lines(path, "CrossSum file"), start=1):
        if not line.strip():
            continue
        record = _parse_record(path, number, line)
        sample_id, id_field = _record_id(record, path, number)
        if id_field == "source_url":
            url_occurrences[sample_id] = url_occurrences.get(sample_id, 0) + 1
            if url_occurrences[sample_id] > 1:
                sample_id = f"{sample_id}#{url_occurrences[sample_id]}"
        if sample_id in first_line_of_id:
            raise InputError(
                f"duplicate id {sample_id!r} (first used on line {first_line_of_id[sample_id]})",
                path=path,
                line=number,
                field=id_field or "id",
            )
        first_line_of_id[sample_id] = number
        row = {
            "id": sample_id,
            "source": record["text"],
            "reference": record["summary"],
            "source_lang": source_lang,
            "target_lang": target_lang,
            "line": number,
        }
        for field, value in record.items():
            if field in REQUIRED_FIELDS:
                continue
            if field in CORE_COLUMNS:
                # "id" is already the row id; other clashes would overwrite data columns.
                if field == "id":
                    continue
                raise InputError(
                    "field name clashes with a data column",
                    path=path,
                    line=number,
                    field=field,
                )
            if field not in metadata_fields:
                metadata_fields.append(field)
            row[field] = _metadata_value(value)
        rows.append(row)

    if not rows:
        raise InputError(
            "no samples: the file holds no JSON objects (it is empty or blank)",
            path=path,
        )
    if max_samples is not None:
        rows = rows[:max_samples]
    columns = list(CORE_COLUMNS) + metadata_fields
    frame = pd.DataFrame(
        [{column: row.get(column) for column in columns} for row in rows],
        columns=columns,
    )
    frame["line"] = frame["line"].astype("int64")
    return frame


def prepare_crosssum(
    path: str | Path,
    source_lang: str,
    target_lang: str,
    output_path: str | Path,
    max_samples: int | None = None,
) -> pd.DataFrame:
    """Read a CrossSum file (see :func:`read_crosssum`) and write it as Parquet.

    The output is written atomically, only after every check passed, with the
    provenance: dataset, input file and its sha256, languages, max_samples, rows.
    """
    path = Path(path)
    frame = read_crosssum(path, source_lang, target_lang, max_samples=max_samples)
    provenance = {
        "dataset": "crosssum",
        "file": str(path),
        "sha256": sha256_of(path),
        "source_lang": source_lang,
        "target_lang": target_lang,
        "max_samples": max_samples,
        "rows": len(frame),
    }
    write_parquet(frame, output_path, provenance=provenance)
    return frame
