"""Bilingual dictionaries: the real MUSE files, merging, Table 9 and bad lines."""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance
from prettyflow.priors.dictionaries import (
    build_lexicon,
    dictionary_statistics,
    merge_dictionaries,
    prepare_dictionary,
    read_word_pairs,
)
from prettyflow.text import ZERO_WIDTH_CHARACTERS

MUSE_PAIRS = [
    "en-zh",
    "zh-en",
    "en-uk",
    "uk-en",
    "de-fr",
    "en-pt",
    "pt-en",
    "en-de",
    "en-fr",
]
# `wc -l` of the files as distributed (none has blank lines).
MUSE_LINES = {
    "en-zh": 39334,
    "zh-en": 21597,
    "en-uk": 47912,
    "uk-en": 40723,
    "de-fr": 61527,
    "en-pt": 108696,
    "pt-en": 108686,
    "en-de": 101931,
    "en-fr": 113286,
}


def non_empty_lines(path: Path) -> int:
    """An independent count: lines holding anything besides whitespace."""
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def muse(shared_data: Path) -> dict[str, pd.DataFrame]:
    return {
        pair: read_word_pairs(shared_data / "muse" / f"{pair}.txt", "muse")
        for pair in MUSE_PAIRS
    }


@pytest.mark.shared_data
@pytest.mark.parametrize("pair", MUSE_PAIRS)
def test_real_muse_files_load(
    shared_data: Path, muse: dict[str, pd.DataFrame], pair: str
) -> None:
    path = shared_data / "muse" / f"{pair}.txt"
    pairs = muse[pair]
    assert len(pairs) == non_empty_lines(path) == MUSE_LINES[pair]
    assert list(pairs.columns) == [
        "source_word",
        "source_key",
        "target_word",
        "origin",
        "line",
    ]
    assert pairs["line"].tolist() == list(range(1, len(pairs) + 1))
    assert set(pairs["origin"]) == {"muse"}
    for column in ("source_word", "target_word"):
        words = pairs[column]
        assert not words.str.contains(f"[{ZERO_WIDTH_CHARACTERS}]", regex=True).any()
        assert (words.str.len() > 0).all()
        assert not words.str.contains("[\t ]", regex=True).any()
    # Independent reading of the first and last pairs: split on any whitespace.
    raw = path.read_text(encoding="utf-8").split("\n")
    assert pairs.iloc[0][["source_word", "target_word"]].tolist() == raw[0].split()
    assert pairs.iloc[-1][["source_word", "target_word"]].tolist() == raw[-2].split()


@pytest.mark.shared_data
def test_both_muse_separators(shared_data: Path, muse: dict[str, pd.DataFrame]) -> None:
    space_separated = (
        (shared_data / "muse" / "en-zh.txt").read_bytes().split(b"\n", 1)[0]
    )
    tab_separated = (shared_data / "muse" / "en-pt.txt").read_bytes().split(b"\n", 1)[0]
    assert b"\t" not in space_separated and b" " in space_separated
    assert b"\t" in tab_separated
    assert muse["en-zh"].iloc[0][["source_word", "target_word"]].tolist() == [
        "and",
        "而且",
    ]
    assert muse["en-pt"].iloc[0][["source_word", "target_word"]].tolist() == [
        "the",
        "os",
    ]


@pytest.mark.shared_data
def test_real_table9_statistics(
    muse: dict[str, pd.DataFrame], shared_data: Path
) -> None:
    merged = {
        pair: merge_dictionaries([("muse", shared_data / "muse" / f"{pair}.txt")])
        for pair in ["zh-en", "uk-en"]
    }
    table = dictionary_statistics(merged).set_index("pair")
    # Uk-En: the paper's Table 9 reports 34,888, the number of distinct source words.
    assert (
        table.loc["uk-en", "source_words"]
        == 34888
        == muse["uk-en"]["source_key"].nunique()
    )
    assert table.loc["zh-en", "entries"] == len(merged["zh-en"])
    assert table.loc["zh-en", "sources"] == "MUSE"
    assert (table["entries_muse"] == table["entries"]).all()


def test_zero_width_nfc_and_case(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.txt",
        "\ufeffThe\u200b\tle\n"  # BOM and zero-width space
        "cafe\u0301\tcafé\u2060\n"  # decomposed é -> NFC, word joiner
        "\n   \n"  # blank lines are skipped
        "ice cream\tcrème\u200d glacée\r\n",  # TAB files allow spaces; CRLF
    )
    pairs = read_word_pairs(path, "wiktionary")
    assert pairs["source_word"].tolist() == ["The", "café", "ice cream"]
    assert pairs["source_key"].tolist() == ["the", "café", "ice cream"]
    assert pairs["target_word"].tolist() == ["le", "café", "crème glacée"]
    assert pairs["line"].tolist() == [1, 2, 5]
    for word in pairs["source_word"].tolist() + pairs["target_word"].tolist():
        assert unicodedata.is_normalized("NFC", word)


