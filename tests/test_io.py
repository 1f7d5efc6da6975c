"""Atomic writers: complete or absent, and readable as a normal file would be."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from prettyflow.io import atomic_path, write_json, write_parquet, write_text


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_get_the_permissions_of_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        write_text("x", tmp_path / "a.txt")
        write_json({"a": 1}, tmp_path / "a.json")
        write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "a.parquet")
        with atomic_path(tmp_path / "folder", directory=True) as tmp:
            (tmp / "inside.txt").write_text("y")
    finally:
        os.umask(previous)
    for name in ("a.txt", "a.json", "a.parquet"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o777 & ~umask


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_group_of_outputs_appears_together_with_the_umask_permissions(tmp_path):
    from prettyflow.io import atomic_paths

    previous = os.umask(0o027)
    try:
        with atomic_paths(tmp_path / "a.csv", None, tmp_path / "b.json") as temps:
            csv_tmp, nothing, json_tmp = temps
            assert nothing is None
            write_text("a\n", csv_tmp)
            assert not (tmp_path / "a.csv").exists()  # only at the end
            write_json({"b": 1}, json_tmp)
    finally:
        os.umask(previous)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.csv", "b.json"]
    for name in ("a.csv", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640


def test_a_failure_in_a_group_leaves_no_output_and_no_temporary_file(tmp_path):
    from prettyflow.io import atomic_paths

    with pytest.raises(RuntimeError):
        with atomic_paths(tmp_path / "a.csv", tmp_path / "b.md") as (first, _second):
            write_text("a\n", first)
            raise RuntimeError("the second output fails")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"text": "a \\ud83d b"}', "text"),
        ('{"meta": {"tags": ["ok", "\\udc00"]}}', "meta.tags[1]"),
        ('{"\\ud800key": 1}', "\\ud800key"),
    ],
)
def test_json_with_a_lone_surrogate_is_refused_naming_the_field(text, field):
    from prettyflow.errors import InputError
    from prettyflow.io import parse_json_text

    with pytest.raises(InputError, match="lone surrogate") as caught:
        parse_json_text(text, path="in.jsonl", line=7)
    assert caught.value.path == "in.jsonl" and caught.value.line == 7
    assert caught.value.field == field.encode().decode("unicode_escape")


def test_a_surrogate_pair_is_one_character_and_accepted():
    from prettyflow.io import parse_json_text

    assert parse_json_text('{"t": "\\ud83d\\ude00"}') == {"t": "\U0001f600"}


def test_json_errors_name_line_and_what_was_wrong(tmp_path):
    from prettyflow.errors import InputError
    from prettyflow.io import parse_json_text, read_json

    with pytest.raises(InputError, match="key repeated") as caught:
        parse_json_text('{"id": "a", "id": "b"}', line=3)
    assert caught.value.field == "id" and caught.value.line == 3
    with pytest.raises(InputError, match="nested too deeply"):
        parse_json_text("[" * 100_000 + "]" * 100_000)
    path = tmp_path / "a.json"
    path.write_bytes(b'\xef\xbb\xbf{\n  "a": 1,\n}\n')  # BOM is fine, the comma is not
    with pytest.raises(InputError, match=rf"{path}:3: not valid JSON"):
        read_json(path)
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(InputError, match=rf"{path}:1: not valid UTF-8"):
        read_json(path)
    with pytest.raises(InputError, match="is a directory"):
        read_json(tmp_path)


def test_read_lines_names_the_line_of_bad_bytes_and_drops_bom_and_crlf(tmp_path):
    from prettyflow.errors import InputError
    from prettyflow.io import read_lines

    path = tmp_path / "in.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\n")
    assert read_lines(path) == ["one", "two"]
    path.write_bytes(b"one\ntw\xc3o\n")
    with pytest.raises(InputError, match=rf"{path}:2: not valid UTF-8"):
        read_lines(path)
    with pytest.raises(InputError, match="is a directory"):
        read_lines(tmp_path, "Flores file")


def test_read_parquet_names_a_file_that_is_not_parquet(tmp_path):
    from prettyflow.errors import InputError
    from prettyflow.io import read_parquet, read_provenance

    path = tmp_path / "decodes.parquet"
    path.write_text("id,output\n")
    with pytest.raises(InputError, match=rf"{path}: cannot read the decode table"):
        read_parquet(path, "decode table")
    with pytest.raises(InputError, match="cannot read the Parquet schema"):
        read_provenance(path)
    with pytest.raises(InputError, match="not found"):
        read_parquet(tmp_path / "absent.parquet")


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    from prettyflow.io import atomic_path

    output = tmp_path / "decode.parquet"
    stale = tmp_path / ".decode.parquet.k1ll3d_x.partial"  # left by a SIGKILL
    stale.write_text("half a table")
    other = tmp_path / ".decode.parquet.gz.abcdefgh.partial"  # another output's
    other.write_text("not ours")
    with atomic_path(output) as tmp:
        assert tmp.name.startswith(".decode.parquet.") and tmp.name.endswith(".partial")
        tmp.write_text("done")
    assert output.read_text() == "done"
    assert not stale.exists() and other.exists()
