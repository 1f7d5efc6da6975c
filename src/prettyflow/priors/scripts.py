"""Unicode scripts of words: which scripts a language is written in, and whether a
word (or a token's text) is written in them. Used by the control priors
(:mod:`prettyflow.priors.control`) to keep drawn words in the target's script."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

# Language code -> the Unicode scripts its words are written in.
LANGUAGE_SCRIPTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("en", "pt", "fr", "de", "es", "it", "nl", "ro", "ca", "pl", "cs", "sk",
         "sv", "da", "no", "fi", "et", "lv", "lt", "hu", "hr", "sl", "tr", "az",
         "id", "ms", "vi", "sw", "tl", "eu", "ga", "is", "sq", "uz"),
        ("Latin",),
    ),
    **dict.fromkeys(
        ("ru", "uk", "be", "bg", "mk", "kk", "ky", "mn", "tg"), ("Cyrillic",)
    ),
    "sr": ("Cyrillic", "Latin"),
    "zh": ("Han",),
    "ja": ("Hiragana", "Katakana", "Han"),
    "ko": ("Hangul",),
    **dict.fromkeys(("ar", "fa", "ur", "ps"), ("Arabic",)),
    **dict.fromkeys(("he", "yi"), ("Hebrew",)),
    **dict.fromkeys(("hi", "mr", "ne", "sa"), ("Devanagari",)),
    "el": ("Greek",),
    "th": ("Thai",),
    "bn": ("Bengali",),
    "ta": ("Tamil",),
    "te": ("Telugu",),
    "gu": ("Gujarati",),
    "pa": ("Gurmukhi",),
    "ka": ("Georgian",),
    "hy": ("Armenian",),
    "am": ("Ethiopic",),
    "km": ("Khmer",),
}  # fmt: skip

# Scripts whose characters' Unicode names do not start with the script's name.
SCRIPT_NAME_PREFIXES: dict[str, tuple[str, ...]] = {
    "Han": (
        "CJK UNIFIED IDEOGRAPH",
        "CJK COMPATIBILITY IDEOGRAPH",
        "IDEOGRAPHIC ITERATION MARK",  # 々
    ),
    "Hiragana": ("HIRAGANA ", "KATAKANA-HIRAGANA "),
    "Katakana": ("KATAKANA ", "KATAKANA-HIRAGANA "),
}  # fmt: skip
# Width variants (ａ, ｶ) belong to the script of the character they stand for.
WIDTH_PREFIXES = ("FULLWIDTH ", "HALFWIDTH ")


def in_script(character: str, script: str) -> bool:
    """Whether ``character``'s Unicode name places it in ``script`` (e.g. "Latin")."""
    name = unicodedata.name(character, "")
    for prefix in WIDTH_PREFIXES:
        name = name.removeprefix(prefix)
    prefixes = SCRIPT_NAME_PREFIXES.get(
        script, (script.upper().replace("_", " ") + " ",)
    )
    return name.startswith(prefixes)


def is_script_word(text: str, scripts: Sequence[str], allow_marks: bool = True) -> bool:
    """Non-empty, only letters of ``scripts`` (and, after a letter, combining marks)."""
    if not text:
        return False
    for position, character in enumerate(text):
        category = unicodedata.category(character)
        if category.startswith("L"):
            if not any(in_script(character, script) for script in scripts):
                return False
        elif category.startswith("M") and allow_marks and position > 0:
            # A mark is the script's own (DEVANAGARI VOWEL SIGN AA) or shared
            # by every script (COMBINING ACUTE ACCENT).
            if not (
                unicodedata.name(character, "").startswith("COMBINING ")
                or any(in_script(character, script) for script in scripts)
            ):
                return False
        else:
            return False
    return True


def is_written_in(word: str, scripts: Sequence[str]) -> bool:
    """Whether every letter of ``word`` (and at least one) is of ``scripts``.

    Unlike :func:`is_script_word`, other characters (the apostrophe of "can't",
    the hyphen of "pode-se", marks) do not count against a listed word.
    """
    letters = [c for c in word if unicodedata.category(c).startswith("L")]
    return bool(letters) and all(
        any(in_script(letter, script) for script in scripts) for letter in letters
    )
