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
