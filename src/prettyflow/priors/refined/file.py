"""The ``file`` refined backend: outputs (texts or tags) produced elsewhere, by id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prettyflow.errors import InputError
from prettyflow.io import parse_json_text, read_lines
from prettyflow.pos.data import UPOS_TAGS
from prettyflow.priors.refined.base import GENERATION, REQUIRED, TAGGING, RefinedBackend


def _file(options, inputs, ids, *, kind, **_: Any) -> list[Any]:
    if not isinstance(options["path"], str) or not options["path"].strip():
        raise InputError(
            f"expected the path of a .jsonl or .tsv file, got {options['path']!r}",
            field="options.path",
        )
    path = Path(options["path"])
    outputs = _read_outputs_file(path, ids, tags=kind == TAGGING)
    if kind == TAGGING:
        for sample_id, words, sentence_tags in zip(ids, inputs, outputs):
            if len(sentence_tags) != len(words):
                raise InputError(
                    f"sample {sample_id!r} has {len(words)} words but "
                    f"{len(sentence_tags)} tags",
                    path=path,
                    field="output",
                )
            unknown = [tag for tag in sentence_tags if tag not in UPOS_TAGS]
            if unknown:
                raise InputError(
                    f"sample {sample_id!r}: unknown tag {unknown[0]!r}; expected one "
                    f"of the 17 UPOS tags: {' '.join(UPOS_TAGS)}",
                    path=path,
                    field="output",
                )
    return outputs


def _read_outputs_file(path: Path, ids: Sequence[str], tags: bool) -> list[Any]:
    """Outputs by id from JSONL (``{"id", "output"}``) or TSV (``id<TAB>output``; tags space-separated).

    Lines are read by :func:`prettyflow.io.read_lines` (UTF-8, an optional BOM,
    ``\\n`` or ``\\r\\n``); blank lines are skipped. Every id must be a
    non-empty string given once, every output a string (tags: a list of
    strings), and every sample id must have an output.
    """
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".tsv"):
        raise InputError(
            f"expected a .jsonl or .tsv file of outputs, got {suffix or 'no suffix'!r}",
            path=path,
        )
    by_id: dict[str, Any] = {}
    line_of_id: dict[str, int] = {}
    for line_number, line in enumerate(
        read_lines(path, "refined outputs file"), start=1
    ):
        if not line.strip():
            continue
        sample_id, output = (
            _parse_jsonl_line(line, path, line_number, tags)
            if suffix == ".jsonl"
            else _parse_tsv_line(line, path, line_number, tags)
        )
        if sample_id in by_id:
            raise InputError(
                f"duplicate id {sample_id!r} (first on line {line_of_id[sample_id]})",
                path=path,
                line=line_number,
                field="id",
            )
        by_id[sample_id] = output
        line_of_id[sample_id] = line_number
    missing = [sample_id for sample_id in ids if sample_id not in by_id]
    if missing:
        shown = ", ".join(repr(sample_id) for sample_id in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        held = f"{len(by_id)} output(s)" if by_id else "no output at all"
        raise InputError(
            f"no output for {len(missing)} id(s): {shown}{more} (the file holds {held})",
            path=path,
            field="id",
        )
    return [by_id[sample_id] for sample_id in ids]


def _parse_jsonl_line(
    line: str, path: Path, line_number: int, tags: bool
) -> tuple[str, Any]:
    expected_output = "a list of tag strings" if tags else "a string"
    record = parse_json_text(
        line,
        path=path,
        line=line_number,
        expected='one object {"id": ..., "output": ...} per line',
    )
    if not isinstance(record, dict):
        raise InputError(
            f'expected an object with "id" and "output", got a JSON {type(record).__name__}',
            path=path,
            line=line_number,
        )
    for key in ("id", "output"):
        if key not in record:
            present = ", ".join(sorted(record)) or "(none)"
            raise InputError(
                f"missing; the object has: {present}",
                path=path,
                line=line_number,
                field=key,
            )
    sample_id = record["id"]
    if not isinstance(sample_id, str) or not sample_id.strip():
        hint = " (write it as a string, as the data ids are)" if sample_id else ""
        raise InputError(
            f"expected a non-empty string id, got {json.dumps(sample_id)}{hint}",
            path=path,
            line=line_number,
            field="id",
        )
    _check_id_spacing(sample_id, path, line_number)
    output = record["output"]
    valid = (
        isinstance(output, list) and all(isinstance(tag, str) for tag in output)
        if tags
        else isinstance(output, str)
    )
    if not valid:
        empty = (
            "; write an empty output as []" if tags else '; write an empty output as ""'
        )
        raise InputError(
            f"expected {expected_output}, got {json.dumps(output)[:60]}"
            + (empty if output is None else ""),
            path=path,
            line=line_number,
            field="output",
        )
    return sample_id, output


def _parse_tsv_line(
    line: str, path: Path, line_number: int, tags: bool
) -> tuple[str, Any]:
    if "\t" not in line:
        raise InputError("expected id<TAB>output", path=path, line=line_number)
    sample_id, output = line.split("\t", 1)
    if not sample_id.strip():
        raise InputError(
            "empty id before the TAB", path=path, line=line_number, field="id"
        )
    _check_id_spacing(sample_id, path, line_number)
    return sample_id, output.split() if tags else output


def _check_id_spacing(sample_id: str, path: Path, line_number: int) -> None:
    # " s1" would match no data id, and the error would name "s1" as missing.
    if sample_id != sample_id.strip():
        raise InputError(
            f"id {sample_id!r} has leading or trailing whitespace; write the data "
            "id exactly",
            path=path,
            line=line_number,
            field="id",
        )


BACKEND = RefinedBackend(frozenset({GENERATION, TAGGING}), {"path": REQUIRED}, _file)
