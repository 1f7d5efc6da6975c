"""Downloads from a local HTTP server and safe, atomic archive extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from download_setup import PROXY_VARIABLES, listing, serve_folder

from prettyflow.data.download import DownloadError, download_archive, extract_archive
from prettyflow.errors import InputError

FILES = {
    "flores101_dataset/dev/eng.dev": b"Hello.\nWorld.\n",
    "flores101_dataset/dev/por.dev": "Olá.\nMundo.\n".encode(),
    "flores101_dataset/metedata_dev.tsv": b"URL\tdomain\nu\td\nv\td\n",
}


def build_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def build_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder served) from a local HTTP server on a free port."""
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_folder(folder) as base:
        yield base, folder


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy configured in the environment must not intercept the local server.
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_download_and_extract(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    archive = build_tar_gz(folder / "flores101_dataset.tar.gz", FILES)
    checksum = hashlib.sha256(archive.read_bytes()).hexdigest()
    downloads = tmp_path / "downloads"

    path = download_archive(
        f"{base}/flores101_dataset.tar.gz",
        downloads / "flores.tar.gz",
        sha256=checksum,
        timeout=10,
    )
    assert path.read_bytes() == archive.read_bytes()
    assert listing(downloads) == ["flores.tar.gz"]

    extracted = extract_archive(
        path, tmp_path / "flores101", member_root="flores101_dataset"
    )
    assert listing(extracted) == [
        "dev",
        "dev/eng.dev",
        "dev/por.dev",
        "metedata_dev.tsv",
    ]
    assert (extracted / "dev" / "por.dev").read_bytes() == FILES[
        "flores101_dataset/dev/por.dev"
    ]
    assert listing(tmp_path / "flores101") == listing(extracted)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [
        "downloads",
        "flores101",
        "served",
    ]


def test_http_404_leaves_nothing(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    downloads = tmp_path / "downloads"
    url = f"{base}/missing.tar.gz"
    with pytest.raises(DownloadError) as caught:
        download_archive(url, downloads / "missing.tar.gz", timeout=10)
    assert url in str(caught.value) and "404" in str(caught.value)
    assert listing(downloads) == []


def test_checksum_mismatch_leaves_nothing(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    base, folder = served
    build_tar_gz(folder / "data.tar.gz", FILES)
    downloads = tmp_path / "downloads"
    url = f"{base}/data.tar.gz"
    with pytest.raises(DownloadError) as caught:
        download_archive(url, downloads / "data.tar.gz", sha256="0" * 64, timeout=10)
    assert url in str(caught.value) and "checksum" in str(caught.value)
    assert listing(downloads) == []


def test_unreachable_server_names_url(tmp_path: Path) -> None:
    # Port 9 (discard) on localhost: refused at once, no network involved.
    url = "http://127.0.0.1:9/data.tar.gz"
    with pytest.raises(DownloadError, match="127.0.0.1:9/data.tar.gz"):
        download_archive(url, tmp_path / "d" / "data.tar.gz", timeout=5)
    assert listing(tmp_path / "d") == []


def test_size_limit(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    (folder / "big.tar").write_bytes(b"x" * 5000)
    with pytest.raises(DownloadError, match="exceeds"):
        download_archive(
            f"{base}/big.tar", tmp_path / "d" / "big.tar", max_bytes=1000, timeout=10
        )
    assert listing(tmp_path / "d") == []


def test_extract_zip_whole(tmp_path: Path) -> None:
    archive = build_zip(tmp_path / "a.zip", FILES)
    extracted = extract_archive(archive, tmp_path / "out")
    assert "flores101_dataset/dev/eng.dev" in listing(extracted)


def test_extract_replaces_existing_folder_only_on_success(tmp_path: Path) -> None:
    destination = tmp_path / "out"
    destination.mkdir()
    (destination / "old.txt").write_text("old")
    bad = build_tar_gz(
        tmp_path / "bad.tar.gz", {"ok.txt": b"fine", "../evil.txt": b"evil"}
    )
    with pytest.raises(InputError):
        extract_archive(bad, destination)
    assert listing(destination) == ["old.txt"]
    good = build_tar_gz(tmp_path / "good.tar.gz", {"new.txt": b"new"})
    extract_archive(good, destination)
    assert listing(destination) == ["new.txt"]


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
@pytest.mark.parametrize("builder", [build_tar_gz, build_zip])
def test_path_traversal_refused(
    tmp_path: Path, name: str, builder: Callable[[Path, dict[str, bytes]], Path]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    suffix = ".tar.gz" if builder is build_tar_gz else ".zip"
    archive = builder(work / f"evil{suffix}", {"fine.txt": b"fine", name: b"evil"})
    destination = work / "out"
    with pytest.raises(InputError) as caught:
        extract_archive(archive, destination)
    assert str(archive) in str(caught.value)
    assert not destination.exists()
    assert sorted(entry.name for entry in work.iterdir()) == [archive.name]
    assert not list(tmp_path.rglob("evil.txt"))


def test_symlink_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        info = tarfile.TarInfo("passwd")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        handle.addfile(info)
    with pytest.raises(InputError, match="link"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_member_root_absent(tmp_path: Path) -> None:
    archive = build_tar_gz(tmp_path / "a.tar.gz", FILES)
    with pytest.raises(InputError, match="no members under 'flores200_dataset'"):
        extract_archive(archive, tmp_path / "out", member_root="flores200_dataset")
    assert not (tmp_path / "out").exists()


def test_corrupt_and_unsupported_archives(tmp_path: Path) -> None:
    archive = build_tar_gz(tmp_path / "a.tar.gz", FILES)
    truncated = tmp_path / "t.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:60])
    with pytest.raises(InputError, match="cannot read archive"):
        extract_archive(truncated, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    renamed = tmp_path / "a.rar"
    renamed.write_bytes(archive.read_bytes())
    with pytest.raises(InputError, match="unsupported archive type"):
        extract_archive(renamed, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unpacked_size_limit(tmp_path: Path) -> None:
    archive = build_tar_gz(tmp_path / "a.tar.gz", {"zeros.bin": bytes(5000)})
    with pytest.raises(InputError, match="more than 1000 bytes"):
        extract_archive(archive, tmp_path / "out", max_bytes=1000)
    assert not (tmp_path / "out").exists()
