"""A lenient reader of the JSON-like text models write: lists, objects and scalars
(unquoted words, single or curly quotes, full-width punctuation, garbage around);
used by :mod:`prettyflow.pos.output` to read a tagging answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_MAX_DEPTH = 32
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


def _budget(text: str) -> int:
    return _MIN_STEPS + _STEPS_PER_CHARACTER * len(text)
