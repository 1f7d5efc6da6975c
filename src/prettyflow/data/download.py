"""Download and unpack dataset archives, leaving nothing partial behind.

A download streams into a temporary sibling of the destination and is renamed
into place only when complete (and, when a checksum is given, verified). An
archive is unpacked into a temporary sibling folder, member by member after a
path check, and that folder is renamed into place at the end.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import requests

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.io import atomic_path

CHUNK_BYTES = 1 << 20
# Generous ceilings so that a misbehaving server or a zip bomb cannot fill the disk
# or keep a job alive forever; Flores-101 is ~13 MB, Flores-200 ~25 MB.
DEFAULT_MAX_BYTES = 16 * 2**30
DEFAULT_MAX_SECONDS = 4 * 3600.0

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar")
ZIP_SUFFIXES = (".zip",)


# What a damaged or truncated archive raises while it is being read.
_CORRUPT_ARCHIVE = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    gzip.BadGzipFile,
    zlib.error,
    lzma.LZMAError,
)


class DownloadError(MissingResourceError):
    """A download failed (HTTP error, truncated body, wrong checksum, time limit)."""


def _manual_hint(url: str, destination: Path) -> str:
    return f"download {url} by hand and place it at {destination}"


def download_archive(
    url: str,
    destination: str | Path,
    sha256: str | None = None,
    timeout: float = 60,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> Path:
    """Download ``url`` to ``destination`` atomically and return ``destination``.

    ``timeout`` bounds connecting and each read; ``max_seconds`` bounds the whole
    transfer and ``max_bytes`` its size. When ``sha256`` is given, the file must
    match it. On any failure nothing is left at (or beside) ``destination``.
    """
    destination = Path(destination)
    expected = sha256.strip().lower() if sha256 else None
    started = time.monotonic()
    with atomic_path(destination) as tmp:
        try:
            response = requests.get(url, stream=True, timeout=timeout)
        except requests.RequestException as error:
            raise DownloadError(
                f"could not download {url}: {error}; {_manual_hint(url, destination)}"
            ) from error
        with response:
            if response.status_code >= 400:
                raise DownloadError(
                    f"could not download {url}: HTTP {response.status_code} {response.reason}; "
                    f"{_manual_hint(url, destination)}"
                )
            actual, received = _stream_to_file(
                response, tmp, url, started, max_bytes, max_seconds
            )
        declared = response.headers.get("Content-Length")
        # Content-Length counts the encoded body; only compare when none was applied.
        if (
            declared is not None
            and declared.strip().isdigit()
            and not response.headers.get("Content-Encoding")
            and int(declared) != received
        ):
            raise DownloadError(
                f"download of {url} is truncated: received {received} of {declared} bytes; "
                f"{_manual_hint(url, destination)}"
            )
        if expected is not None and actual != expected:
            raise DownloadError(
                f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}; "
                f"check the configured checksum or {_manual_hint(url, destination)}"
            )
    return destination


def _stream_to_file(
    response: requests.Response,
    tmp: Path,
    url: str,
    started: float,
    max_bytes: int,
    max_seconds: float,
) -> tuple[str, int]:
    digest = hashlib.sha256()
    received = 0
    try:
        with tmp.open("wb") as handle:
            for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
                received += len(chunk)
                if received > max_bytes:
                    raise DownloadError(
                        f"download of {url} exceeds the limit of {max_bytes} bytes"
                    )
                if time.monotonic() - started > max_seconds:
                    raise DownloadError(
                        f"download of {url} took longer than {max_seconds:.0f} s"
                    )
                digest.update(chunk)
                handle.write(chunk)
    except requests.RequestException as error:
        raise DownloadError(
            f"download of {url} failed after {received} bytes: {error}"
        ) from error
    return digest.hexdigest(), received


def _archive_kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    if name.endswith(ZIP_SUFFIXES):
        return "zip"
    raise InputError(
        f"unsupported archive type; expected one of {', '.join(TAR_SUFFIXES + ZIP_SUFFIXES)}",
        path=archive,
    )


def _safe_relative(name: str, archive: Path) -> str:
    """The member's normalised relative path; refuses anything leaving the folder."""
    if "\\" in name or "\x00" in name:
        raise InputError(f"archive member {name!r} has an unsafe name", path=archive)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise InputError(f"archive member {name!r} is an absolute path", path=archive)
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InputError(
            f"archive member {name!r} points outside the extraction folder",
            path=archive,
        )
    return "/".join(parts)


