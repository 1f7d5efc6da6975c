"""Atomic writers: an output appears complete or not at all.

Every writer goes through :func:`atomic_path`, which writes to a temporary
sibling and renames it into place only when writing succeeded, so a crash or a
validation error never leaves a partial file for Snakemake to mistake as done.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prettyflow.errors import InputError

PROVENANCE_KEY = b"prettyflow.provenance"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    The output gets the permissions of a file (or folder) created normally under
    the process's umask: temporary files are created private (0600/0700), and on a
    shared cluster colleagues must be able to read the results.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        tmp.chmod((0o777 if directory else 0o666) & ~_current_umask())
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_parquet(
    frame: pd.DataFrame, path: str | Path, provenance: Mapping[str, Any] | None = None
) -> None:
    """Write ``frame`` atomically; ``provenance`` is stored in the file's metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if provenance is not None:
        metadata = dict(table.schema.metadata or {})
        metadata[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True).encode()
        table = table.replace_schema_metadata(metadata)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_parquet(path: str | Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance stored by :func:`write_parquet` (empty if there is none)."""
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(PROVENANCE_KEY)
    return json.loads(raw) if raw else {}


def write_json(data: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
            encoding="utf-8",
        )


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_lines(path: str | Path, what: str = "file") -> list[str]:
    """A raw input's lines without terminators (``\\n`` or ``\\r\\n``); a UTF-8 BOM is dropped.

    Undecodable bytes raise :class:`InputError` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found", path=path)
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    lines = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            lines.append(raw.removesuffix(b"\r").decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InputError(
                f"not valid UTF-8 (byte {error.start + 1} of the line: {error.reason})",
                path=path,
                line=number,
            ) from None
    return lines
