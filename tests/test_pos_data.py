"""POS readers: XGLUE files, CoNLL-U (multi-word tokens, empty nodes), the real UD v2.5 tests."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest

from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance
from prettyflow.pos.data import UPOS_TAGS, detect_format, prepare_pos, read_pos_file

CONLLU_SAMPLE = """\
# newdoc id = doc1
# sent_id = s-1
# text = Il parle du chat.
1\tIl\til\tPRON\t_\t_\t2\tnsubj\t_\t_
2\tparle\tparler\tVERB\t_\t_\t0\troot\t_\t_
3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_
3\tde\tde\tADP\t_\t_\t5\tcase\t_\t_
4\tle\tle\tDET\t_\t_\t5\tdet\t_\t_
5\tchat\tchat\tNOUN\t_\t_\t2\tobl\t_\tSpaceAfter=No
5.1\tmange\tmanger\tVERB\t_\t_\t_\t_\t2:conj\t_
6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_

1\tBonjour\tbonjour\tINTJ\t_\t_\t0\troot\t_\t_
"""

XGLUE_SAMPLE = """\
Je PRON
sens\tVERB
1 000 NUM
# SYM

Bonjour INTJ
!\tPUNCT


Fin NOUN
"""


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_upos_tags_are_the_17_ud_labels_in_order() -> None:
    assert UPOS_TAGS == (
        "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
        "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
    )  # fmt: skip


def test_conllu_keeps_syntactic_words_and_comments(tmp_path: Path) -> None:
    frame = read_pos_file(write(tmp_path / "fr-test.conllu", CONLLU_SAMPLE), "fr")
    assert list(frame.columns) == ["id", "tokens", "tags", "lang", "text"]
    assert list(frame["id"]) == ["s-1", "fr-00002"]
    # "du" (3-4) is skipped, its parts "de" + "le" kept; the empty node 5.1 is skipped.
    assert frame.loc[0, "tokens"] == ["Il", "parle", "de", "le", "chat", "."]
    assert frame.loc[0, "tags"] == ["PRON", "VERB", "ADP", "DET", "NOUN", "PUNCT"]
    assert frame.loc[0, "text"] == "Il parle du chat."
    assert frame.loc[1, "tokens"] == ["Bonjour"] and pd.isna(frame.loc[1, "text"])
    assert set(frame["lang"]) == {"fr"}


def test_xglue_space_and_tab_separated(tmp_path: Path) -> None:
    frame = read_pos_file(write(tmp_path / "fr.test", XGLUE_SAMPLE), "fr")
    assert list(frame["id"]) == ["fr-00001", "fr-00002", "fr-00003"]
    # A token may contain spaces (UD French "1 000"); "#" is a token, not a comment.
    assert frame.loc[0, "tokens"] == ["Je", "sens", "1 000", "#"]
    assert frame.loc[0, "tags"] == ["PRON", "VERB", "NUM", "SYM"]
    assert frame.loc[1, "tokens"] == ["Bonjour", "!"]
    assert frame.loc[2, "tags"] == ["NOUN"]
    assert frame["text"].isna().all()


def test_format_detection(tmp_path: Path) -> None:
    assert detect_format(CONLLU_SAMPLE.splitlines()) == "conllu"
    assert detect_format(XGLUE_SAMPLE.splitlines()) == "xglue"
    assert detect_format(["# SYM", "word NOUN"]) == "xglue"
    xglue = write(tmp_path / "fr.test", XGLUE_SAMPLE)
    assert read_pos_file(xglue, "fr", fmt="xglue").equals(read_pos_file(xglue, "fr"))


@pytest.mark.parametrize(
    ("text", "fmt", "line", "field", "message"),
    [
        # CoNLL-U
        ("1\tIl\til\tPRON\t_\t_\t0\troot\t_\n", "conllu", 1, "columns", "expected 10 TAB-separated columns"),
        ("1\tIl\til\tPRN\t_\t_\t0\troot\t_\t_\n", "conllu", 1, "UPOS", "unknown tag 'PRN'"),
        ("1\tIl\til\tpron\t_\t_\t0\troot\t_\t_\n", "conllu", 1, "UPOS", "unknown tag"),
        ("x\tIl\til\tPRON\t_\t_\t0\troot\t_\t_\n", "conllu", 1, "ID", "integer word id"),
        ("1\tIl\til\tPRON\t_\t_\t0\troot\t_\t_\n3\tparle\tparler\tVERB\t_\t_\t0\troot\t_\t_\n", "conllu", 2, "ID", "expected 2, got 3"),
        ("# sent_id = a\n# text = rien\n\n1\tIl\til\tPRON\t_\t_\t0\troot\t_\t_\n", "conllu", 1, "sentence", "without tokens"),
        ("# sent_id = a\n1-2\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n\n", "conllu", 1, "sentence", "without tokens"),
        ("1\t\t_\tPRON\t_\t_\t0\troot\t_\t_\n", "conllu", 1, "FORM", "empty word form"),
        ("1\tIl\til\tPRON\t_\t_\t0\troot\t_\t_\n# late\n", "conllu", 2, "comment", "comment after"),
        (
            "# sent_id = a\n1\tIl\til\tPRON\t_\t_\t0\troot\t_\t_\n\n# sent_id = a\n1\tIl\til\tPRON\t_\t_\t0\troot\t_\t_\n",
            "conllu", 4, "sent_id", "duplicate sentence id 'a'",
        ),
        # XGLUE
        ("Je PRON\nsens\n", "xglue", 2, "columns", "expected 2 fields"),
        ("Je\tPRON\tX\n", "xglue", 1, "columns", "expected 2 TAB-separated fields"),
        ("Je PRON\nsens VRB\n", "xglue", 2, "tag", "unknown tag 'VRB'"),
        ("Je PRON extra\n", "xglue", 1, "tag", "unknown tag 'extra'"),
        ("\tPRON\n", "xglue", 1, "token", "empty token"),
    ],
)  # fmt: skip
def test_bad_input_names_file_line_and_field(
    tmp_path: Path, text: str, fmt: str, line: int, field: str, message: str
) -> None:
    path = write(tmp_path / "bad.txt", text)
    with pytest.raises(InputError) as caught:
        read_pos_file(path, "fr", fmt=fmt)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert message in str(error)
    assert str(error).startswith(f"{path}:{line}: {field}:")


def test_bad_arguments_and_empty_files(tmp_path: Path) -> None:
    path = write(tmp_path / "fr.test", XGLUE_SAMPLE)
    with pytest.raises(InputError) as caught:
        read_pos_file(path, "fr", fmt="csv")
    assert caught.value.field == "fmt"
    with pytest.raises(InputError) as caught:
        read_pos_file(path, "French")
    assert caught.value.field == "lang"
    with pytest.raises(InputError, match="no sentences"):
        read_pos_file(write(tmp_path / "empty.txt", "\n\n"), "fr")
    with pytest.raises(InputError, match="not found"):
        read_pos_file(tmp_path / "absent.conllu", "fr")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"Je PRON\n\xe9t\xe9 VERB\n")
    with pytest.raises(InputError, match="not valid UTF-8") as caught:
        read_pos_file(latin1, "fr")
    assert caught.value.line == 2


def test_prepare_pos_writes_lists_and_provenance(tmp_path: Path) -> None:
    source = write(tmp_path / "fr-test.conllu", CONLLU_SAMPLE)
    output = tmp_path / "out" / "pos-fr.parquet"
    frame = prepare_pos(source, "fr", output, max_sentences=1)
    assert len(frame) == 1
    written = read_parquet(output)
    assert list(written.loc[0, "tokens"]) == ["Il", "parle", "de", "le", "chat", "."]
    assert list(written.loc[0, "tags"]) == [
        "PRON",
        "VERB",
        "ADP",
        "DET",
        "NOUN",
        "PUNCT",
    ]
    provenance = read_provenance(output)
    assert provenance["format"] == "conllu" and provenance["rows"] == 1
    assert provenance["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    with pytest.raises(InputError) as caught:
        prepare_pos(source, "fr", tmp_path / "never.parquet", max_sentences=0)
    assert caught.value.field == "max_sentences"
    assert not (tmp_path / "never.parquet").exists()


# ---------------------------------------------------------------------------
# The real UD v2.5 test sets that XGLUE's POS task is derived from.

REAL_FILES = {
    "fr": ("UD_French-GSD/fr_gsd-ud-test.conllu", 416),
    "zh": ("UD_Chinese-GSDSimp/zh_gsdsimp-ud-test.conllu", 500),
    "pt": ("UD_Portuguese-GSD/pt_gsd-ud-test.conllu", 1204),
}


def independent_counts(path: Path) -> list[int]:
    """Words per sentence, counted as lines whose first column is a plain integer."""
    counts: list[int] = []
    current = 0
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            if current:
                counts.append(current)
            current = 0
        elif line.split("\t")[0].isdigit():
            current += 1
    if current:
        counts.append(current)
    return counts


@pytest.mark.shared_data
@pytest.mark.parametrize("lang", sorted(REAL_FILES))
def test_real_ud_test_sets(shared_data: Path, lang: str) -> None:
    relative, sentences = REAL_FILES[lang]
    path = shared_data / "ud-v2.5" / relative
    frame = read_pos_file(path, lang)
    counts = independent_counts(path)
    assert len(frame) == sentences
    assert len(counts) == sentences
    assert [len(tokens) for tokens in frame["tokens"]] == counts
    assert sum(len(tags) for tags in frame["tags"]) == sum(counts)
    assert all(tag in UPOS_TAGS for tags in frame["tags"] for tag in tags)
    assert frame["id"].is_unique
    assert frame["text"].notna().all()


@pytest.mark.shared_data
def test_real_french_first_sentence_and_contractions(shared_data: Path) -> None:
    frame = read_pos_file(shared_data / "ud-v2.5" / REAL_FILES["fr"][0], "fr")
    first = frame.iloc[0]
    assert first["id"] == "fr-ud-test_00001"
    assert first["text"].startswith("Je sens qu'entre ça et les films")
    assert first["tokens"][:4] == ["Je", "sens", "qu'", "entre"]
    assert first["tags"][:4] == ["PRON", "VERB", "SCONJ", "ADP"]
    # French multi-word tokens (du = de + le, au = à + le) are replaced by their words.
    lines = (
        (shared_data / "ud-v2.5" / REAL_FILES["fr"][0])
        .read_text(encoding="utf-8")
        .split("\n")
    )
    range_at = next(
        i
        for i, line in enumerate(lines)
        if re.fullmatch(r"\d+-\d+", line.split("\t")[0])
    )
    start, end = (int(n) for n in lines[range_at].split("\t")[0].split("-"))
    parts = [
        line.split("\t")[1] for line in lines[range_at + 1 : range_at + 2 + end - start]
    ]
    sent_id = next(
        line for line in reversed(lines[:range_at]) if line.startswith("# sent_id")
    )
    tokens = frame.set_index("id").loc[sent_id.split("= ", 1)[1], "tokens"]
    assert tokens[start - 1 : end] == parts
    all_tokens = [token for tokens in frame["tokens"] for token in tokens]
    assert "1 000" in all_tokens


@pytest.mark.parametrize(
    "name, text, line",
    [
        (
            "broken.conllu",
            "# sent_id = a\n1\tLe\tle\tDET\t_\t_\t2\tdet\t_\t_\n2\tchat\tchat\tNOUNX\t_\t_\t0\troot\t_\t_\n\n",
            3,
        ),
        (
            "broken.conllu",
            "# sent_id = a\n1\tLe\tle\tDET\t_\t_\t2\tdet\t_\t_\nx\tchat\tchat\tNOUN\t_\t_\t0\troot\t_\t_\n\n",
            3,
        ),
        ("broken.txt", "Le DET\nchat NOUN\nmange\n\n", 3),
        ("broken.txt", "Le DET\nchat NUON\n\n", 2),
    ],
)
def test_broken_files_name_the_line_and_leave_nothing_behind(
    tmp_path, name, text, line
):
    source = tmp_path / "in" / name
    source.parent.mkdir()
    source.write_text(text, encoding="utf-8")
    output_dir = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        prepare_pos(source, "fr", output_dir / "fr.parquet")
    assert caught.value.path == str(source) and caught.value.line == line
    assert f"{source}:{line}" in str(caught.value)
    assert not output_dir.exists() or list(output_dir.iterdir()) == []
    assert source.read_text(encoding="utf-8") == text  # raw input untouched
