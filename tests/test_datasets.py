"""The dataset registry: names, tasks, and each dataset against today's readers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from download_setup import PROXY_VARIABLES, build_tar_gz, listing, serve_folder

from prettyflow.data.crosssum import prepare_crosssum
from prettyflow.data.flores import prepare_flores_direction
from prettyflow.datasets import DATASETS, Dataset
from prettyflow.datasets.crosssum import CrossSumDataset
from prettyflow.datasets.flores import FloresDataset
from prettyflow.datasets.ud import UdDataset
from prettyflow.datasets.wmt23 import Wmt23Dataset
from prettyflow.errors import InputError, MissingResourceError
from prettyflow.io import read_parquet, read_provenance
from prettyflow.pos.data import prepare_pos

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "resources" / "demo"
LANGUAGES = {
    "en": {"name": "English", "flores": "eng"},
    "pt": {"name": "Portuguese", "flores": "por"},
    "fr": {"name": "French", "flores": "fra"},
    "uk": {"name": "Ukrainian", "flores": "ukr"},
}
# The demo's datasets section of config.yaml (POS renamed ud).
FLORES = {
    "local_dir": str(DEMO / "flores101_dataset"),
    "url": "https://dl.fbaipublicfiles.com/flores101/dataset/flores101_dataset.tar.gz",
    "sha256": None,
    "split": "devtest",
    "metadata_file": None,
    "max_samples": 16,
}
CROSSSUM = {
    "files": {"en-pt": str(DEMO / "crosssum" / "en-pt.jsonl")},
    "demonstration": str(DEMO / "crosssum" / "demonstration.json"),
    "max_samples": 4,
}
UD = {
    "files": {
        "fr": str(DEMO / "pos" / "fr_demo-ud-test.conllu"),
        "pt": str(DEMO / "pos" / "pt_demo.xglue.txt"),
    },
    "max_samples": 5,
}


def assert_same_table(new: Path, old: Path) -> None:
    assert read_parquet(new).equals(read_parquet(old))
    assert read_provenance(new) == read_provenance(old)


def test_registry_names_and_tasks() -> None:
    assert DATASETS.names() == ["flores", "wmt23", "crosssum", "ud"]
    tasks = {name: benchmark.task for name, benchmark in DATASETS.items()}
    assert tasks == {
        "flores": "translation",
        "wmt23": "translation",
        "crosssum": "summarization",
        "ud": "pos",
    }
    for name, benchmark in DATASETS.items():
        assert isinstance(benchmark, Dataset)
        assert benchmark.name == name
    assert isinstance(DATASETS.get("flores"), FloresDataset)
    assert isinstance(DATASETS.get("wmt23"), Wmt23Dataset)
    assert isinstance(DATASETS.get("crosssum"), CrossSumDataset)
    assert isinstance(DATASETS.get("ud"), UdDataset)


def test_unknown_benchmark_lists_the_registered_ones() -> None:
    with pytest.raises(InputError) as caught:
        DATASETS.get("pos")
    assert "flores, wmt23, crosssum, ud" in str(caught.value)
    assert "pos" not in DATASETS


@pytest.mark.parametrize("subset", ["en-pt", "pt-en", "fr-en"])
def test_flores_reproduces_todays_table(tmp_path: Path, subset: str) -> None:
    benchmark = DATASETS.get("flores")
    source, target = subset.split("-")
    params = benchmark.data_settings(FLORES, subset, LANGUAGES)
    assert params == {
        "split": "devtest",
        "source_code": LANGUAGES[source]["flores"],
        "target_code": LANGUAGES[target]["flores"],
        "source_lang": source,
        "target_lang": target,
        "metadata_file": None,
        "max_samples": 16,
    }
    root = FLORES["local_dir"]
    new = benchmark.prepare(root, tmp_path / "new.parquet", params)
    # Today: scripts/prepare_translation_data.py with Plan.translation_data_settings.
    old = prepare_flores_direction(
        output_path=tmp_path / "old.parquet",
        root=root,
        split="devtest",
        source_code=LANGUAGES[source]["flores"],
        target_code=LANGUAGES[target]["flores"],
        source_lang=source,
        target_lang=target,
        metadata_file=None,
        max_samples=16,
    )
    assert len(new) == 16 and new.equals(old)
    assert_same_table(tmp_path / "new.parquet", tmp_path / "old.parquet")


def test_flores_raw_files(tmp_path: Path) -> None:
    benchmark = DATASETS.get("flores")
    root = FLORES["local_dir"]
    assert benchmark.raw_files(FLORES, "en-pt", LANGUAGES, root) == {
        "source": f"{root}/devtest/eng.devtest",
        "reference": f"{root}/devtest/por.devtest",
        "metadata": f"{root}/metedata_devtest.tsv",
    }
    # A local folder without metadata: none listed (the reader does without).
    bare = tmp_path / "bare"
    settings = {**FLORES, "local_dir": str(bare)}
    assert "metadata" not in benchmark.raw_files(settings, "en-pt", LANGUAGES, bare)
    # A download: the official archive has it, so the extraction must yield it.
    downloaded = {**FLORES, "local_dir": None, "split": "dev"}
    files = benchmark.raw_files(downloaded, "en-uk", LANGUAGES, "dl/flores")
    assert files == {
        "source": "dl/flores/dev/eng.dev",
        "reference": "dl/flores/dev/ukr.dev",
        "metadata": "dl/flores/metedata_dev.tsv",
    }
    explicit = {**downloaded, "metadata_file": "meta/dev.tsv"}
    files = benchmark.raw_files(explicit, "en-uk", LANGUAGES, "dl/flores")
    assert files["metadata"] == "dl/flores/meta/dev.tsv"


def test_flores_needs_a_stem_per_language() -> None:
    benchmark = DATASETS.get("flores")
    languages = {"en": {"name": "English", "flores": "eng"}, "he": {"name": "Hebrew"}}
    with pytest.raises(InputError) as caught:
        benchmark.data_settings(FLORES, "en-he", languages)
    assert caught.value.field == "languages.he.flores"


def test_crosssum_reproduces_todays_table(tmp_path: Path) -> None:
    benchmark = DATASETS.get("crosssum")
    jsonl = CROSSSUM["files"]["en-pt"]
    assert benchmark.raw_files(CROSSSUM, "en-pt", LANGUAGES, None) == {"jsonl": jsonl}
    params = benchmark.data_settings(CROSSSUM, "en-pt", LANGUAGES)
    assert params == {
        "file": jsonl,
        "source_lang": "en",
        "target_lang": "pt",
        "max_samples": 4,
    }
    new = benchmark.prepare(None, tmp_path / "new.parquet", params)
    # Today: scripts/prepare_summarization_data.py.
    old = prepare_crosssum(
        jsonl,
        output_path=tmp_path / "old.parquet",
        source_lang="en",
        target_lang="pt",
        max_samples=4,
    )
    assert len(new) == 4 and new.equals(old)
    assert_same_table(tmp_path / "new.parquet", tmp_path / "old.parquet")


@pytest.mark.parametrize("lang", ["fr", "pt"])
def test_ud_reproduces_todays_table(tmp_path: Path, lang: str) -> None:
    benchmark = DATASETS.get("ud")
    treebank = UD["files"][lang]
    assert benchmark.raw_files(UD, lang, LANGUAGES, None) == {"treebank": treebank}
    params = benchmark.data_settings(UD, lang, LANGUAGES)
    assert params == {"file": treebank, "lang": lang, "max_samples": 5}
    new = benchmark.prepare(None, tmp_path / "new.parquet", params)
    # Today: scripts/prepare_pos_data.py with Plan.pos_data_settings.
    old = prepare_pos(
        treebank, output_path=tmp_path / "old.parquet", lang=lang, max_sentences=5
    )
    assert len(new) == 5 and new.equals(old)
    assert_same_table(tmp_path / "new.parquet", tmp_path / "old.parquet")


def test_wmt23_prepares_the_demo(tmp_path: Path) -> None:
    benchmark = DATASETS.get("wmt23")
    settings = {"local_dir": str(DEMO / "wmt23"), "max_samples": None}
    params = benchmark.data_settings(settings, "en-pt", LANGUAGES)
    frame = benchmark.prepare(settings["local_dir"], tmp_path / "t.parquet", params)
    assert len(frame) == 8
    assert frame["id"].iloc[0] == "generaltest2023-0001"


@pytest.mark.parametrize("name", ["crosssum", "ud"])
def test_subset_without_a_file(name: str) -> None:
    benchmark = DATASETS.get(name)
    settings = CROSSSUM if name == "crosssum" else UD
    with pytest.raises(InputError) as caught:
        benchmark.raw_files(settings, "de-fr" if name == "crosssum" else "de", {}, None)
    assert caught.value.field.startswith(f"datasets.{name}.files.")
    assert list(settings["files"])[0] in str(caught.value)


@pytest.mark.parametrize("name", ["crosssum", "ud"])
def test_local_only_benchmarks_cannot_download(name: str, tmp_path: Path) -> None:
    with pytest.raises(MissingResourceError, match=f"datasets.{name}"):
        DATASETS.get(name).download({}, tmp_path / name)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("name", ["flores", "wmt23"])
def test_prepare_without_a_root(name: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"datasets.{name}.local_dir"):
        DATASETS.get(name).prepare(None, tmp_path / "x.parquet", {})


def test_flores_download_from_a_local_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    served = tmp_path / "served"
    served.mkdir()
    flores = DEMO / "flores101_dataset"
    files = {
        f"flores101_dataset/{path.relative_to(flores).as_posix()}": path.read_bytes()
        for path in sorted(flores.rglob("*"))
        if path.is_file()
    }
    archive = build_tar_gz(served / "flores101_dataset.tar.gz", files)
    checksum = hashlib.sha256(archive.read_bytes()).hexdigest()
    downloads = tmp_path / "resources" / "downloads"
    root = downloads / "flores101_dataset"
    benchmark = DATASETS.get("flores")
    with serve_folder(served) as base:
        url = f"{base}/flores101_dataset.tar.gz"
        settings = {**FLORES, "local_dir": None, "url": url, "sha256": checksum}
        benchmark.download(settings, root)
        # As rules download_flores + extract_flores: archive beside the folder.
        assert (downloads / "flores101_dataset.tar.gz").is_file()
        assert listing(root) == listing(flores)
        raw = benchmark.raw_files(settings, "en-pt", LANGUAGES, str(root))
        assert sorted(raw) == ["metadata", "reference", "source"]
        assert all(Path(path).is_file() for path in raw.values())

        bad = {**settings, "sha256": "0" * 64}
        elsewhere = tmp_path / "elsewhere"
        with pytest.raises(MissingResourceError, match="checksum"):
            benchmark.download(bad, elsewhere / "flores101_dataset")
        assert listing(elsewhere) == []
    params = benchmark.data_settings(settings, "en-pt", LANGUAGES)
    frame = benchmark.prepare(str(root), tmp_path / "t.parquet", params)
    local = benchmark.prepare(FLORES["local_dir"], tmp_path / "u.parquet", params)
    assert frame.equals(local)
