"""Bilingual word dictionaries (MUSE, Wiktionary, PanLex exports) merged into one.

Input format, shared by every origin: one ``source<sep>target`` pair per line,
where ``<sep>`` is a TAB or a single space. MUSE uses a space in some files
(en-zh, zh-en, en-de, en-fr) and a TAB in the others, so the separator is taken
per file from its first pair: TAB if that line has one, else a space. Every
non-blank line must then hold exactly two non-empty fields; with a TAB
separator a field may contain spaces (multi-word expressions).

Words are cleaned the same way for every origin: zero-width characters removed,
Unicode NFC, surrounding whitespace stripped; the case is kept as written and
``source_key`` (casefolded) is the lookup key. Merging keeps one row per
(source_key, target_word), remembers every origin that has it, and ranks rows
by first appearance (origins in the configured order, then file order), as in
the paper's appendix C.4 and Table 9. A file of the opposite pair may serve a
pair read reversed (``reverse: true`` on its dictionary entry): each line's
target is then the source word, so en-fr.muse.txt can serve fr-en.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from prettyflow.data.download import sha256_of
from prettyflow.errors import InputError
from prettyflow.io import read_lines, write_parquet
from prettyflow.text import clean_word, normalize_word

# How Table 9 names the origins; other origins are shown as given.
ORIGIN_DISPLAY_NAMES = {"muse": "MUSE", "wiktionary": "Wiktionary", "panlex": "PanLex"}

WORD_PAIR_COLUMNS = ("source_word", "source_key", "target_word", "origin", "line")
MERGED_COLUMNS = ("source_word", "source_key", "target_word", "sources", "rank")


def lookup_key(word: str) -> str:
    """The case-insensitive key a word is looked up by (``source_key``)."""
    return normalize_word(word)


def read_word_pairs(
    path: str | Path, origin: str, reverse: bool = False
) -> pd.DataFrame:
    """The pairs of one dictionary file, one row per non-blank line, in file order.

    ``reverse``: the file is of the opposite pair (``target<sep>source``).

    Columns: source_word, source_key, target_word, origin, line (1-based).
    A line that does not hold exactly two non-empty fields, and a file without
    any pair, are an InputError naming the file (and line).
    """
    path = Path(path)
    if not origin or not origin.strip():
        raise InputError(
            "the origin of a dictionary must be a non-empty name",
            path=path,
            field="origin",
        )
    separator: str | None = None
    sources: list[str] = []
    targets: list[str] = []
    numbers: list[int] = []
    for number, raw_line in enumerate(read_lines(path, "dictionary file"), start=1):
        line = clean_word(raw_line)  # also drops a BOM and a trailing \r
        if not line:
            continue
        if separator is None:
            separator = "\t" if "\t" in line else " "
        if separator == " " and "\t" in line:
            raise InputError(
                f"TAB in a file whose separator is a single space (from its first pair): {raw_line!r}",
                path=path,
                line=number,
            )
        # The cleaned line is NFC and splitting at a TAB/space keeps it so: strip suffices.
        fields = [field.strip() for field in line.split(separator)]
        if len(fields) != 2:
            shown = "TAB" if separator == "\t" else "single space"
            raise InputError(
                f"expected exactly 2 fields (source, target) separated by a {shown} "
                f"(the file's separator), found {len(fields)}: {raw_line!r}",
                path=path,
                line=number,
            )
        for field_name, value in zip(("source_word", "target_word"), fields):
            if not value:
                raise InputError(
                    f"empty word in {raw_line!r}",
                    path=path,
                    line=number,
                    field=field_name,
                )
        if reverse:
            fields.reverse()
        sources.append(fields[0])
        targets.append(fields[1])
        numbers.append(number)
    if not sources:
        # An empty export (a failed download) would silently give no pseudo prior.
        raise InputError(
            "no entries: expected one source<TAB>target (or source target) pair per line",
            path=path,
        )
    return pd.DataFrame(
        {
            "source_word": pd.Series(sources, dtype=str),
            "source_key": pd.Series(
                [normalize_word(word) for word in sources], dtype=str
            ),
            "target_word": pd.Series(targets, dtype=str),
            "origin": pd.Series([origin] * len(sources), dtype=str),
            "line": pd.Series(numbers, dtype="int64"),
        }
    )


def merge_dictionaries(entries: Sequence[tuple[str, str | Path]]) -> pd.DataFrame:
    """Merge ``[(origin, path), ...]`` into one dictionary.

    An entry ``(origin, path, True)`` reads its file reversed (:func:`read_word_pairs`).

    One row per (source_key, target_word); ``source_word`` is the spelling of its
    first appearance, ``sources`` lists every origin having it (in the order of
    ``entries``), and ``rank`` (1 = most preferred) is the order of first
    appearance: ``entries`` order, then file order.
    """
    if not entries:
        raise InputError(
            "no dictionary given: expected at least one (origin, path)",
            field="dictionaries",
        )
    row_of: dict[tuple[str, str], int] = {}
    source_words: list[str] = []
    source_keys: list[str] = []
    target_words: list[str] = []
    origins: list[list[str]] = []
    for origin, path, *reverse in entries:
        pairs = read_word_pairs(path, origin, reverse=bool(reverse and reverse[0]))
        for source_word, source_key, target_word in zip(
            pairs["source_word"], pairs["source_key"], pairs["target_word"]
        ):
            row = row_of.get((source_key, target_word))
            if row is None:
                row_of[(source_key, target_word)] = len(source_words)
                source_words.append(source_word)
                source_keys.append(source_key)
                target_words.append(target_word)
                origins.append([origin])
            elif origin not in origins[row]:
                origins[row].append(origin)
    return pd.DataFrame(
        {
            "source_word": pd.Series(source_words, dtype=str),
            "source_key": pd.Series(source_keys, dtype=str),
            "target_word": pd.Series(target_words, dtype=str),
            "sources": pd.Series(origins, dtype=object),
            "rank": pd.Series(range(1, len(source_words) + 1), dtype="int64"),
        }
    )


def _require_columns(merged: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in merged.columns]
    if missing:
        raise InputError(
            f"{what} needs a merged dictionary with columns {', '.join(columns)}; missing: {', '.join(missing)}",
            field=missing[0],
        )


def dictionary_statistics(merged_by_pair: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 9: per language pair, entries, distinct source words and origins.

    Columns: pair, entries (merged rows), source_words (distinct source keys),
    sources (display string such as ``"Wiktionary, MUSE"``, in configured
    order), then ``entries_<origin>`` (rows each origin contributes to).
    """
    rows = []
    all_origins: list[str] = []
    for pair, merged in merged_by_pair.items():
        _require_columns(merged, MERGED_COLUMNS, "dictionary_statistics")
        pair_origins: list[str] = []
        counts: dict[str, int] = {}
        for sources in merged["sources"]:
            for origin in sources:
                if origin not in counts:
                    counts[origin] = 0
                    pair_origins.append(origin)
                counts[origin] += 1
        all_origins.extend(
            origin for origin in pair_origins if origin not in all_origins
        )
        rows.append(
            {
                "pair": pair,
                "entries": len(merged),
                "source_words": int(merged["source_key"].nunique()),
                "sources": ", ".join(
                    ORIGIN_DISPLAY_NAMES.get(origin, origin) for origin in pair_origins
                ),
                **{f"entries_{origin}": count for origin, count in counts.items()},
            }
        )
    columns = ["pair", "entries", "source_words", "sources"] + [
        f"entries_{origin}" for origin in all_origins
    ]
    table = pd.DataFrame(rows, columns=columns)
    for origin in all_origins:
        table[f"entries_{origin}"] = (
            table[f"entries_{origin}"].fillna(0).astype("int64")
        )
    return table


