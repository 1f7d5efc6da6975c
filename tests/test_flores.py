"""Flores-101/200 reader: real samples, Flores-200 names and the bad inputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prettyflow.data.flores import (
    FLORES101_CODES,
    prepare_flores_direction,
    read_flores_direction,
)
from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance

SAMPLE_LINES = {"dev": 997, "devtest": 100}
SAMPLE_CODES = ["eng", "zho_simpl", "ukr", "deu", "fra", "por"]
METADATA_COLUMNS = ["url", "domain", "topic", "has_image", "has_hyperlink"]


def raw_lines(path: Path) -> list[str]:
    """An independent reading: the file's lines, only the newline removed."""
    return path.read_bytes().decode("utf-8").split("\n")[:-1]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def tiny_flores(tmp_path: Path) -> Path:
    root = tmp_path / "flores101_dataset"
    write_lines(
        root / "devtest" / "eng.devtest", ["Hello there.", "A second line.", "Third."]
    )
    write_lines(
        root / "devtest" / "por.devtest", ["Olá.", "Uma segunda linha.", "Terceira."]
    )
    return root


@pytest.mark.shared_data
@pytest.mark.parametrize("split", ["dev", "devtest"])
@pytest.mark.parametrize(
    "target_code", [code for code in SAMPLE_CODES if code != "eng"]
)
def test_real_samples_read_byte_exact(
    shared_data: Path, split: str, target_code: str
) -> None:
    root = shared_data / "flores101"
    metadata_file = (
        "metedata_dev.tsv" if split == "dev" else "metedata_devtest.first100.tsv"
    )
    target_lang = {code: lang for lang, code in FLORES101_CODES.items()}[target_code]
    frame = read_flores_direction(
        root, split, "eng", target_code, "en", target_lang, metadata_file=metadata_file
    )

    expected = SAMPLE_LINES[split]
    assert len(frame) == expected
    assert list(frame.columns) == [
        "id",
        "source",
        "reference",
        "source_lang",
        "target_lang",
        "split",
        "line",
        *METADATA_COLUMNS,
    ]
    assert frame["source"].tolist() == raw_lines(root / split / f"eng.{split}")
    assert frame["reference"].tolist() == raw_lines(
        root / split / f"{target_code}.{split}"
    )
    assert frame["id"].iloc[0] == f"{split}-0001"
    assert frame["id"].iloc[-1] == f"{split}-{expected:04d}"
    assert frame["id"].is_unique
    assert frame["line"].tolist() == list(range(1, expected + 1))
    assert set(frame["source_lang"]) == {"en"} and set(frame["target_lang"]) == {
        target_lang
    }
    assert set(frame["has_image"]) <= {"yes", "no"}
    metadata_rows = raw_lines(root / metadata_file)[1:]
    assert frame["url"].tolist() == [row.split("\t")[0] for row in metadata_rows]


@pytest.mark.shared_data
def test_default_metadata_is_optional(shared_data: Path) -> None:
    root = shared_data / "flores101"
    # dev has metedata_dev.tsv; the devtest sample's metadata has another name,
    # so the default is absent and the rows come without metadata.
    with_metadata = read_flores_direction(
        root, "dev", "eng", "zho_simpl", "en", "zh", max_samples=3
    )
    without = read_flores_direction(root, "devtest", "eng", "zho_simpl", "en", "zh")
    assert "url" in with_metadata.columns and len(with_metadata) == 3
    assert with_metadata["id"].tolist() == ["dev-0001", "dev-0002", "dev-0003"]
    assert "url" not in without.columns and len(without) == 100


