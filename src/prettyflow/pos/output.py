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
from dataclasses import dataclass, field
from typing import Any

from prettyflow.pos.data import UPOS_TAGS
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

_MAX_DEPTH = 32
_MAX_CANDIDATES = 2000
# Reading steps (a value, or a character scanned inside a string or a bare word)
# allowed over all candidate starts of one answer, per character of it, plus a
# floor. Reading a real answer takes about two steps per character, so this only
# stops degenerate answers (thousands of unclosed ``{"a":`` or ``["``) from being
# re-read from each of their starts, which takes time quadratic in their length.
_STEPS_PER_CHARACTER = 4
_MIN_STEPS = 2000
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d"}
_FULL_WIDTH = {
    "\uff1a": ":",
    "\uff0c": ",",
    "\uff3b": "[",
    "\uff3d": "]",
    "\uff5b": "{",
    "\uff5d": "}",
}
_STRUCTURE = frozenset("[]{}(),:")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "/": "/",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


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
# Lenient reader: JSON-like text -> Python lists, _Object and str/None scalars.


@dataclass
class _Object:
    items: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class _Scan:
    """What the readers of one answer share, so that no character is scanned again and again.

    ``budget``: reading steps left (see ``_STEPS_PER_CHARACTER``).
    ``unclosed_string_from``: per closing-quote set, the earliest opening quote
    whose string ran to the end of the text. Whether a quote closes a string
    depends only on the quote's position, so every later string with the same
    closing quotes runs to the end as well.
    """

    budget: int
    unclosed_string_from: dict[frozenset[str], int] = field(default_factory=dict)


