"""Word normalisation shared by dictionary look-ups, pseudo priors and POS alignment."""

from __future__ import annotations

import unicodedata

# Invisible characters some dictionary exports carry inside words. ZWNJ/ZWJ are
# meaningful in a few scripts (Persian, Indic) but not in the paper's languages.
ZERO_WIDTH_CHARACTERS = "\u200b\u200c\u200d\ufeff\u2060"
_REMOVE_ZERO_WIDTH = str.maketrans("", "", ZERO_WIDTH_CHARACTERS)


def clean_word(text: str) -> str:
    """Zero-width characters removed, NFC, surrounding whitespace stripped."""
    return unicodedata.normalize("NFC", text.translate(_REMOVE_ZERO_WIDTH)).strip()


def normalize_word(word: str) -> str:
    """The case-insensitive form words are compared and looked up by.

    :func:`clean_word`, case-folded, then NFC again (casefold can undo NFC, e.g. it
    expands some precomposed letters).
    """
    return unicodedata.normalize("NFC", clean_word(word).casefold())