def test_lookup_key_is_the_shared_word_normaliser() -> None:
    # Dictionary keys, pseudo-prior words and POS alignment use one normaliser.
    from prettyflow.pos.output import normalize_word as pos_normalize_word
    from prettyflow.priors.dictionaries import lookup_key
    from prettyflow.priors.tokens import normalize_word as prior_normalize_word
    from prettyflow.text import normalize_word

    assert prior_normalize_word is normalize_word
    assert pos_normalize_word is normalize_word
    for word in ["The\u200b", " CAFE\u0301 ", "\ufeffStraße", "ÉTÉ\u2060"]:
        assert lookup_key(word) == normalize_word(word)
    assert lookup_key("\ufeffThe\u200b") == "the"
    assert lookup_key("Stra\u00dfe") == "strasse"  # case-folded, not lowercased
    assert lookup_key("CAFE\u0301") == "café"
    assert unicodedata.is_normalized("NFC", lookup_key("CAFE\u0301"))


def test_space_separated_file(tmp_path: Path) -> None:
    pairs = read_word_pairs(write(tmp_path / "d.txt", "and 而且\nyear 年\n"), "muse")
    assert pairs[["source_word", "target_word"]].values.tolist() == [
        ["and", "而且"],
        ["year", "年"],
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a b\nlonely\n", 2, "found 1"),
        ("a b\nx y z\n", 2, "found 3"),
        ("a\tb\nx\ty\tz\n", 2, "found 3"),
        ("a\tb\nno tab here\n", 2, "found 1"),
        ("a b\nc\td\n", 2, "TAB"),
        ("a b\nx  y\n", 2, "found 3"),
        ("a\tb\nc\t\u200b\td\n", 2, "found 3"),
    ],
)
def test_bad_lines_name_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = write(tmp_path / "bad.txt", text)
    with pytest.raises(InputError) as caught:
        read_word_pairs(path, "muse")
    assert caught.value.line == line
    assert f"{path}:{line}:" in str(caught.value)
    assert fragment in str(caught.value)


def test_undecodable_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a\tb\nc\td\n\xff\tx\n")
    with pytest.raises(InputError, match=rf"{path}:3: .*UTF-8"):
        read_word_pairs(path, "muse")


def test_merge_dedupes_and_keeps_provenance(tmp_path: Path) -> None:
    wiktionary = write(tmp_path / "wiktionary.txt", "The\tle\nhouse\tmaison\nthe\tla\n")
    muse = write(
        tmp_path / "muse.txt", "the le\nthe la\ncat chat\nhouse maison\nhouse maison\n"
    )
    panlex = write(tmp_path / "panlex.txt", "cat\tchatte\nCAT\tchat\n")
    merged = merge_dictionaries(
        [("wiktionary", wiktionary), ("muse", muse), ("panlex", panlex)]
    )

    assert list(merged.columns) == [
        "source_word",
        "source_key",
        "target_word",
        "sources",
        "rank",
    ]
    rows = [
        (row.source_word, row.source_key, row.target_word, list(row.sources), row.rank)
        for row in merged.itertuples()
    ]
    assert rows == [
        ("The", "the", "le", ["wiktionary", "muse"], 1),
        ("house", "house", "maison", ["wiktionary", "muse"], 2),
        ("the", "the", "la", ["wiktionary", "muse"], 3),
        ("cat", "cat", "chat", ["muse", "panlex"], 4),
        ("cat", "cat", "chatte", ["panlex"], 5),
    ]
    assert build_lexicon(merged) == {"the": "le", "house": "maison", "cat": "chat"}
    # The configured order decides the preferred translation.
    reordered = merge_dictionaries([("panlex", panlex), ("muse", muse)])
    assert build_lexicon(reordered)["cat"] == "chatte"
    assert reordered.iloc[0]["sources"] == ["panlex"]

    table = dictionary_statistics({"en-fr": merged, "fr-en": reordered})
    assert list(table.columns) == [
        "pair",
        "entries",
        "source_words",
        "sources",
        "entries_wiktionary",
        "entries_muse",
        "entries_panlex",
    ]
    first = table.iloc[0].to_dict()
    assert first == {
        "pair": "en-fr",
        "entries": 5,
        "source_words": 3,
        "sources": "Wiktionary, MUSE, PanLex",
        "entries_wiktionary": 3,
        "entries_muse": 4,
        "entries_panlex": 2,
    }
    assert table.iloc[1]["sources"] == "PanLex, MUSE"
    assert table.iloc[1]["entries_wiktionary"] == 0


