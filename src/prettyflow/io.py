"""Atomic writers and checked readers.

Every writer goes through :func:`atomic_path`, which writes to a temporary
sibling and renames it into place only when writing succeeded, so a crash or a
validation error never leaves a partial file for Snakemake to mistake as done.
A step with several outputs writes them through :func:`atomic_paths`, so that
they appear all together or not at all.

The readers (:func:`read_lines`, :func:`read_json`, :func:`parse_json_text`,
:func:`read_parquet`) turn every way a file can be unreadable into an
:class:`~prettyflow.errors.InputError` naming the file and, when known, the line
and field.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
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


# Temporary outputs are ".<name>.<8 random characters>.partial" beside <name>.
PARTIAL_SUFFIX = ".partial"


def remove_stale_temporaries(path: Path) -> None:
    """Remove what a writer of ``path`` that was killed (SIGKILL, preemption) left.

    Snakemake never runs two jobs for one output at a time, so a temporary file of
    this output that exists before its job writes is a killed job's.
    """
    pattern = re.compile(
        rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}{re.escape(PARTIAL_SUFFIX)}"
    )
    if not path.parent.is_dir():
        return
    for stale in path.parent.iterdir():
        if pattern.fullmatch(stale.name):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    The output gets the permissions of a file (or folder) created normally under
    the process's umask: temporary files are created private (0600/0700), and on a
    shared cluster colleagues must be able to read the results.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    if directory:
        tmp = Path(
            tempfile.mkdtemp(
                prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent
            )
        )
    else:
        fd, name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent
        )
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


@contextlib.contextmanager
def atomic_paths(*paths: str | Path | None) -> Iterator[list[Path | None]]:
    """Temporary paths for several outputs, moved onto theirs only if the whole block succeeds.

    Yields one temporary path per output (None for a None output, e.g. an
    optional page). An error in the block removes every temporary file, so a
    later output that fails never leaves the earlier ones behind for Snakemake
    to take as done. The writers of this module may be pointed at the
    temporary paths; each output gets the permissions the umask gives.
    """
    temporaries: list[Path | None] = []
    moved: list[Path] = []
    try:
        for path in paths:
            if path is None:
                temporaries.append(None)
                continue
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(path)
            fd, name = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent
            )
            os.close(fd)
            temporaries.append(Path(name))
        yield list(temporaries)
        mode = 0o666 & ~_current_umask()
        for path, tmp in zip(paths, temporaries):
            if tmp is not None:
                tmp.chmod(mode)
                os.replace(tmp, path)
                moved.append(Path(path))
    except BaseException:
        for tmp in temporaries:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        # A move that failed half way: the outputs already moved go too, so
        # that no incomplete set is left.
        for path in moved:
            path.unlink(missing_ok=True)
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


def read_parquet(path: str | Path, what: str = "table") -> pd.DataFrame:
    """A Parquet file as a frame; a missing or unreadable file is an :class:`InputError`."""
    path = existing_file(path, what)
    try:
        return pd.read_parquet(path)
    except (OSError, pa.ArrowException, ValueError) as error:
        raise InputError(
            f"cannot read the {what} as Parquet ({error}); was it written by this workflow?",
            path=path,
        ) from None


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance stored by :func:`write_parquet` (empty if there is none)."""
    path = existing_file(path, "table")
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException) as error:
        raise InputError(
            f"cannot read the Parquet schema ({error})", path=path
        ) from None
    raw = metadata.get(PROVENANCE_KEY)
    if not raw:
        return {}
    try:
        provenance = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(
            f"the provenance metadata is not JSON ({error})",
            path=path,
            field="provenance",
        ) from None
    if not isinstance(provenance, dict):
        raise InputError(
            f"the provenance metadata is a JSON {type(provenance).__name__}, expected an object",
            path=path,
            field="provenance",
        )
    return provenance


def write_json(data: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
            encoding="utf-8",
        )


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """One JSON document (a UTF-8 BOM is allowed); errors name the file, line and column.

    Strings must be valid Unicode text (see :func:`check_unicode`) and an object
    may not repeat a key.
    """
    path = existing_file(path, what)
    data = _read_bytes(path, what)
    _refuse_utf16(data, path)
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputError(
            f"not valid UTF-8 ({error.reason})", path=path, line=line
        ) from None
    return parse_json_text(text, path=path, expected=f"a {what}")


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