def _under_root(relative: str, member_root: str | None) -> str | None:
    """``relative`` with ``member_root`` removed; None when it lies outside it."""
    if member_root is None:
        return relative
    if relative == member_root:
        return ""
    prefix = member_root + "/"
    return relative[len(prefix) :] if relative.startswith(prefix) else None


# (relative name, is_directory, opener of the member's bytes)
_Member = tuple[str, bool, "Callable[[], BinaryIO] | None"]


def _tar_members(handle: tarfile.TarFile, archive: Path) -> Iterator[_Member]:
    for member in handle:
        relative = _safe_relative(member.name, archive)
        if member.isdir():
            yield relative, True, None
        elif member.isfile():
            yield relative, False, lambda member=member: handle.extractfile(member)
        else:
            # Links and device files are never needed for datasets and can escape.
            raise InputError(
                f"archive member {member.name!r} is a link or special file, which is not extracted",
                path=archive,
            )


def _zip_members(handle: zipfile.ZipFile, archive: Path) -> Iterator[_Member]:
    for info in handle.infolist():
        relative = _safe_relative(info.filename, archive)
        # Unix mode bits in external_attr: refuse symlinks stored in the zip.
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise InputError(
                f"archive member {info.filename!r} is a symbolic link", path=archive
            )
        if info.is_dir():
            yield relative, True, None
        else:
            yield relative, False, lambda info=info: handle.open(info)


def extract_archive(
    archive: str | Path,
    destination_dir: str | Path,
    member_root: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Path:
    """Unpack a .tar(.gz/.bz2/.xz)/.tgz or .zip archive into ``destination_dir``.

    With ``member_root`` (e.g. ``"flores101_dataset"``), only the members below
    that folder are extracted, and the folder itself is dropped from their paths.
    Absolute paths, ``..``, links and special files are refused; ``max_bytes``
    bounds the unpacked size. The folder appears complete or not at all (an
    existing ``destination_dir`` is replaced only on success).
    """
    archive = Path(archive)
    destination_dir = Path(destination_dir)
    if not archive.is_file():
        raise InputError("archive not found", path=archive)
    kind = _archive_kind(archive)
    root = (_safe_relative(member_root, archive) or None) if member_root else None
    try:
        with atomic_path(destination_dir, directory=True) as tmp:
            if kind == "tar":
                with tarfile.open(archive, "r:*") as handle:
                    written = _extract_members(
                        _tar_members(handle, archive), tmp, root, archive, max_bytes
                    )
            else:
                with zipfile.ZipFile(archive) as handle:
                    written = _extract_members(
                        _zip_members(handle, archive), tmp, root, archive, max_bytes
                    )
            if root is not None and written == 0:
                raise InputError(
                    f"archive has no members under {member_root!r}",
                    path=archive,
                    field="member_root",
                )
    except _CORRUPT_ARCHIVE as error:
        raise InputError(f"cannot read archive: {error}", path=archive) from error
    return destination_dir


def _extract_members(
    members: Iterator[_Member],
    folder: Path,
    member_root: str | None,
    archive: Path,
    max_bytes: int,
) -> int:
    """Write the members into ``folder``; returns how many were under ``member_root``."""
    written = 0
    total_bytes = 0
    for relative, is_directory, open_member in members:
        inside = _under_root(relative, member_root)
        if inside is None:
            continue
        written += 1
        if inside == "":
            continue  # the member_root folder itself
        target = folder.joinpath(*inside.split("/"))
        if is_directory:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_member() as source, target.open("wb") as sink:
            while block := source.read(CHUNK_BYTES):
                total_bytes += len(block)
                if total_bytes > max_bytes:
                    raise InputError(
                        f"archive unpacks to more than {max_bytes} bytes", path=archive
                    )
                sink.write(block)
    return written


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()