@pytest.mark.shared_data
def test_prepare_writes_provenance(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "flores101"
    output = tmp_path / "out" / "en-uk.parquet"
    frame = prepare_flores_direction(
        root, "dev", "eng", "ukr", "en", "uk", output, max_samples=10
    )
    stored = read_parquet(output)
    assert stored.equals(frame)
    provenance = read_provenance(output)
    assert provenance["dataset"] == "flores101"
    assert provenance["split"] == "dev"
    assert provenance["files"] == ["dev/eng.dev", "dev/ukr.dev", "metedata_dev.tsv"]
    for name in provenance["files"]:
        assert (
            provenance["sha256"][name]
            == hashlib.sha256((root / name).read_bytes()).hexdigest()
        )
    assert leftovers(output.parent) == ["en-uk.parquet"]


def test_flores200_names_without_metadata(tmp_path: Path) -> None:
    root = tmp_path / "flores200_dataset"
    write_lines(root / "devtest" / "eng_Latn.devtest", ["One.", "Two."])
    write_lines(root / "devtest" / "por_Latn.devtest", ["Um.", "Dois."])
    output = tmp_path / "en-pt.parquet"
    frame = prepare_flores_direction(
        root, "devtest", "eng_Latn", "por_Latn", "en", "pt", output
    )
    assert frame["reference"].tolist() == ["Um.", "Dois."]
    assert frame["id"].tolist() == ["devtest-0001", "devtest-0002"]
    assert read_provenance(output)["dataset"] == "flores200"


def test_text_is_kept_byte_exact(tmp_path: Path) -> None:
    root = tmp_path / "flores"
    source = ["  leading and trailing spaces  ", "tab\tinside", "e\u0301 not NFC"]
    write_lines(root / "dev" / "eng.dev", source)
    write_lines(root / "dev" / "fra.dev", ["un", "deux", "trois"])
    frame = read_flores_direction(root, "dev", "eng", "fra", "en", "fr")
    assert frame["source"].tolist() == source


def test_last_line_without_newline_counts(tmp_path: Path) -> None:
    root = tmp_path / "flores"
    (root / "dev").mkdir(parents=True)
    (root / "dev" / "eng.dev").write_bytes(b"one\ntwo")
    (root / "dev" / "fra.dev").write_bytes(b"un\ndeux\n")
    assert read_flores_direction(root, "dev", "eng", "fra", "en", "fr")[
        "source"
    ].tolist() == ["one", "two"]


def assert_error_and_no_output(
    root: Path, output: Path, names: list[str], line: int | None, **kwargs: object
) -> InputError:
    arguments = {
        "source_code": "eng",
        "target_code": "por",
        "source_lang": "en",
        "target_lang": "pt",
    }
    arguments.update(kwargs)
    with pytest.raises(InputError) as caught:
        prepare_flores_direction(root, "devtest", output_path=output, **arguments)
    message = str(caught.value)
    for name in names:
        assert name in message
    if line is not None:
        assert caught.value.line == line
        assert f":{line}:" in message
    assert not output.exists()
    assert leftovers(output.parent) == []
    return caught.value


def test_line_count_mismatch(tiny_flores: Path, tmp_path: Path) -> None:
    write_lines(tiny_flores / "devtest" / "por.devtest", ["Olá.", "Uma segunda linha."])
    error = assert_error_and_no_output(
        tiny_flores,
        tmp_path / "out" / "x.parquet",
        ["eng.devtest", "por.devtest", "3 lines", "has 2"],
        line=3,
    )
    assert error.path.endswith("eng.devtest")


def test_empty_line(tiny_flores: Path, tmp_path: Path) -> None:
    write_lines(tiny_flores / "devtest" / "por.devtest", ["Olá.", "   ", "Terceira."])
    assert_error_and_no_output(
        tiny_flores, tmp_path / "out" / "x.parquet", ["por.devtest"], line=2
    )


def test_missing_language_lists_present_files(
    tiny_flores: Path, tmp_path: Path
) -> None:
    error = assert_error_and_no_output(
        tiny_flores,
        tmp_path / "out" / "x.parquet",
        ["ukr.devtest", "eng.devtest", "por.devtest"],
        line=None,
        target_code="ukr",
        target_lang="uk",
    )
    assert error.path.endswith("ukr.devtest")


def test_missing_split_folder(tiny_flores: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no 'dev' folder"):
        read_flores_direction(tiny_flores, "dev", "eng", "por", "en", "pt")


def test_undecodable_utf8(tiny_flores: Path, tmp_path: Path) -> None:
    (tiny_flores / "devtest" / "por.devtest").write_bytes(
        b"Ol\xc3\xa1.\nUma \xff linha.\nTerceira.\n"
    )
    assert_error_and_no_output(
        tiny_flores, tmp_path / "out" / "x.parquet", ["por.devtest", "UTF-8"], line=2
    )


def test_metadata_row_count_mismatch(tiny_flores: Path, tmp_path: Path) -> None:
    header = "URL\tdomain\ttopic\thas_image\thas_hyperlink"
    write_lines(
        tiny_flores / "metedata_devtest.tsv",
        [header, "u1\twikinews\tt\tno\tyes", "u2\twikinews\tt\tno\tno"],
    )
    assert_error_and_no_output(
        tiny_flores,
        tmp_path / "out" / "x.parquet",
        ["metedata_devtest.tsv", "2 rows", "3 lines"],
        line=4,
    )


def test_metadata_bad_field_count(tiny_flores: Path, tmp_path: Path) -> None:
    header = "URL\tdomain\ttopic\thas_image\thas_hyperlink"
    rows = [
        "u1\twikinews\tt\tno\tyes",
        "u2\twikinews\tt\tno",
        "u3\twikinews\tt\tno\tno",
    ]
    write_lines(tiny_flores / "meta.tsv", [header, *rows])
    assert_error_and_no_output(
        tiny_flores,
        tmp_path / "out" / "x.parquet",
        ["meta.tsv", "expected 5"],
        line=3,
        metadata_file="meta.tsv",
    )


def test_explicit_metadata_file_must_exist(tiny_flores: Path, tmp_path: Path) -> None:
    assert_error_and_no_output(
        tiny_flores,
        tmp_path / "out" / "x.parquet",
        ["nope.tsv"],
        line=None,
        metadata_file="nope.tsv",
    )


def test_metadata_columns_snake_case(tiny_flores: Path) -> None:
    header = "URL\tDomain Name\thasImage"
    write_lines(
        tiny_flores / "metedata_devtest.tsv",
        [header, "a\tb\tyes", "c\td\tno", "e\tf\tyes"],
    )
    frame = read_flores_direction(tiny_flores, "devtest", "eng", "por", "en", "pt")
    assert list(frame.columns[-3:]) == ["url", "domain_name", "has_image"]
    assert frame["has_image"].tolist() == ["yes", "no", "yes"]


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf"])
def test_empty_language_files_are_an_error_not_an_empty_table(
    tmp_path: Path, content: bytes
) -> None:
    root = tmp_path / "flores101_dataset"
    for code in ("eng", "por"):
        path = root / "devtest" / f"{code}.devtest"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    error = assert_error_and_no_output(
        root, tmp_path / "out" / "data.parquet", ["eng.devtest", "empty file"], None
    )
    assert "sentence" in error.message


def test_a_directory_in_place_of_a_language_file(tmp_path: Path) -> None:
    root = tmp_path / "flores101_dataset"
    write_lines(root / "devtest" / "eng.devtest", ["Hello."])
    (root / "devtest" / "por.devtest").mkdir()
    assert_error_and_no_output(
        root, tmp_path / "out" / "data.parquet", ["por.devtest"], None
    )