@dataclass(frozen=True)
class DictionaryEntry:
    """One row of a merged dictionary: what a pseudo prior records it came from."""

    source_word: str
    target_word: str
    origins: tuple[str, ...]
    rank: int


def lexicon_entries(merged: pd.DataFrame) -> dict[str, DictionaryEntry]:
    """``source_key -> entry`` of the best-ranked translation of each key."""
    _require_columns(merged, MERGED_COLUMNS, "lexicon_entries")
    entries: dict[str, DictionaryEntry] = {}
    ordered = merged.sort_values("rank", kind="stable")
    for source_key, source_word, target_word, origins, rank in zip(
        ordered["source_key"],
        ordered["source_word"],
        ordered["target_word"],
        ordered["sources"],
        ordered["rank"],
    ):
        if source_key not in entries:
            entries[source_key] = DictionaryEntry(
                source_word, target_word, tuple(str(o) for o in origins), int(rank)
            )
    return entries


def build_lexicon(merged: pd.DataFrame) -> dict[str, str]:
    """``source_key -> target_word`` of the best-ranked translation of each key."""
    return {key: entry.target_word for key, entry in lexicon_entries(merged).items()}


def prepare_dictionary(
    entries: Sequence[tuple[str, str | Path]], output_path: str | Path
) -> pd.DataFrame:
    """Merge the dictionaries and write them atomically as Parquet, with provenance.

    Every file is read and checked before anything is written, so a bad line
    leaves no output behind.
    """
    merged = merge_dictionaries(entries)
    provenance = {
        "dictionaries": [
            {"origin": origin, "path": str(path), "sha256": sha256_of(path)}
            | ({"reversed": True} if reverse and reverse[0] else {})
            for origin, path, *reverse in entries
        ],
        "entries": len(merged),
        "source_words": int(merged["source_key"].nunique()),
    }
    write_parquet(merged, output_path, provenance=provenance)
    return merged
