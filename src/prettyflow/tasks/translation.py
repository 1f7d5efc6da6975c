"""Machine translation (Flores-101, WMT23): source sentence -> target sentence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.priors.tokens import pseudo_prior_matches
from prettyflow.tasks.base import Task


def language_name(
    languages: Mapping[str, str], code: Any, row: int, column: str
) -> str:
    name = languages.get(code) if isinstance(code, str) else None
    if not name:
        raise InputError(
            f"row {row}: no language name for code {code!r}; known codes: "
            f"{', '.join(sorted(languages))}",
            field=column,
        )
    return name


def text_fields(
    record: Mapping[str, Any], languages: Mapping[str, str], row: int
) -> dict[str, str]:
    """Fields of a source text -> target text task."""
    source = record["source"]
    if not isinstance(source, str) or not source.strip():
        raise InputError(f"row {row}: empty source text", field="source")
    return {
        "source_language": language_name(
            languages, record["source_lang"], row, "source_lang"
        ),
        "target_language": language_name(
            languages, record["target_lang"], row, "target_lang"
        ),
        "source_text": source,
    }


class Translation(Task):
    name = "translation"
    columns = ("id", "source", "reference", "source_lang", "target_lang")
    answer_words = ("Translation",)

    def prompt_fields(self, record, languages, row):
        return text_fields(record, languages, row)

    def refined_inputs(self, frame: pd.DataFrame, options) -> list[str]:
        return list(frame["source"])

    def pseudo_matches(self, frame, lexicon, upstream, source_lang):
        return pseudo_prior_matches(list(frame["source"]), lexicon, source_lang)
