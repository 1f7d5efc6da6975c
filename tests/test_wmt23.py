"""WMT23 reader and benchmark: the demo set, every bad input, and the download."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from download_setup import PROXY_VARIABLES, build_tar_gz, listing, serve_folder

from prettyflow.data.download import DownloadError
from prettyflow.data.flores import CORE_COLUMNS
from prettyflow.data.wmt import (
    WMT23_MD5,
    WMT23_URL,
    prepare_wmt_direction,
    read_wmt_direction,
)
from prettyflow.datasets.wmt23 import Wmt23Dataset
from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "resources" / "demo" / "wmt23"
SOURCE = "txt/sources/generaltest2023.en-pt.src.en"
REFERENCE = "txt/references/generaltest2023.en-pt.ref.refA.pt"


def raw_lines(path: Path) -> list[str]:
    """An independent reading: the file's lines, only the newline removed."""
    return path.read_bytes().decode("utf-8").split("\n")[:-1]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))
    return path


@pytest.fixture
def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    """(base URL, folder served); a proxy in the environment must not intercept it."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_folder(folder) as base:
        yield base, folder


@pytest.fixture
def tiny_wmt(tmp_path: Path) -> Path:
    root = tmp_path / "wmt23"
    write_lines(root / SOURCE, ["Hello there.", "A second line.", "Third."])
    write_lines(root / REFERENCE, ["Olá.", "Uma segunda linha.", "Terceira."])
    return root


def assert_error_and_no_output(
    root: Path, output: Path, fragments: list[str], line: int | None, **kwargs: object
) -> InputError:
    with pytest.raises(InputError) as caught:
        prepare_wmt_direction(root, "en", "pt", output, **kwargs)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert caught.value.line == line
    if line is not None:
        assert f":{line}:" in message
    # Nothing written, not even a temporary file.
    assert listing(output.parent) == []
    return caught.value


def test_reads_the_demo_set() -> None:
    frame = read_wmt_direction(DEMO, "en", "pt")
    assert list(frame.columns) == list(CORE_COLUMNS)
    assert len(frame) == 8
    assert frame["source"].tolist() == raw_lines(DEMO / SOURCE)
    assert frame["reference"].tolist() == raw_lines(DEMO / REFERENCE)
    assert frame["id"].tolist() == [f"generaltest2023-{n:04d}" for n in range(1, 9)]
    assert frame["line"].tolist() == list(range(1, 9))
    assert set(frame["split"]) == {"generaltest2023"}
    assert set(frame["source_lang"]) == {"en"}
    assert set(frame["target_lang"]) == {"pt"}
    assert str(frame["line"].dtype) == "int64"


def test_prepare_writes_provenance(tmp_path: Path) -> None:
    output = tmp_path / "out" / "en-pt.parquet"
    frame = prepare_wmt_direction(DEMO, "en", "pt", output, max_samples=3)
    assert listing(output.parent) == ["en-pt.parquet"]
    assert read_parquet(output).equals(frame)
    assert len(frame) == 3
    assert frame["source"].tolist() == raw_lines(DEMO / SOURCE)[:3]
    provenance = read_provenance(output)
    assert provenance == {
        "dataset": "wmt",
        "test_set": "generaltest2023",
        "ref": "refA",
        "root": str(DEMO),
        "source_lang": "en",
        "target_lang": "pt",
        "files": [SOURCE, REFERENCE],
        "sha256": {
            name: hashlib.sha256((DEMO / name).read_bytes()).hexdigest()
            for name in (SOURCE, REFERENCE)
        },
        "max_samples": 3,
        "rows": 3,
    }


def test_test_set_and_reference_are_settings(tmp_path: Path) -> None:
    root = tmp_path / "wmt"
    write_lines(root / "txt/sources/generaltest2022.en-pt.src.en", ["One.", "Two."])
    write_lines(
        root / "txt/references/generaltest2022.en-pt.ref.B.pt", ["Um.", "Dois."]
    )
    frame = read_wmt_direction(root, "en", "pt", test_set="generaltest2022", ref="B")
    assert frame["id"].tolist() == ["generaltest2022-0001", "generaltest2022-0002"]
    assert set(frame["split"]) == {"generaltest2022"}
    assert frame["reference"].tolist() == ["Um.", "Dois."]


def test_crlf_bom_and_missing_final_newline(tiny_wmt: Path) -> None:
    (tiny_wmt / SOURCE).write_bytes(b"\xef\xbb\xbfHello there.\r\nA second.\r\nThird.")
    frame = read_wmt_direction(tiny_wmt, "en", "pt")
    assert frame["source"].tolist() == ["Hello there.", "A second.", "Third."]


def test_max_samples_validates_the_whole_files(tiny_wmt: Path, tmp_path: Path) -> None:
    write_lines(tiny_wmt / REFERENCE, ["Olá.", "Uma segunda linha.", " \t"])
    assert_error_and_no_output(
        tiny_wmt, tmp_path / "out" / "x.parquet", [REFERENCE], line=3, max_samples=1
    )


@pytest.mark.parametrize("max_samples", [0, -2, 1.5, True, "3"])
def test_bad_max_samples(tiny_wmt: Path, max_samples: object) -> None:
    with pytest.raises(InputError) as caught:
        read_wmt_direction(tiny_wmt, "en", "pt", max_samples=max_samples)
    assert caught.value.field == "max_samples"


def test_max_samples_above_the_size_keeps_everything(tiny_wmt: Path) -> None:
    assert len(read_wmt_direction(tiny_wmt, "en", "pt", max_samples=50)) == 3


def test_misaligned_files(tiny_wmt: Path, tmp_path: Path) -> None:
    write_lines(tiny_wmt / REFERENCE, ["Olá.", "Uma segunda linha."])
    error = assert_error_and_no_output(
        tiny_wmt,
        tmp_path / "out" / "x.parquet",
        [SOURCE, REFERENCE, "3 lines", "has 2", "not aligned"],
        line=3,
    )
    assert error.path.endswith(SOURCE)


def test_reference_longer_than_source(tiny_wmt: Path, tmp_path: Path) -> None:
    write_lines(tiny_wmt / REFERENCE, ["Um.", "Dois.", "Três.", "Quatro."])
    error = assert_error_and_no_output(
        tiny_wmt, tmp_path / "out" / "x.parquet", ["4 lines", "has 3"], line=4
    )
    assert error.path.endswith(REFERENCE)


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_empty_or_whitespace_line(tiny_wmt: Path, tmp_path: Path, blank: str) -> None:
    write_lines(tiny_wmt / SOURCE, ["Hello there.", blank, "Third."])
    error = assert_error_and_no_output(
        tiny_wmt, tmp_path / "out" / "x.parquet", [SOURCE, "empty"], line=2
    )
    assert error.path.endswith(SOURCE)


def test_empty_files(tiny_wmt: Path, tmp_path: Path) -> None:
    (tiny_wmt / SOURCE).write_bytes(b"")
    (tiny_wmt / REFERENCE).write_bytes(b"")
    assert_error_and_no_output(
        tiny_wmt, tmp_path / "out" / "x.parquet", [SOURCE, "empty file"], line=None
    )


def test_invalid_utf8(tiny_wmt: Path, tmp_path: Path) -> None:
    (tiny_wmt / REFERENCE).write_bytes(b"Ol\xc3\xa1.\nUma \xff linha.\nTerceira.\n")
    error = assert_error_and_no_output(
        tiny_wmt, tmp_path / "out" / "x.parquet", [REFERENCE, "UTF-8"], line=2
    )
    assert error.path.endswith(REFERENCE)


def test_missing_reference_lists_the_folder(tiny_wmt: Path, tmp_path: Path) -> None:
    error = assert_error_and_no_output(
        tiny_wmt,
        tmp_path / "out" / "x.parquet",
        ["generaltest2023.en-pt.ref.refB.pt", "generaltest2023.en-pt.ref.refA.pt"],
        line=None,
        ref="refB",
    )
    assert error.path.endswith("generaltest2023.en-pt.ref.refB.pt")


def test_missing_direction_and_wrong_root(tiny_wmt: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"generaltest2023\.en-uk\.src\.en"):
        read_wmt_direction(tiny_wmt, "en", "uk")
    with pytest.raises(InputError, match="txt/") as caught:
        read_wmt_direction(tiny_wmt / "txt", "en", "pt")
    assert "sources" in str(caught.value)  # lists what the wrong root holds


@pytest.mark.parametrize("code", ["EN", "english", "", None])
def test_bad_language_codes(tiny_wmt: Path, code: object) -> None:
    with pytest.raises(InputError) as caught:
        read_wmt_direction(tiny_wmt, code, "pt")
    assert caught.value.field == "source_lang"


# ---------------------------------------------------------------- benchmark


def test_benchmark_prepares_the_demo_subset(tmp_path: Path) -> None:
    benchmark = Wmt23Dataset()
    settings = {"local_dir": str(DEMO), "max_samples": 5}
    params = benchmark.data_settings(settings, "en-pt", {})
    assert params == {
        "source_lang": "en",
        "target_lang": "pt",
        "test_set": "generaltest2023",
        "ref": "refA",
        "max_samples": 5,
    }
    assert benchmark.raw_files(settings, "en-pt", {}, str(DEMO)) == {
        "source": f"{DEMO}/{SOURCE}",
        "reference": f"{DEMO}/{REFERENCE}",
    }
    output = tmp_path / "translation" / "data" / "en-pt.parquet"
    frame = benchmark.prepare(str(DEMO), output, params)
    expected = read_wmt_direction(DEMO, "en", "pt", max_samples=5)
    assert frame.equals(expected)
    assert read_parquet(output).equals(expected)


def test_benchmark_files_for_a_real_direction() -> None:
    benchmark = Wmt23Dataset()
    files = benchmark.raw_files({}, "en-uk", {}, "data/wmt23")
    assert files == {
        "source": "data/wmt23/txt/sources/generaltest2023.en-uk.src.en",
        "reference": "data/wmt23/txt/references/generaltest2023.en-uk.ref.refA.uk",
    }
    # sacrebleu scores Hebrew on refB; refs overrides ref per direction.
    settings = {"ref": "refA", "refs": {"en-he": "refB"}}
    assert benchmark.raw_files(settings, "en-he", {}, "w")["reference"] == (
        "w/txt/references/generaltest2023.en-he.ref.refB.he"
    )
    assert benchmark.data_settings(settings, "en-he", {})["ref"] == "refB"
    assert benchmark.data_settings(settings, "en-uk", {})["ref"] == "refA"
    assert benchmark.data_settings({"test_set": "x"}, "de-en", {})["test_set"] == "x"


def test_benchmark_needs_a_root(tmp_path: Path) -> None:
    benchmark = Wmt23Dataset()
    with pytest.raises(InputError, match="local_dir"):
        benchmark.raw_files({}, "en-pt", {}, None)
    with pytest.raises(InputError, match="pair"):
        benchmark.data_settings({}, "enpt", {})


def test_default_url_is_sacrebleus() -> None:
    assert WMT23_URL.startswith("https://github.com/wmt-conference/wmt23-news-systems/")
    sacrebleu_dataset = pytest.importorskip("sacrebleu.dataset")
    wmt23 = sacrebleu_dataset.DATASETS["wmt23"]
    assert wmt23.data == [WMT23_URL]
    assert wmt23.md5 == [WMT23_MD5]


def release_files(top: str) -> dict[str, bytes]:
    """The demo set in a GitHub archive of the repository, with files around it."""
    return {
        f"{top}/README.md": b"# WMT23 News Systems and Evaluations\n",
        f"{top}/{SOURCE}": (DEMO / SOURCE).read_bytes(),
        f"{top}/{REFERENCE}": (DEMO / REFERENCE).read_bytes(),
        f"{top}/xml/wmttest2023.en-pt.all.xml": b"<dataset/>\n",
    }


def test_download_from_a_local_server(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    archive = build_tar_gz(
        folder / "v.0.2.tar.gz", release_files("wmt23-news-systems-v.0.2")
    )
    checksum = hashlib.sha256(archive.read_bytes()).hexdigest()
    downloads = tmp_path / "downloads"
    root = downloads / "wmt23"
    settings = {"url": f"{base}/v.0.2.tar.gz", "sha256": checksum, "max_samples": None}

    Wmt23Dataset().download(settings, root)

    # The archive is kept beside the root; its top folder is stripped.
    assert (downloads / "wmt23.tar.gz").read_bytes() == archive.read_bytes()
    assert listing(root) == [
        "README.md",
        "txt",
        "txt/references",
        "txt/references/generaltest2023.en-pt.ref.refA.pt",
        "txt/sources",
        "txt/sources/generaltest2023.en-pt.src.en",
        "xml",
        "xml/wmttest2023.en-pt.all.xml",
    ]
    output = tmp_path / "data" / "en-pt.parquet"
    benchmark = Wmt23Dataset()
    frame = benchmark.prepare(
        str(root), output, benchmark.data_settings(settings, "en-pt", {})
    )
    assert frame.equals(read_wmt_direction(DEMO, "en", "pt"))


def test_download_without_checksum(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    build_tar_gz(folder / "a.tar.gz", release_files("wmt23-news-systems-main"))
    root = tmp_path / "downloads" / "wmt23"
    Wmt23Dataset().download({"url": f"{base}/a.tar.gz"}, root)
    assert (root / SOURCE).read_bytes() == (DEMO / SOURCE).read_bytes()


def test_checksum_mismatch_is_refused(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    build_tar_gz(folder / "v.0.1.tar.gz", release_files("wmt23-news-systems-v.0.1"))
    downloads = tmp_path / "downloads"
    url = f"{base}/v.0.1.tar.gz"
    with pytest.raises(DownloadError) as caught:
        Wmt23Dataset().download({"url": url, "sha256": "0" * 64}, downloads / "wmt23")
    assert "checksum" in str(caught.value) and url in str(caught.value)
    assert listing(downloads) == []


def test_archive_without_txt_is_refused(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    base, folder = served
    build_tar_gz(folder / "other.tar.gz", {"other-1.0/xml/a.xml": b"<a/>\n"})
    downloads = tmp_path / "downloads"
    with pytest.raises(InputError, match="no txt/ folder"):
        Wmt23Dataset().download({"url": f"{base}/other.tar.gz"}, downloads / "wmt23")
    assert listing(downloads) == ["wmt23.tar.gz"]


def test_archive_with_several_top_folders_is_refused(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    base, folder = served
    files = {f"a/{SOURCE}": b"x\n", f"b/{REFERENCE}": b"y\n"}
    build_tar_gz(folder / "two.tar.gz", files)
    downloads = tmp_path / "downloads"
    with pytest.raises(InputError, match="one top folder"):
        Wmt23Dataset().download({"url": f"{base}/two.tar.gz"}, downloads / "wmt23")
    assert listing(downloads) == ["wmt23.tar.gz"]
