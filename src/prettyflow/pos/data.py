"""POS-tagging test sets (XGLUE POS files or UD CoNLL-U) as one table.

XGLUE's POS task is derived from the Universal Dependencies v2.5 test sets, so
both formats give the same rows: one sentence per row with columns

- ``id``: the CoNLL-U ``# sent_id`` when present, else ``f"{lang}-{n:05d}"``
  (``n`` = 1-based sentence number in the file);
- ``tokens`` (list<str>) and ``tags`` (list<str>, UPOS);
- ``lang`` (ISO 639-1);
- ``text``: the CoNLL-U ``# text`` comment, None when absent (always for XGLUE).

Formats:

- **XGLUE**: one ``token TAG`` pair per line, separated by a TAB or by spaces,
  a blank line between sentences. With spaces the tag is the last field and the
  token is what precedes it, because UD tokens may contain spaces (French
  ``1 000``); with a TAB there must be exactly two fields.
- **CoNLL-U**: ten TAB-separated columns, UPOS in column 4. Only syntactic
  words (integer ids) are kept: multi-word token ranges such as ``1-2`` (French
  ``du`` = ``de`` + ``le``) are skipped and their parts kept, as UD scores POS;
  empty nodes such as ``8.1`` are skipped. Word ids must run 1, 2, 3, ...

Every tag must be one of the 17 UPOS labels. Errors name the file, the line
and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from prettyflow.data.download import sha256_of
from prettyflow.errors import InputError
from prettyflow.io import read_lines, write_parquet

# The 17 Universal POS tags, in the order of the UD documentation.
UPOS_TAGS: tuple[str, ...] = (
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
)
_UPOS = frozenset(UPOS_TAGS)

POS_FORMATS = ("auto", "conllu", "xglue")
COLUMNS = ("id", "tokens", "tags", "lang", "text")
CONLLU_COLUMNS = (
    "ID",
    "FORM",
    "LEMMA",
    "UPOS",
    "XPOS",
    "FEATS",
    "HEAD",
    "DEPREL",
    "DEPS",
    "MISC",
)

_WORD_ID = re.compile(r"^[1-9][0-9]*$")
_RANGE_ID = re.compile(r"^([1-9][0-9]*)-([1-9][0-9]*)$")
_EMPTY_NODE_ID = re.compile(r"^(0|[1-9][0-9]*)\.[1-9][0-9]*$")
_COMMENT_KEY_VALUE = re.compile(r"^#\s*([^=]+?)\s*=\s?(.*)$")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")


@dataclass
class _Sentence:
    first_line: int
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    sent_id: str | None = None
    sent_id_line: int | None = None
    text: str | None = None


def _check_tag(tag: str, path: Path, number: int, field_name: str) -> None:
    if tag not in _UPOS:
        raise InputError(
            f"unknown tag {tag!r}; expected one of the 17 UPOS tags: {' '.join(UPOS_TAGS)}",
            path=path,
            line=number,
            field=field_name,
        )


def detect_format(lines: list[str]) -> str:
    """``"conllu"`` when the first line that is neither blank nor a comment looks
    like a CoNLL-U word line, else ``"xglue"``.

    A CoNLL-U line has ten TAB-separated columns; one with four or more TAB
    fields (XGLUE has two), or ten space-separated fields starting with
    a word id, is a CoNLL-U line with too many or too few columns, or with
    spaces for TABs, and is read as CoNLL-U so that the error says so.
    Comments are skipped for the decision only: in XGLUE a line such as ``# SYM``
    is a token, so a ``#`` does not by itself mean CoNLL-U.
    """
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        spaced_conllu = len(fields) == len(CONLLU_COLUMNS) and bool(
            _WORD_ID.match(fields[0]) or _RANGE_ID.match(fields[0])
        )
        return "conllu" if len(line.split("\t")) > 3 or spaced_conllu else "xglue"
    # Only comments (or nothing): CoNLL-U is the only format with comments.
    return "conllu"


def _read_xglue(path: Path, lines: list[str]) -> list[_Sentence]:
    sentences: list[_Sentence] = []
    current: _Sentence | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            current = None
            continue
        if "\t" in line:
            fields = line.split("\t")
            if len(fields) != 2:
                raise InputError(
                    f"expected 2 TAB-separated fields (token, tag), found {len(fields)}",
                    path=path,
                    line=number,
                    field="columns",
                )
            token, tag = fields[0].strip(), fields[1].strip()
        else:
            fields = line.strip().rsplit(maxsplit=1)
            if len(fields) != 2:
                raise InputError(
                    "expected 2 fields (token and tag separated by a space or TAB), found 1",
                    path=path,
                    line=number,
                    field="columns",
                )
            token, tag = fields
        if not token:
            raise InputError("empty token", path=path, line=number, field="token")
        if tag not in _UPOS and " " in token:
            # A token with spaces is allowed, so a stray third field shows up as a bad tag.
            raise InputError(
                f"unknown tag {tag!r} (read as token {token!r} followed by its tag, the last "
                f"field); expected one of the 17 UPOS tags: {' '.join(UPOS_TAGS)}",
                path=path,
                line=number,
                field="tag",
            )
        _check_tag(tag, path, number, "tag")
        if current is None:
            current = _Sentence(first_line=number)
            sentences.append(current)
        current.tokens.append(token)
        current.tags.append(tag)
    return sentences


def _read_conllu(path: Path, lines: list[str]) -> list[_Sentence]:
    """The sentences of a CoNLL-U file's ``lines``, with errors naming the line.

    Long because each kind of CoNLL-U line (comment, word, multiword token, empty
    node) needs its own branch and error.
    """
    sentences: list[_Sentence] = []
    current: _Sentence | None = None

    def finish(end_line: int) -> None:
        if current is not None and not current.tokens:
            raise InputError(
                f"sentence without tokens (it ends on line {end_line})",
                path=path,
                line=current.first_line,
                field="sentence",
            )

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            finish(number)
            current = None
            continue
        if current is None:
            current = _Sentence(first_line=number)
            sentences.append(current)
        if line.startswith("#"):
            if current.tokens:
                raise InputError(
                    "comment after the first word of a sentence",
                    path=path,
                    line=number,
                    field="comment",
                )
            match = _COMMENT_KEY_VALUE.match(line)
            if match and match.group(1) == "sent_id":
                current.sent_id, current.sent_id_line = match.group(2).strip(), number
            elif match and match.group(1) == "text":
                current.text = match.group(2)
            continue
        columns = line.split("\t")
        if len(columns) != len(CONLLU_COLUMNS):
            spaces = (
                "; the line separates its columns with spaces, not TABs"
                if len(columns) == 1 and len(line.split()) == len(CONLLU_COLUMNS)
                else ""
            )
            raise InputError(
                f"expected {len(CONLLU_COLUMNS)} TAB-separated columns ({' '.join(CONLLU_COLUMNS)}), found {len(columns)}{spaces}",
                path=path,
                line=number,
                field="columns",
            )
        word_id, form, upos = columns[0], columns[1], columns[3]
        if _RANGE_ID.match(word_id) or _EMPTY_NODE_ID.match(word_id):
            continue  # multi-word token or empty node: not a syntactic word
        if not _WORD_ID.match(word_id):
            raise InputError(
                f"expected an integer word id, a range like 1-2 or an empty node like 8.1, got {word_id!r}",
                path=path,
                line=number,
                field="ID",
            )
        expected = len(current.tokens) + 1
        if int(word_id) != expected:
            raise InputError(
                f"word ids must run 1, 2, 3, ...: expected {expected}, got {word_id}",
                path=path,
                line=number,
                field="ID",
            )
        if not form.strip():
            raise InputError(
                f"whitespace-only word form {form!r}" if form else "empty word form",
                path=path,
                line=number,
                field="FORM",
            )
        if form != form.strip():
            raise InputError(
                f"word form {form!r} has leading or trailing whitespace",
                path=path,
                line=number,
                field="FORM",
            )
        _check_tag(upos, path, number, "UPOS")
        current.tokens.append(form)
        current.tags.append(upos)
    finish(len(lines) + 1)
    return sentences


def read_pos_file(path: str | Path, lang: str, fmt: str = "auto") -> pd.DataFrame:
    """One POS test file as rows ``id, tokens, tags, lang, text`` (see the module doc).

    ``fmt`` is ``"conllu"``, ``"xglue"`` or ``"auto"`` (:func:`detect_format`).
    """
    return _read_pos(Path(path), lang, fmt)[0]


def _read_pos(path: Path, lang: str, fmt: str) -> tuple[pd.DataFrame, str]:
    """The table and the format it was read as."""
    if fmt not in POS_FORMATS:
        raise InputError(
            f"unknown format {fmt!r}; expected one of {', '.join(POS_FORMATS)}",
            field="fmt",
        )
    if not isinstance(lang, str) or not _LANGUAGE_CODE.match(lang):
        raise InputError(
            f"expected an ISO 639-1 code such as 'fr', got {lang!r}", field="lang"
        )
    lines = read_lines(path, "POS file")
    resolved = detect_format(lines) if fmt == "auto" else fmt
    sentences = (
        _read_conllu(path, lines) if resolved == "conllu" else _read_xglue(path, lines)
    )
    if not sentences:
        raise InputError(f"no sentences found (read as {resolved})", path=path)

    ids: list[str] = []
    first_line_of_id: dict[str, int] = {}
    for number, sentence in enumerate(sentences, start=1):
        sentence_id = sentence.sent_id or f"{lang}-{number:05d}"
        if sentence_id in first_line_of_id:
            raise InputError(
                f"duplicate sentence id {sentence_id!r} (first used on line {first_line_of_id[sentence_id]})",
                path=path,
                line=sentence.sent_id_line or sentence.first_line,
                field="sent_id",
            )
        first_line_of_id[sentence_id] = sentence.sent_id_line or sentence.first_line
        ids.append(sentence_id)
    frame = pd.DataFrame(
        {
            "id": ids,
            "tokens": [sentence.tokens for sentence in sentences],
            "tags": [sentence.tags for sentence in sentences],
            "lang": lang,
            "text": [sentence.text for sentence in sentences],
        },
        columns=list(COLUMNS),
    )
    return frame, resolved


def prepare_pos(
    path: str | Path,
    lang: str,
    output_path: str | Path,
    fmt: str = "auto",
    max_sentences: int | None = None,
) -> pd.DataFrame:
    """Read a POS file (see :func:`read_pos_file`) and write it as Parquet.

    The whole file is validated; ``max_sentences`` then keeps the first
    sentences. The output is written atomically with the provenance: dataset
    format, input file and its sha256, lang, max_sentences, rows.
    """
    path = Path(path)
    if max_sentences is not None and (
        isinstance(max_sentences, bool)
        or not isinstance(max_sentences, int)
        or max_sentences < 1
    ):
        raise InputError(
            f"must be a positive integer or None, got {max_sentences!r}",
            field="max_sentences",
        )
    frame, resolved = _read_pos(path, lang, fmt)
    if max_sentences is not None:
        frame = frame.head(max_sentences).reset_index(drop=True)
    provenance = {
        "dataset": "ud-conllu" if resolved == "conllu" else "xglue-pos",
        "format": resolved,
        "file": str(path),
        "sha256": sha256_of(path),
        "lang": lang,
        "max_sentences": max_sentences,
        "rows": len(frame),
    }
    write_parquet(frame, output_path, provenance=provenance)
    return frame