def test_prepare_dictionary_writes_atomically(tmp_path: Path) -> None:
    muse = write(tmp_path / "muse.txt", "the le\ncat chat\n")
    output = tmp_path / "out" / "en-fr.parquet"
    merged = prepare_dictionary([("muse", muse)], output)
    stored = read_parquet(output)
    assert stored["source_word"].tolist() == ["the", "cat"]
    assert [list(sources) for sources in stored["sources"]] == [["muse"], ["muse"]]
    assert stored["rank"].tolist() == merged["rank"].tolist() == [1, 2]
    provenance = read_provenance(output)
    assert provenance["dictionaries"] == [
        {
            "origin": "muse",
            "path": str(muse),
            "sha256": hashlib.sha256(muse.read_bytes()).hexdigest(),
        }
    ]
    assert provenance["entries"] == 2


def test_prepare_dictionary_bad_line_leaves_nothing(tmp_path: Path) -> None:
    good = write(tmp_path / "muse.txt", "the le\n")
    bad = write(tmp_path / "panlex.txt", "cat\tchat\ndog\n")
    output = tmp_path / "out" / "en-fr.parquet"
    with pytest.raises(InputError) as caught:
        prepare_dictionary([("muse", good), ("panlex", bad)], output)
    assert f"{bad}:2:" in str(caught.value)
    assert not output.exists()
    assert not output.parent.exists() or list(output.parent.iterdir()) == []


def test_missing_file_and_empty_config(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_word_pairs(tmp_path / "absent.txt", "muse")
    with pytest.raises(InputError, match="at least one"):
        merge_dictionaries([])


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf\r\n"])
def test_a_dictionary_without_entries_is_an_error(tmp_path: Path, content: bytes):
    from prettyflow.priors.dictionaries import prepare_dictionary

    path = tmp_path / "muse-en-pt.txt"
    path.write_bytes(content)
    output = tmp_path / "out" / "en-pt.parquet"
    with pytest.raises(InputError, match="no entries") as caught:
        prepare_dictionary([("muse", path)], output)
    assert caught.value.path == str(path)
    assert not output.exists()


def test_statistics_outputs_are_written_together_or_not_at_all(tmp_path, monkeypatch):
    from prettyflow.priors.dictionaries import prepare_dictionary
    from prettyflow.steps import data as data_steps

    source = tmp_path / "muse.txt"
    source.write_text("cat\tgato\n", encoding="utf-8")
    table = tmp_path / "en-pt.parquet"
    prepare_dictionary([("muse", source)], table)
    out = tmp_path / "table9"
    paths = [out / "t.csv", out / "t.md", out / "t.html"]
    data_steps.dictionary_statistics([table], *paths[:2], html_path=paths[2])
    assert all(path.exists() for path in paths)
    assert "<table>" in paths[2].read_text(encoding="utf-8")
    for path in paths:
        path.unlink()

    def failing_page(*args, **kwargs):
        raise RuntimeError("the HTML page cannot be written")

    monkeypatch.setattr(data_steps, "titled_markdown_page", failing_page)
    with pytest.raises(RuntimeError):
        data_steps.dictionary_statistics([table], *paths[:2], html_path=paths[2])
    assert list(out.iterdir()) == []


def test_a_reversed_dictionary_serves_the_other_direction(tmp_path: Path) -> None:
    """dictionaries.fr-en: [{origin: MUSE, path: en-fr.muse.txt, reverse: true}]."""
    from prettyflow.steps.data import merge_dictionary

    en_fr = write(tmp_path / "en-fr.muse.txt", "cat chat\nthe le\nthe la\n")
    output = tmp_path / "fr-en.parquet"
    entries = [{"origin": "MUSE", "path": str(en_fr), "reverse": True}]
    merged = merge_dictionary(entries, output)
    assert list(zip(merged["source_word"], merged["target_word"])) == [
        ("chat", "cat"),
        ("le", "the"),
        ("la", "the"),
    ]
    assert build_lexicon(merged) == {"chat": "cat", "le": "the", "la": "the"}
    assert read_provenance(output)["dictionaries"][0]["reversed"] is True
    # As written, the same file is en-fr.
    forward = merge_dictionaries([("MUSE", en_fr)])
    assert forward["source_word"].tolist()[0] == "cat"
