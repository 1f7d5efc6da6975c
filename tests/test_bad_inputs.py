"""Hostile inputs: each gives a result or an error naming the file (or key) and what was expected.

Every case builds its input in a temporary folder and calls the reader or step
a workflow job would call, outside Snakemake. An error must be an
:class:`InputError` (or :class:`ConfigError` for config values), never a bare
traceback, and no output may be left behind.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from prettyflow.config import ConfigError, validate_config
from prettyflow.data.crosssum import prepare_crosssum
from prettyflow.data.flores import prepare_flores_direction
from prettyflow.data.pos import prepare_pos
from prettyflow.data.wmt import prepare_wmt_direction
from prettyflow.dictionaries import prepare_dictionary
from prettyflow.errors import InputError
from prettyflow.io import read_json, write_parquet
from prettyflow.refined import run_refined
from prettyflow.steps.score import score

OUTPUT = "out/result.parquet"


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[[Path], object]  # gets the temporary folder
    expected: str | None  # substring of the error; None: a result is expected
    names_file: bool = True


def _write(folder: Path, name: str, content: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def crosssum(content: bytes | str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        path = _write(folder, "english-portuguese_test.jsonl", content)
        return prepare_crosssum(path, "en", "pt", folder / OUTPUT)

    return run


def flores(source: bytes | str, target: bytes | str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        _write(folder, "flores/devtest/eng.devtest", source)
        _write(folder, "flores/devtest/por.devtest", target)
        return prepare_flores_direction(
            folder / "flores", "devtest", "eng", "por", "en", "pt", folder / OUTPUT
        )

    return run


def wmt(source: bytes | str, reference: bytes | str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        _write(folder, "wmt/txt/sources/generaltest2023.en-uk.src.en", source)
        _write(
            folder, "wmt/txt/references/generaltest2023.en-uk.ref.refA.uk", reference
        )
        return prepare_wmt_direction(folder / "wmt", "en", "uk", folder / OUTPUT)

    return run


def pos(content: bytes | str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        path = _write(folder, "fr.conllu", content)
        return prepare_pos(path, "fr", folder / OUTPUT)

    return run


def dictionary(content: bytes | str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        path = _write(folder, "muse.txt", content)
        return prepare_dictionary([("muse", path)], folder / OUTPUT)

    return run


def refined(content: bytes | str, suffix: str = ".jsonl") -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        path = _write(folder, f"refined{suffix}", content)
        return run_refined(
            "file",
            "generation",
            {"path": str(path)},
            ["a", "b"],
            ["s1", "s2"],
            "en",
            "pt",
        )

    return run


def decodes(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        data = pd.DataFrame(
            {
                "id": ["s1", "s2"],
                "source": ["a", "b"],
                "reference": ["A", "B"],
                "source_lang": ["en", "en"],
                "target_lang": ["pt", "pt"],
            }
        )
        table = pd.DataFrame(
            {
                "id": ["s1", "s2"],
                "output": ["A", "B"],
                "num_new_tokens": [1, 1],
                "stopped_by": ["eos", "eos"],
            }
        )
        write_parquet(data, folder / "data.parquet")
        write_parquet(change(table), folder / "decodes.parquet", {"system": "base"})
        return score(
            folder / "data.parquet",
            folder / "decodes.parquet",
            folder / "out/samples.parquet",
            folder / "out/scores.json",
            {
                "task": "translation",
                "benchmark": "flores",
                "subset": "en-pt",
                "target_lang": "pt",
                "metrics": ["bleu"],
            },
        )

    return run


def raw_decodes(content: bytes) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        write_parquet(
            pd.DataFrame({"id": ["s1"], "source": ["a"]}), folder / "d.parquet"
        )
        path = _write(folder, "decodes.parquet", content)
        return score(
            folder / "d.parquet",
            path,
            folder / "out/s.parquet",
            folder / "out/s.json",
            {},
        )

    return run


def json_file(content: bytes | str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        return read_json(_write(folder, "demonstration.json", content))

    return run


GOOD_CROSSSUM = '{"source_url": "u1", "text": "An article.", "summary": "Um resumo."}'
CONLLU = "# sent_id = s1\n1\tLe\tle\tDET\t_\t_\t2\tdet\t_\t_\n2\tchat\tchat\tNOUN\t_\t_\t0\troot\t_\t_\n"

PROBES = [
    # --- CrossSum JSON Lines
    Probe("crosssum lone surrogate", crosssum(GOOD_CROSSSUM.replace("An", "\\ud83d")), "lone surrogate"),
    Probe("crosssum surrogate in metadata", crosssum(GOOD_CROSSSUM[:-1] + ', "title": "\\udfff"}'), "lone surrogate"),
    Probe("crosssum empty file", crosssum(""), "no samples"),
    Probe("crosssum NUL byte in text", crosssum(GOOD_CROSSSUM.replace("An", "A\\u0000n")), None),
    Probe("crosssum CRLF and BOM", crosssum("\ufeff" + GOOD_CROSSSUM + "\r\n"), None),
    Probe("crosssum non-UTF-8", crosssum(GOOD_CROSSSUM.encode() + b"\n\xff\n"), "not valid UTF-8"),
    Probe("crosssum summary is a number", crosssum(GOOD_CROSSSUM.replace('"Um resumo."', "3")), "expected a string"),
    Probe("crosssum summary NaN", crosssum(GOOD_CROSSSUM.replace('"Um resumo."', "NaN")), "expected a string"),
    Probe("crosssum array line", crosssum("[1, 2]"), "expected a JSON object"),
    Probe("crosssum repeated key", crosssum(GOOD_CROSSSUM[:-1] + ', "text": "x"}'), "key repeated"),
    Probe("crosssum deep nesting", crosssum('{"text": "a", "summary": "b", "x": ' + "[" * 50000 + "]" * 50000 + "}"), "nested too deeply"),
    Probe("crosssum huge line", crosssum('{"text": "' + "a" * 2_000_000 + '", "summary": "b"}'), None),
    Probe("crosssum directory", lambda folder: prepare_crosssum(folder, "en", "pt", folder / OUTPUT), "is a directory"),
    # --- Flores and WMT plain text
    Probe("flores empty files", flores("", ""), "empty file"),
    Probe("flores mismatched line counts", flores("a\nb\n", "a\n"), "not aligned"),
    Probe("flores NUL byte", flores("a\x00b\n", "c\n"), None),
    Probe("flores CRLF and BOM", flores("\ufeffa\r\n", "b\r\n"), None),
    Probe("flores encoded surrogate bytes", flores(b"\xed\xa0\xbd\n", "b\n"), "not valid UTF-8"),
    Probe("flores whitespace-only line", flores("a\n \n", "b\nc\n"), "whitespace-only"),
    Probe("wmt empty files", wmt("", ""), "empty file"),
    Probe("wmt latin-1 reference", wmt("a\n", b"caf\xe9\n"), "not valid UTF-8"),
    # --- POS
    Probe("pos empty file", pos(""), "no sentences"),
    Probe("pos only comments", pos("# sent_id = 1\n"), "sentence without tokens"),
    Probe("pos unknown tag", pos(CONLLU.replace("NOUN", "NOM")), "unknown tag"),
    Probe("pos CRLF", pos(CONLLU.replace("\n", "\r\n")), None),
    # --- dictionaries
    Probe("dictionary empty", dictionary(""), "no entries"),
    Probe("dictionary blank lines only", dictionary("\n \n"), "no entries"),
    Probe("dictionary three fields", dictionary("a b c\n"), "expected exactly 2 fields"),
    Probe("dictionary non-UTF-8", dictionary(b"cat gato\ndog c\xe3o\n"), "not valid UTF-8"),
    # --- refined outputs
    Probe("refined lone surrogate", refined('{"id": "s1", "output": "\\ud83d"}\n{"id": "s2", "output": "b"}\n'), "lone surrogate"),
    Probe("refined null id", refined('{"id": null, "output": "a"}\n'), "non-empty string id"),
    Probe("refined BOM before first id", refined('\ufeff{"id": "s1", "output": "a"}\n{"id": "s2", "output": "b"}\n'), None),
    Probe("refined invalid UTF-8", refined(b'{"id": "s1", "output": "\xff"}\n'), "not valid UTF-8"),
    Probe("refined null output", refined('{"id": "s1", "output": null}\n'), 'write an empty output as ""'),
    Probe("refined duplicate id", refined("s1\ta\ns1\tb\n", ".tsv"), "duplicate id 's1'"),
    Probe("refined missing ids", refined("s1\ta\n", ".tsv"), "no output for 1 id(s): 's2'"),
    Probe("refined csv file", refined("s1,a\n", ".csv"), "expected a .jsonl or .tsv file"),
    # --- decode tables and score inputs
    Probe("decode null output", decodes(lambda t: t.assign(output=[None, "B"])), None),
    Probe("decode all outputs NaN", decodes(lambda t: t.assign(output=[float("nan")] * 2)), None),
    Probe("decode without output column", decodes(lambda t: t.drop(columns=["output"])), "no column(s) output"),
    Probe("decode duplicated ids", decodes(lambda t: t.assign(id=["s1", "s1"])), "repeats id 's1'"),
    Probe("decode numeric outputs", decodes(lambda t: t.assign(output=[1.5, 2.5])), "expected a text or null"),
    Probe("decode not Parquet", raw_decodes(b"id,output\ns1,a\n"), "cannot read the decode table"),
    Probe("decode empty file", raw_decodes(b""), "cannot read the decode table"),
    # --- JSON files (demonstration, score files)
    Probe("json trailing comma", json_file('{"source": "a",}'), "not valid JSON"),
    Probe("json lone surrogate", json_file('{"source": "\\udead"}'), "lone surrogate"),
    Probe("json BOM", json_file('\ufeff{"source": "a"}'), None),
    Probe("json NUL bytes", json_file(b"\x00\x00"), "not valid JSON"),
]  # fmt: skip


@pytest.mark.parametrize("probe", PROBES, ids=[probe.name for probe in PROBES])
def test_bad_input_gives_a_result_or_a_named_error(
    tmp_path: Path, probe: Probe
) -> None:
    if probe.expected is None:
        assert probe.run(tmp_path) is not None
        return
    with pytest.raises(InputError) as caught:
        probe.run(tmp_path)
    assert probe.expected in str(caught.value)
    if probe.names_file:
        assert caught.value.path is not None, "the error must name the file"
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "english-portuguese_test.jsonl", GOOD_CROSSSUM)
    path.chmod(0)
    with pytest.raises(InputError, match="cannot read"):
        prepare_crosssum(path, "en", "pt", tmp_path / OUTPUT)


# ---------------------------------------------------------------- config values


@pytest.fixture(scope="module")
def config(repo_root: Path) -> dict:
    return yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))


def _set(*keys: object, value: object) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        target = config
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


CONFIG_PROBES = [
    ("unknown template placeholder", _set("tasks", "translation", "templates", "normal", value="{foo}"),
     "tasks.translation.templates.normal: unknown placeholder {foo}"),
    ("format spec in a template", _set("tasks", "translation", "templates", "normal", value="{source_text:d}"),
     "tasks.translation.templates.normal: placeholder {source_text:d}"),
    ("another task's placeholder", _set("tasks", "pos", "templates", "normal", value="{source_text}"),
     "tasks.pos.templates.normal: unknown placeholder {source_text}"),
    ("stray brace", _set("tasks", "translation", "templates", "normal", value="{source_text"),
     "tasks.translation.templates.normal: malformed template"),
    ("prompt-success template", _set("analysis", "prompt_success", "templates", 0, value="{words}"),
     "analysis.prompt_success.templates[0]: unknown placeholder {words}"),
    ("{lang} in a refined path", _set("tasks", "translation", "priors", "refined",
                                      value={"k": 2, "backend": "file", "options": {"path": "r/{lang}.jsonl"}}),
     "tasks.translation.priors.refined.options.path: unknown placeholder {lang}"),
    ("unknown refined option", _set("tasks", "translation", "priors", "refined", "options", value={"modle": "x"}),
     "tasks.translation.priors.refined.options.modle: not an option"),
    ("missing refined option", _set("tasks", "translation", "priors", "refined",
                                    value={"k": 2, "backend": "file", "options": {}}),
     "tasks.translation.priors.refined.options.path: the 'file' backend needs this option"),
    ("unknown refined input", _set("tasks", "summarization", "priors", "refined", "options", value={"input": "title"}),
     "tasks.summarization.priors.refined.options.input: unknown input 'title'"),
    ("k 2.0", _set("tasks", "translation", "priors", "sft", "k", value=2.0),
     "tasks.translation.priors.sft.k: 2.0 is not an integer"),
    ("k [1, 2.0]", _set("tasks", "translation", "priors", "sft", "k", value=[1, 2.0]),
     "tasks.translation.priors.sft.k[1]: 2.0 is not an integer"),
    ("k true", _set("tasks", "translation", "priors", "sft", "k", value=True),
     "tasks.translation.priors.sft.k"),
    ("control k 1.0", _set("analysis", "control_priors", "k", value=1.0),
     "analysis.control_priors.k: 1.0 is not an integer"),
    ("max_samples 0", _set("datasets", "crosssum", "max_samples", value=0),
     "datasets.crosssum.max_samples: 0 is less than the minimum of 1"),
    ("max_samples 2.0", _set("datasets", "flores", "max_samples", value=2.0),
     "datasets.flores.max_samples: 2.0 is not an integer"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"),
    [probe[1:] for probe in CONFIG_PROBES],
    ids=[probe[0] for probe in CONFIG_PROBES],
)
def test_bad_config_values_are_refused_at_start_up(config, change, expected) -> None:
    changed = copy.deepcopy(config)
    change(changed)
    with pytest.raises(ConfigError) as caught:
        validate_config(changed)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_shipped_config_passes_the_start_up_checks(config) -> None:
    validate_config(copy.deepcopy(config))


def test_probe_inputs_are_not_modified(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "refined.jsonl", '\ufeff{"id": "s1", "output": "\\ud83d"}\r\n'
    )
    before = path.read_bytes()
    with pytest.raises(InputError):
        refined(path.read_bytes())(tmp_path)
    assert path.read_bytes() == before
    assert json.loads(before.decode("utf-8-sig"))["id"] == "s1"
