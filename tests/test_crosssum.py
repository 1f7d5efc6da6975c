"""CrossSum JSONL reader: the released shape, ids, metadata and every bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from prettyflow.data.crosssum import prepare_crosssum, read_crosssum
from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance


def record(number: int, **overrides: object) -> dict[str, object]:
    """An object shaped like a line of csebuetnlp's CrossSum release."""
    base: dict[str, object] = {
        "source_url": f"https://www.bbc.com/news/world-{number}",
        "target_url": f"https://www.bbc.com/zhongwen/simp/world-{number}",
        "summary": f"第{number}篇文章的摘要。",
        "text": f"Article number {number} says something long enough to summarise.",
    }
    base.update(overrides)
    return base


def write_jsonl(path: Path, lines: list[object]) -> Path:
    """Objects are JSON-encoded; strings are written verbatim (for broken lines)."""
    encoded = [
        line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)
        for line in lines
    ]
    path.write_bytes("".join(line + "\n" for line in encoded).encode("utf-8"))
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def test_reads_released_shape(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "english-chinese_simplified_test.jsonl",
        [record(1), record(2), record(3)],
    )
    frame = read_crosssum(path, "en", "zh")
    assert list(frame.columns) == [
        "id",
        "source",
        "reference",
        "source_lang",
        "target_lang",
        "line",
        "source_url",
        "target_url",
    ]
    assert list(frame["id"]) == [
        f"https://www.bbc.com/news/world-{n}" for n in (1, 2, 3)
    ]
    assert frame.loc[1, "source"] == record(2)["text"]
    assert frame.loc[1, "reference"] == "第2篇文章的摘要。"
    assert set(frame["source_lang"]) == {"en"} and set(frame["target_lang"]) == {"zh"}
    assert list(frame["line"]) == [1, 2, 3]
    assert frame.loc[2, "target_url"] == "https://www.bbc.com/zhongwen/simp/world-3"


def test_id_field_wins_and_line_number_is_the_fallback(tmp_path: Path) -> None:
    without_urls = {"text": "Some article.", "summary": "Un résumé."}
    path = write_jsonl(
        tmp_path / "pairs.jsonl",
        [record(1, id="sample-a"), without_urls, "", dict(without_urls, id=7)],
    )
    frame = read_crosssum(path, "en", "fr")
    # Line 3 is blank (skipped), so the fourth object is on line 4.
    assert list(frame["id"]) == ["sample-a", "00002", "7"]
    assert list(frame["line"]) == [1, 2, 4]


def test_repeated_source_url_gets_a_stable_suffix(tmp_path: Path) -> None:
    first = record(1)
    second = record(2, source_url=first["source_url"])
    path = write_jsonl(tmp_path / "pairs.jsonl", [first, second, record(3)])
    frame = read_crosssum(path, "en", "zh")
    assert list(frame["id"]) == [
        first["source_url"],
        f"{first['source_url']}#2",
        record(3)["source_url"],
    ]
    assert list(read_crosssum(path, "en", "zh")["id"]) == list(frame["id"])


def test_duplicate_explicit_id_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [record(1, id="x"), record(2, id="x")])
    with pytest.raises(InputError) as caught:
        read_crosssum(path, "en", "zh")
    assert caught.value.line == 2 and caught.value.field == "id"
    assert "first used on line 1" in str(caught.value)


def test_other_fields_become_string_metadata(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "pairs.jsonl",
        [record(1, source_title="Title", score=0.5), record(2, tags=["a", "b"])],
    )
    frame = read_crosssum(path, "en", "zh")
    assert frame.loc[0, "source_title"] == "Title"
    assert frame.loc[0, "score"] == "0.5"
    assert frame.loc[1, "tags"] == '["a", "b"]'
    assert frame["source_title"].isna().tolist() == [False, True]


def test_crlf_bom_and_blank_lines(tmp_path: Path) -> None:
    body = (
        "\r\n".join([json.dumps(record(1)), "   ", json.dumps(record(2))]) + "\r\n\r\n"
    )
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    frame = read_crosssum(path, "en", "zh")
    assert list(frame["line"]) == [1, 3]
    assert frame.loc[1, "source"] == record(2)["text"]


