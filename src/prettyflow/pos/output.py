"""Read the (word, tag) pairs out of a model's POS-tagging answer and align them.

The prompt (paper, appendix C.2) asks for a JSON array pairing each input word
with a UPOS tag, e.g. ``[{"word": "Je", "tag": "PRON"}, ...]``. Foundation and
SFT models answer in many near-JSON shapes, so :func:`parse_tagging_output`
reads leniently and never raises:

- prose before or after the answer, Markdown code fences, garbage after the array;
- single quotes, curly double quotes, unquoted words/tags, trailing or doubled
  commas, full-width ``，：［］｛｝`` as punctuation, Python tuples inside a list;
- truncated answers: every pair completed before the cut is kept (an object
  whose word and tag were both read is kept even if its ``}`` was cut off);
- shapes: ``[{"word": w, "tag": t}]`` (word keys: word/token/form/text/w; tag
  keys: tag/pos/upos/label/pos_tag/postag/part_of_speech/t, any case),
  ``[{"w": "t"}]`` and ``{"w1": "t1", "w2": "t2"}`` (word -> tag maps; an object
  with any word/tag key name is only read as a word/tag object, so
  ``{"word": "Le", "id": "3"}`` gives nothing), ``[["w", "t"], ...]``,
  ``{"words": [...], "tags": [...]}`` (zipped, the shorter list decides),
  answers wrapped in an object (``{"result": [...]}``), objects one after the
  other without the enclosing brackets, and an answer split into arrays one
  after the other (``[{...}], [{...}]``, as small base models write it when a
  prior closes the first array).

The first ``[`` or ``{`` from which pairs can be read is used, with the arrays
(or objects) that follow it separated only by commas and white space; anything
else ends the answer, and later arrays are ignored. Tags are normalised by
:func:`normalize_tag`.

Alignment to the gold words is monotonic: the predicted words and the gold
words are matched as a longest common subsequence over normalised words (NFC,
surrounding whitespace stripped, case-folded), so that the largest possible
number of predicted pairs is matched, each to at most one gold word, in order.
Gold words left unmatched are missing (``None``); predicted pairs left unmatched
are extra. Among equally long matchings the one found by walking both
sequences from the start is chosen: a match is taken as soon as it is optimal,
otherwise a gold word is skipped before a predicted one, so a predicted word
goes to the earliest gold word it can take. A dynamic program is used rather
than difflib (whose SequenceMatcher is a heuristic, not a longest matching).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from prettyflow.pos.data import UPOS_TAGS
from prettyflow.pos.reader import (
    _FULL_WIDTH,
    _MAX_DEPTH,
    _budget,
    _Object,
    _Reader,
    _Scan,
)
from prettyflow.text import normalize_word

_UPOS = frozenset(UPOS_TAGS)

# Names models use for UPOS tags -> the tag. UD v1 "CONJ" became "CCONJ" in v2.
# "CONJUNCTION" alone is ambiguous (CCONJ or SCONJ) and stays unmapped.
TAG_ALIASES: dict[str, str] = {
    "CONJ": "CCONJ",
    "PUNC": "PUNCT",
    "ADJECTIVE": "ADJ",
    "ADPOSITION": "ADP",
    "PREPOSITION": "ADP",
    "ADVERB": "ADV",
    "AUXILIARY": "AUX",
    "AUXILIARY VERB": "AUX",
    "COORDINATING CONJUNCTION": "CCONJ",
    "DETERMINER": "DET",
    "INTERJECTION": "INTJ",
    "NUMERAL": "NUM",
    "PARTICLE": "PART",
    "PRONOUN": "PRON",
    "PROPER NOUN": "PROPN",
    "PUNCTUATION": "PUNCT",
    "SUBORDINATING CONJUNCTION": "SCONJ",
    "SYMBOL": "SYM",
    "OTHER": "X",
}

WORD_KEYS = frozenset({"word", "token", "form", "text", "w"})
TAG_KEYS = frozenset(
    {"tag", "pos", "upos", "label", "pos_tag", "postag", "part_of_speech", "t"}
)
WORD_LIST_KEYS = frozenset({"words", "tokens", "word", "token"})
TAG_LIST_KEYS = frozenset({"tags", "labels", "pos", "upos", "pos_tags", "tag", "label"})

_MAX_CANDIDATES = 2000


@dataclass(frozen=True)
class ParsedTagging:
    """What could be read from one answer.

    ``pairs``: the predicted (word, tag) pairs in answer order (tags normalised).
    ``aligned_tags``: one entry per gold word, the tag of the predicted pair
    aligned to it or None. ``parse_ok``: at least one pair was read; ``error``
    says why not otherwise (None when ``parse_ok``). ``truncated``: the answer
    was cut (or broken) before its structure was closed.
    """

    pairs: list[tuple[str, str]]
    aligned_tags: list[str | None]
    parse_ok: bool
    error: str | None
    truncated: bool = False


def normalize_tag(tag: Any) -> str:
    """A UPOS tag from a model's spelling of it, else the tag as written (stripped).

    Case, surrounding punctuation/whitespace, ``-``/``_`` versus spaces are
    ignored; :data:`TAG_ALIASES` maps full names and UD v1 ``CONJ``. Anything
    else is returned stripped and unchanged, and counts as a wrong tag.
    None gives ``""``.
    """
    if tag is None:
        return ""
    text = str(tag).strip()
    key = re.sub(r"^\W+|\W+$", "", text).upper().replace("-", " ").replace("_", " ")
    key = " ".join(key.split())
    if key in _UPOS:
        return key
    return TAG_ALIASES.get(key, text)


# ---------------------------------------------------------------------------
# Pairs out of the values.


@functools.lru_cache(maxsize=4096)
def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _pairs_from_object(obj: _Object, depth: int) -> list[tuple[str, Any]]:
    word = tag = None
    word_found = tag_found = False
    for name, value in obj.items:
        key = _key(name)
        if not word_found and key in WORD_KEYS and isinstance(value, str):
            word, word_found = value, True
        elif not tag_found and key in TAG_KEYS and _is_scalar(value):
            tag, tag_found = value, True
    if word_found and tag_found:
        return [(word, tag)]

    words = next(
        (v for n, v in obj.items if _key(n) in WORD_LIST_KEYS and isinstance(v, list)),
        None,
    )
    tags = next(
        (v for n, v in obj.items if _key(n) in TAG_LIST_KEYS and isinstance(v, list)),
        None,
    )
    if words is not None and tags is not None:
        if all(isinstance(w, str) for w in words) and all(_is_scalar(t) for t in tags):
            return list(zip(words, tags))

    nested = [
        pair
        for _, value in obj.items
        if isinstance(value, (list, _Object))
        for pair in _pairs(value, depth + 1)
    ]
    if nested:
        return nested
    if any(_key(name) in WORD_KEYS or _key(name) in TAG_KEYS for name, _ in obj.items):
        return []  # a word/tag object without its word or tag (e.g. cut off): nothing to read
    return [(name, value) for name, value in obj.items if isinstance(value, str)]


def _pairs(value: Any, depth: int = 0) -> list[tuple[str, Any]]:
    if depth > _MAX_DEPTH:
        return []
    if isinstance(value, _Object):
        return _pairs_from_object(value, depth)
    if not isinstance(value, list):
        return []
    pairs: list[tuple[str, Any]] = []
    for item in value:
        if (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and _is_scalar(item[1])
        ):
            pairs.append((item[0], item[1]))
        else:
            pairs.extend(_pairs(item, depth + 1))
    return pairs


def _read_pairs(text: str) -> tuple[list[tuple[str, Any]], bool, bool]:
    """(pairs, truncated, found_structure) from the first ``[``/``{`` that yields pairs.

    A start is not tried again when an earlier read already read the container
    there, in full, without finding pairs: a read from it would read the same.
    """
    starts = [i for i, char in enumerate(text) if _FULL_WIDTH.get(char, char) in "[{"]
    scan = _Scan(budget=_budget(text))
    skip_until = -1
    already_read: set[int] = set()
    for start in starts[:_MAX_CANDIDATES]:
        if start < skip_until or start in already_read:
            continue
        if scan.budget <= 0:
            break
        reader = _Reader(text, start, scan)
        value, closed = reader.value()
        pairs = _pairs(value)
        if not pairs:
            if closed:
                skip_until = reader.pos  # nothing inside a closed value can yield pairs
            if not reader.cut:
                already_read.update(reader.opened)
            continue
        truncated = not closed
        if closed:
            # Objects without enclosing brackets, or an answer split into arrays,
            # one after the other: keep reading them.
            opening = "{" if isinstance(value, _Object) else "["
            while reader.at_next(opening):
                following, closed = reader.value()
                more = _pairs(following)
                if not more:
                    break
                pairs.extend(more)
                if not closed:
                    truncated = True
                    break
        return pairs, truncated, True
    return [], False, bool(starts)


# ---------------------------------------------------------------------------
# Alignment and the public entry point.


def align_words(predicted: list[str], gold: list[str]) -> list[int | None]:
    """For each gold word, the index of the predicted word aligned to it, or None.

    Longest common subsequence over :func:`normalize_word` forms; ties as
    described in the module documentation.
    """
    pred = [normalize_word(word) for word in predicted]
    ref = [normalize_word(word) for word in gold]
    n, m = len(pred), len(ref)
    # suffix[i][j] = length of the longest common subsequence of pred[i:] and ref[j:]
    suffix = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = suffix[i], suffix[i + 1]
        for j in range(m - 1, -1, -1):
            row[j] = (
                below[j + 1] + 1 if pred[i] == ref[j] else max(below[j], row[j + 1])
            )
    alignment: list[int | None] = [None] * m
    i = j = 0
    while i < n and j < m:
        if pred[i] == ref[j]:
            alignment[j] = i
            i += 1
            j += 1
        elif suffix[i][j + 1] == suffix[i][j]:
            j += 1  # gold word j is missing from the answer
        else:
            i += 1  # predicted word i is extra
    return alignment


def _failure(words: list[str], error: str) -> ParsedTagging:
    return ParsedTagging(
        pairs=[], aligned_tags=[None] * len(words), parse_ok=False, error=error
    )


def parse_tagging_output(text: str, words: list[str]) -> ParsedTagging:
    """The pairs read from ``text`` and their tags aligned to the gold ``words``.

    Never raises on any string ``text`` (see the module documentation for what
    is read). ``parse_ok`` is False when no pair at all could be read.
    """
    words = list(words)
    if not isinstance(text, str):
        return _failure(words, f"output is not a string ({type(text).__name__})")
    if not text.strip():
        return _failure(words, "empty output")
    try:
        raw_pairs, truncated, found_structure = _read_pairs(text)
    except (
        RecursionError
    ):  # pragma: no cover - depth is bounded; kept as the never-raise guarantee
        return _failure(words, "output nests too deeply to read")
    if not raw_pairs:
        reason = (
            "no word/tag pairs in the JSON-like text"
            if found_structure
            else "no JSON array or object found"
        )
        return _failure(words, reason)
    pairs = [(word.strip(), normalize_tag(tag)) for word, tag in raw_pairs]
    alignment = align_words([word for word, _ in pairs], words)
    aligned_tags = [None if index is None else pairs[index][1] for index in alignment]
    return ParsedTagging(
        pairs=pairs,
        aligned_tags=aligned_tags,
        parse_ok=True,
        error=None,
        truncated=truncated,
    )