class _Reader:
    """Reads one value from ``start``; stops (never raises) where the text stops making sense.

    Every read returns ``(value, closed)``. A container that was cut off or
    stopped on garbage is returned with what it read so far and ``closed=False``;
    a scalar that was cut off is returned as None with ``closed=False``.

    ``opened`` lists where the containers read start; ``cut`` tells that the
    depth limit or the shared budget stopped the read, so that a read from one
    of those positions could see more than this one did.
    """

    def __init__(self, text: str, start: int, scan: _Scan | None = None):
        self.text = text
        self.pos = start
        self.scan = scan if scan is not None else _Scan(budget=_budget(text))
        self.opened: list[int] = []
        self.cut = False

    def _char(self) -> str:
        char = self.text[self.pos]
        return _FULL_WIDTH.get(char, char)

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_next(self, opening: str) -> bool:
        """Skip spaces and commas; True when a container opened by ``opening`` starts there."""
        self._skip_space()
        while not self._at_end() and self._char() == ",":
            self.pos += 1
            self._skip_space()
        return not self._at_end() and self._char() == opening

    def value(self, depth: int = 0) -> tuple[Any, bool]:
        self._skip_space()
        if self._at_end():
            return None, False
        if depth > _MAX_DEPTH or self.scan.budget <= 0:
            self.cut = True
            return None, False
        self.scan.budget -= 1
        char = self._char()
        if char in "[(":
            self.opened.append(self.pos)
            return self._list(depth)
        if char == "{":
            self.opened.append(self.pos)
            return self._object(depth)
        if self.text[self.pos] in _QUOTES:
            return self._string()
        if char in _STRUCTURE:
            return None, False
        return self._bare()

    def _list(self, depth: int) -> tuple[list[Any], bool]:
        self.pos += 1
        items: list[Any] = []
        while True:
            self._skip_space()
            if self._at_end():
                return items, False
            char = self._char()
            if char == ",":
                self.pos += 1
                continue
            if char in "])":
                self.pos += 1
                return items, True
            if char in "}:":
                return items, False  # garbage: keep what was read
            item, closed = self.value(depth + 1)
            if isinstance(item, (list, _Object)):
                items.append(item)  # a cut-off container may still hold complete pairs
            elif closed:
                items.append(item)
            if not closed:
                return items, False

    def _object(self, depth: int) -> tuple[_Object, bool]:
        self.pos += 1
        obj = _Object()
        while True:
            self._skip_space()
            if self._at_end():
                return obj, False
            char = self._char()
            if char == ",":
                self.pos += 1
                continue
            if char == "}":
                self.pos += 1
                return obj, True
            if char in "])":
                # The closing brace is missing but the enclosing list goes on.
                return obj, True
            if self.text[self.pos] in _QUOTES:
                key, closed = self._string()
            elif char in _STRUCTURE:
                return obj, False
            else:
                key, closed = self._bare()
            if not closed or key is None:
                return obj, False
            self._skip_space()
            if self._at_end() or self._char() not in ":=":
                return obj, False
            self.pos += 1
            item, closed = self.value(depth + 1)
            if isinstance(item, (list, _Object)) or closed:
                obj.items.append((key, item))
            if not closed:
                return obj, False

    def _string(self) -> tuple[str | None, bool]:
        opening = self.text[self.pos]
        closers = frozenset(
            {_QUOTES[opening], '"'} if opening == "\u201c" else {_QUOTES[opening]}
        )
        text = self.text
        unclosed_from = self.scan.unclosed_string_from.get(closers)
        if unclosed_from is not None and unclosed_from < self.pos:
            self.pos = len(text)
            return None, False
        position = self.pos + 1
        limit = min(len(text), position + self.scan.budget)
        chars: list[str] = []
        while position < limit:
            char = text[position]
            if char == "\\" and position + 1 < len(text):
                position = self._escape(position, chars)
                continue
            if char in closers and self._closes_string(position):
                self.scan.budget -= position - self.pos
                self.pos = position + 1
                return _join_surrogates("".join(chars)), True
            chars.append(char)
            position += 1
        self.scan.budget -= position - self.pos
        if position < len(text):
            self.cut = True  # out of budget: the string may close further on
        elif unclosed_from is None or self.pos < unclosed_from:
            self.scan.unclosed_string_from[closers] = self.pos
        self.pos = len(text)
        return None, False

    def _closes_string(self, position: int) -> bool:
        """A quote ends a string only where the structure can go on.

        That is: followed (after spaces) by ``, : ] } )``, by the end, or, after
        at least one space, by a new value (a missing comma). So ``'l''`` reads
        as the French word ``l'`` and ``"a"b"`` as ``a"b``.
        """
        text = self.text
        after = position + 1
        while after < len(text) and text[after].isspace():
            after += 1
        if after >= len(text):
            return True
        follower = _FULL_WIDTH.get(text[after], text[after])
        if follower in ",:]})=":
            return True
        return after > position + 1 and (follower in _QUOTES or follower in "[{")

    def _escape(self, position: int, chars: list[str]) -> int:
        code = self.text[position + 1]
        if code == "u":
            digits = self.text[position + 2 : position + 6]
            if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                chars.append(chr(int(digits, 16)))
                return position + 6
        if code in _ESCAPES:
            chars.append(_ESCAPES[code])
            return position + 2
        chars.append("\\" + code)
        return position + 2

    def _bare(self) -> tuple[str | None, bool]:
        """An unquoted word or tag; one that runs into the end may be cut off."""
        text = self.text
        start = self.pos
        while (
            self.pos < len(text)
            and not text[self.pos].isspace()
            and _FULL_WIDTH.get(text[self.pos], text[self.pos]) not in _STRUCTURE
            and text[self.pos] not in _QUOTES
        ):
            self.pos += 1
        self.scan.budget -= self.pos - start
        word = text[start : self.pos]
        if not word:
            self.pos = start + 1
            return None, False
        if self.pos >= len(text):
            return None, False
        return (None if word == "null" else word), True


def _join_surrogates(text: str) -> str:
    """``\\ud83d\\ude00`` escapes decode to two surrogates: join them into one character."""
    if not any("\ud800" <= char <= "\udfff" for char in text):
        return text
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeError:
        return text


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


def _budget(text: str) -> int:
    return _MIN_STEPS + _STEPS_PER_CHARACTER * len(text)


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