def test_max_samples_keeps_the_first_rows_after_validating_all(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [record(n) for n in range(1, 6)])
    assert list(read_crosssum(path, "en", "zh", max_samples=2)["line"]) == [1, 2]
    broken = write_jsonl(tmp_path / "broken.jsonl", [record(1), record(2), "{not json"])
    with pytest.raises(InputError) as caught:
        read_crosssum(broken, "en", "zh", max_samples=1)
    assert caught.value.line == 3


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ('{"text": "a", "summary": ', None, "not valid JSON"),
        ("[1, 2, 3]", None, "got a JSON list"),
        ('"just a string"', None, "got a JSON str"),
        ('{"summary": "s"}', "text", "missing required field"),
        ('{"text": "t"}', "summary", "missing required field"),
        ('{"text": "   \\n\\t", "summary": "s"}', "text", "empty"),
        ('{"text": "t", "summary": ""}', "summary", "empty"),
        ('{"text": "t", "summary": 3}', "summary", "expected a string"),
        ('{"text": null, "summary": "s"}', "text", "expected a string"),
        ('{"text": "t", "summary": "s", "line": 4}', "line", "clashes"),
    ],
)
def test_bad_lines_name_file_line_and_field(
    tmp_path: Path, line: str, field: str | None, message: str
) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [record(1), line])
    with pytest.raises(InputError) as caught:
        read_crosssum(path, "en", "zh")
    error = caught.value
    assert error.path == str(path)
    assert error.line == 2
    assert error.field == field
    assert message in str(error)
    assert str(error).startswith(f"{path}:2:")


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(
        json.dumps(record(1)).encode() + b"\n" + b'{"text": "\xff", "summary": "s"}\n'
    )
    with pytest.raises(InputError, match="not valid UTF-8") as caught:
        read_crosssum(path, "en", "zh")
    assert caught.value.line == 2


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no samples"):
        read_crosssum(empty, "en", "zh")
    with pytest.raises(InputError, match="not found"):
        read_crosssum(tmp_path / "absent.jsonl", "en", "zh")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source_lang": "English"}, "source_lang"),
        ({"target_lang": ""}, "target_lang"),
        ({"max_samples": 0}, "max_samples"),
        ({"max_samples": True}, "max_samples"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], field: str) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [record(1)])
    arguments: dict[str, object] = {"source_lang": "en", "target_lang": "zh", **kwargs}
    with pytest.raises(InputError) as caught:
        read_crosssum(path, **arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_prepare_writes_parquet_with_provenance(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [record(n) for n in range(1, 4)])
    output = tmp_path / "out" / "crosssum-en-zh.parquet"
    frame = prepare_crosssum(path, "en", "zh", output, max_samples=2)
    written = read_parquet(output)
    assert list(written["id"]) == list(frame["id"])
    assert list(written["reference"]) == [record(1)["summary"], record(2)["summary"]]
    provenance = read_provenance(output)
    assert provenance["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert provenance["rows"] == 2 and provenance["max_samples"] == 2
    assert provenance["dataset"] == "crosssum"


def test_prepare_leaves_nothing_behind_on_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [record(1), '{"text": ""}'])
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    before = path.read_bytes()
    with pytest.raises(InputError):
        prepare_crosssum(path, "en", "zh", output_dir / "crosssum.parquet")
    assert leftovers(output_dir) == []
    assert path.read_bytes() == before


def test_a_lone_surrogate_escape_is_refused_naming_line_and_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "english-portuguese_test.jsonl"
    good = json.dumps(record(1))
    # json.dumps would escape the pair correctly: write the lone escape by hand.
    bad = '{"source_url": "u2", "text": "a \\ud83d b", "summary": "ok"}'
    path.write_text(good + "\n" + bad + "\n", encoding="utf-8")
    output = tmp_path / "out" / "data.parquet"
    with pytest.raises(InputError, match="lone surrogate") as caught:
        prepare_crosssum(path, "en", "pt", output)
    assert (caught.value.line, caught.value.field) == (2, "text")
    assert not output.exists()


def test_an_empty_or_blank_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    for content in (b"", b"\n\n  \n", b"\xef\xbb\xbf"):
        path.write_bytes(content)
        with pytest.raises(InputError, match="no samples") as caught:
            read_crosssum(path, "en", "pt")
        assert caught.value.path == str(path)


def test_a_repeated_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text('{"text": "a", "summary": "b", "text": "c"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="key repeated") as caught:
        read_crosssum(path, "en", "pt")
    assert (caught.value.line, caught.value.field) == (1, "text")
