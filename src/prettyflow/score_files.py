"""Score files (written by the score step) read back and checked for the tables and figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prettyflow.errors import InputError, is_integer, is_number
from prettyflow.io import read_json

# What the table reads from each score file (written by the score step).
SCORE_FILE_KEYS = ("system", "subset", "scores", "diagnostics", "provenance")
DIAGNOSTIC_KEYS = ("samples", "empty_outputs", "mean_new_tokens", "stopped_by")


def _is_count(value: Any) -> bool:
    return is_integer(value) and value >= 0


# What each diagnostic must hold, and how the error says it.
_DIAGNOSTIC_CHECKS = {
    "samples": (_is_count, "a whole number >= 0"),
    "empty_outputs": (_is_count, "a whole number >= 0"),
    "mean_new_tokens": (is_number, "a number"),
    "stopped_by": (
        lambda value: (
            isinstance(value, dict)
            and all(_is_count(count) for count in value.values())
        ),
        'an object of counts, e.g. {"eos": 16}',
    ),
    "parse_failure_rate": (is_number, "a number"),
    "cleaning": (
        lambda value: (
            isinstance(value, dict)
            and isinstance(value.get("changed"), dict)
            and all(_is_count(count) for count in value["changed"].values())
            and _is_count(value.get("emptied"))
        ),
        'an object with "changed" (counts per rule) and "emptied" (a count)',
    ),
}


def read_score_file(
    path: str | Path,
    metrics: Sequence[str],
    diagnostics: Sequence[str] = DIAGNOSTIC_KEYS,
) -> dict[str, Any]:
    """One score JSON, checked for what the tables and figures use.

    Errors name the file and the key: ``system`` and ``subset`` are non-empty
    strings; ``scores.<metric>.score`` of every metric in ``metrics`` a finite
    number or null (NaN: not available); the ``diagnostics`` keys are present
    and of their kind; ``provenance`` gives ``k`` with a ``prior_source``.
    """
    result = read_json(path, "score file")
    if not isinstance(result, dict):
        raise InputError(
            f"expected a JSON object, got a JSON {type(result).__name__}", path=path
        )
    for key in SCORE_FILE_KEYS:
        if key not in result:
            raise InputError(
                "missing; was the file written by the score step?", path=path, field=key
            )
    for key in ("system", "subset"):
        if not isinstance(result[key], str) or not result[key].strip():
            raise InputError(
                f"expected a non-empty string, got {result[key]!r}",
                path=path,
                field=key,
            )
    for key in ("scores", "diagnostics", "provenance"):
        if not isinstance(result[key], dict):
            raise InputError("expected an object", path=path, field=key)
    for metric in metrics:
        entry = result["scores"].get(metric)
        if not isinstance(entry, dict) or "score" not in entry:
            raise InputError(
                f"no score for metric {metric!r}; the file scores: "
                f"{', '.join(result['scores']) or 'nothing'}",
                path=path,
                field=f"scores.{metric}",
            )
        value = entry["score"]
        if value is not None and (not is_number(value) or math.isinf(value)):
            raise InputError(
                f"expected a finite number or null, got {value!r}",
                path=path,
                field=f"scores.{metric}.score",
            )
    for key in diagnostics:
        if key not in result["diagnostics"]:
            raise InputError("missing", path=path, field=f"diagnostics.{key}")
    optional = [
        key
        for key in ("parse_failure_rate", "cleaning")
        if key in result["diagnostics"]
    ]
    for key in [*diagnostics, *optional]:
        check, expected = _DIAGNOSTIC_CHECKS.get(key, (lambda value: True, ""))
        if not check(result["diagnostics"][key]):
            raise InputError(
                f"expected {expected}, got {result['diagnostics'][key]!r}",
                path=path,
                field=f"diagnostics.{key}",
            )
    provenance = result["provenance"]
    for key in ("model", "decoding"):
        if key in provenance and not isinstance(provenance[key], dict):
            raise InputError("expected an object", path=path, field=f"provenance.{key}")
    if provenance.get("prior_source") and "k" not in provenance:
        raise InputError(
            "missing: a prior's provenance gives its k",
            path=path,
            field="provenance.k",
        )
    return result