_BOM = b"\xef\xbb\xbf"
# A UTF-16 surrogate on its own: what a JSON ``\ud83d`` escape without its pair
# decodes to. It is not a Unicode scalar value, so no UTF-8 file or Parquet
# string can hold it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def existing_file(path: str | Path, what: str = "file") -> Path:
    """``path`` if it is a regular file; else an :class:`InputError` saying what it is.

    A directory, a broken symbolic link (or a loop of links) and a FIFO or device
    (which would block or never end) are each named as such, not as "not found".
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if path.is_symlink():
            reason = (
                "the links form a loop"
                if error.errno == errno.ELOOP
                else f"its target {os.readlink(path)} does not exist"
            )
            raise InputError(
                f"{what} is a broken symbolic link ({reason}); expected a file",
                path=path,
            ) from None
        if error.errno == errno.ELOOP:
            raise InputError(
                f"{what} cannot be reached: a loop of symbolic links in its folders",
                path=path,
            ) from None
        raise InputError(f"{what} not found", path=path) from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{what} is a directory; expected a file", path=path)
    if not stat.S_ISREG(mode):
        raise InputError(
            f"{what} is not a regular file (a FIFO, socket or device); expected a file",
            path=path,
        )
    return path


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(
            f"cannot read the {what}: {error.strerror or error}", path=path
        ) from None


def _refuse_utf16(data: bytes, path: Path) -> None:
    """An :class:`InputError` for UTF-16/UTF-32 text, which would otherwise read as
    undecodable bytes or (ASCII without a byte-order mark) as lines full of NULs."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        found = "starts with a UTF-16 (or UTF-32) byte-order mark"
    else:
        sample = data[: min(len(data), 64) // 2 * 2]
        pairs = [sample[i : i + 2] for i in range(0, len(sample), 2)]
        if len(pairs) < 2 or b"\x00\x00" in pairs:
            return
        if not all(pair[1] == 0 for pair in pairs) and not all(
            pair[0] == 0 for pair in pairs
        ):
            return
        found = "has a NUL byte beside every character, as UTF-16 text has"
    raise InputError(
        f"the file {found}; expected UTF-8: convert it, e.g. "
        "`iconv -f UTF-16 -t UTF-8 <file>`",
        path=path,
        line=1,
    )


def read_lines(path: str | Path, what: str = "file") -> list[str]:
    """A raw input's lines without terminators (``\\n`` or ``\\r\\n``); a UTF-8 BOM is dropped.

    A missing, unreadable or directory path, undecodable bytes, UTF-16 text, a
    carriage return that does not end a line (old Mac line ends) and a byte-order
    mark starting a later line (concatenated files) raise :class:`InputError`
    naming the file (and the line).
    """
    path = existing_file(path, what)
    data = _read_bytes(path, what)
    _refuse_utf16(data, path)
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    lines = []
    for number, raw in enumerate(raw_lines, start=1):
        raw = raw.removesuffix(b"\r")
        if b"\r" in raw:
            # Old Mac line ends (CR alone) would make the whole file one line.
            position = raw.index(b"\r") + 1
            raise InputError(
                f"carriage return (\\r) at byte {position} of the line, "
                "not followed by a line feed; expected lines ending in \\n or \\r\\n "
                "(old Mac line ends? convert them with `tr '\\r' '\\n'`)",
                path=path,
                line=number,
            )
        if number > 1 and raw.startswith(_BOM):
            raise InputError(
                "byte-order mark (U+FEFF) at the start of the line, as where files "
                "were concatenated; expected it only at the start of the file",
                path=path,
                line=number,
            )
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InputError(
                f"not valid UTF-8 (byte {error.start + 1} of the line: {error.reason})",
                path=path,
                line=number,
            ) from None
    return lines


def check_unicode(
    value: Any,
    path: str | Path | None = None,
    line: int | None = None,
    field: str | None = None,
) -> None:
    """Raise :class:`InputError` if a string in ``value`` is not valid Unicode text.

    JSON can escape a lone UTF-16 surrogate (``"\\ud83d"`` without its pair);
    Python decodes it to a string that cannot be written as UTF-8, so Parquet
    and every writer would crash on it later. ``value`` is searched through
    lists and objects (keys too); the error names the field, e.g.
    ``metadata.tags[2]``.
    """
    if isinstance(value, str):
        match = _LONE_SURROGATE.search(value)
        if match:
            raise InputError(
                f"lone surrogate U+{ord(match.group()):04X} at character "
                f"{match.start() + 1} (a \\u escape without its pair): expected valid "
                "Unicode text",
                path=path,
                line=line,
                field=field,
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            check_unicode(key, path, line, name)
            check_unicode(item, path, line, name)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_unicode(item, path, line, f"{field or ''}[{index}]")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKey(key)
        record[key] = value
    return record


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def parse_json_text(
    text: str,
    path: str | Path | None = None,
    line: int | None = None,
    expected: str = "JSON",
) -> Any:
    """``text`` as JSON, or an :class:`InputError` naming the file, line and column.

    Besides syntax, refuses a key repeated in one object (JSON parsers keep
    either one silently), nesting too deep to read and text that is not valid
    Unicode (:func:`check_unicode`). ``line`` is the line ``text`` starts on
    (for JSON Lines); without it the error gives the line inside ``text``.
    """
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        where = error.lineno if line is None else line
        raise InputError(
            f"not valid JSON ({error.msg} at column {error.colno}); expected {expected}",
            path=path,
            line=where,
        ) from None
    except _DuplicateKey as error:
        raise InputError(
            "key repeated in one JSON object", path=path, line=line, field=error.key
        ) from None
    except RecursionError:
        raise InputError(
            f"JSON nested too deeply to read; expected {expected}", path=path, line=line
        ) from None
    check_unicode(value, path, line)
    return value
