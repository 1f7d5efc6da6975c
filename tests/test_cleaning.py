"""Answer cleaning: the rules, their defaults per model, the gather that applies them,
and the diagnostics and provenance that record them."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
import yaml

from prettyflow.cleaning import (
    CLEANING_RULES,
    DEFAULT_CLEANING,
    AnswerContext,
    clean_answers,
    cleaning_counts,
)
from prettyflow.config import ConfigError, validate_config
from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance, write_parquet
from prettyflow.plan import Plan
from prettyflow.steps.decode import gather_decode

TRANSLATION = AnswerContext(("\n",), "Portuguese", ("Translation",))
SUMMARIZATION = AnswerContext(("\n",), "Portuguese", ("Summary",))
POS = AnswerContext(("\n\n",), "French", ())
BASE = DEFAULT_CLEANING["base"]
CHAT = DEFAULT_CLEANING["chat"]


def rule(name, text, context=TRANSLATION):
    return CLEANING_RULES.get(name)(text, context)


# ------------------------------------------------------------------ the rules


def test_strip_leading_blank_drops_blank_lines_and_spaces_before_the_text():
    assert rule("strip_leading_blank", "\n\n  O gato.\n") == "O gato.\n"
    assert rule("strip_leading_blank", " O gato.") == "O gato."
    assert rule("strip_leading_blank", "O gato.") == "O gato."
    assert rule("strip_leading_blank", "\n \n") == ""


def test_cut_at_stop_cuts_after_the_first_text_only():
    assert rule("cut_at_stop", "O gato. \nEnglish: The cat.") == "O gato."
    # An answer opening with a blank line is not cut to nothing.
    assert rule("cut_at_stop", "\nO gato.\n") == "\nO gato."
    assert rule("cut_at_stop", "O gato.") == "O gato."  # EOS or length: no stop
    assert rule("cut_at_stop", "O gato. ") == "O gato."
    assert rule("cut_at_stop", "\n\n") == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Portuguese: O gato.", "O gato."),
        ("portuguese translation:  O gato.", "O gato."),
        ("Portuguese  Translation :O gato.", "O gato."),
        ("Translation: O gato.", "O gato."),
        ("Portuguese:", ""),
        ("Portuguese:\nO gato.", "O gato."),
        (" Portuguese: O gato.", " O gato."),  # leading blanks are another rule's
        ("O gato: Portuguese: sim.", "O gato: Portuguese: sim."),  # not at the start
        ("Portuguese food is good: sim.", "Portuguese food is good: sim."),
        ("Portuguesa: O gato.", "Portuguesa: O gato."),
        ("English: The cat.", "English: The cat."),  # the source's label stays
    ],
)
def test_drop_target_label_drops_an_echoed_label(text, expected):
    assert rule("drop_target_label", text) == expected


def test_labels_follow_the_task():
    assert rule("drop_target_label", "Portuguese Summary: Chove.", SUMMARIZATION) == (
        "Chove."
    )
    assert rule("drop_target_label", "Summary: Chove.", SUMMARIZATION) == "Chove."
    # Translation's word is not summarization's.
    assert rule("drop_target_label", "Translation: x", SUMMARIZATION) == (
        "Translation: x"
    )
    assert rule("drop_target_label", "French: [1]", POS) == "[1]"


def test_a_pos_answer_is_never_cut_by_the_label_or_preamble_rules():
    answer = (
        '[{"word": "French:", "tag": "PROPN"}, {"word": "Sure", "tag": "INTJ"},\n'
        ' {"word": "translation:", "tag": "NOUN"}]'
    )
    for rules in (BASE, CHAT):
        [cleaned], [changed] = clean_answers([answer], rules, POS)
        assert cleaned == answer and changed == []
    # The POS stop (a blank line) cuts only after the array's text.
    [cleaned], _ = clean_answers([f"\n\n{answer}\n\nNote: ..."], BASE, POS)
    assert cleaned == answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sure! Here is the Portuguese translation: O gato.", "O gato."),
        ("Here's the translation of the sentence:  O gato.", "O gato."),
        ("Certainly, the translated text is: O gato.", "O gato."),
        ("Sure, here is a summary: Chove.", "Chove."),
        ("Sure, here is the translation:", ""),
        # No opener, or no word naming the answer: an answer, kept.
        ("The translation: O gato.", "The translation: O gato."),
        ("Here is the list: a, b.", "Here is the list: a, b."),
        ("Sure! O gato.", "Sure! O gato."),
    ],
)
def test_drop_chat_preamble(text, expected):
    assert rule("drop_chat_preamble", text) == expected


def test_clean_answers_records_the_rules_that_changed_each_answer():
    raw = [
        "\nPortuguese: O gato dorme.\nEnglish: ...",
        "O gato.",
        " Portuguese:\n",
        None,
    ]
    cleaned, changed_by = clean_answers(raw, BASE, TRANSLATION)
    assert cleaned == ["O gato dorme.", "O gato.", "", ""]
    assert changed_by == [
        ["strip_leading_blank", "cut_at_stop", "drop_target_label"],
        [],
        ["strip_leading_blank", "cut_at_stop", "drop_target_label"],
        [],
    ]
    assert cleaning_counts(BASE, changed_by) == {
        "strip_leading_blank": 2,
        "cut_at_stop": 2,
        "drop_target_label": 2,
    }
    # No rules: the raw output as it is.
    assert clean_answers(raw[:2], [], TRANSLATION)[0] == raw[:2]
    with pytest.raises(InputError, match="unknown cleaning rule 'strip'"):
        clean_answers(raw, ["strip"], TRANSLATION)


def test_chat_default_adds_the_preamble_rule_to_the_base_rules():
    assert set(BASE) < set(CHAT)
    assert [name for name in CHAT if name in BASE] == list(BASE)


# -------------------------------------------------------------- configuration


@pytest.fixture
def config(repo_root) -> dict:
    return yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))


def test_each_model_gets_its_roles_default_or_its_own_rules(config):
    plan = Plan(config)
    assert plan.models.cleaning_rules("gemma3-270m") == list(BASE)
    assert plan.models.cleaning_rules("gemma3-270m-alpaca") == list(CHAT)
    config["models"]["gemma3-270m"]["cleaning"] = ["cut_at_stop"]
    config["models"]["gemma3-270m-alpaca"]["cleaning"] = []
    validate_config(config)
    plan = Plan(config)
    assert plan.models.cleaning_rules("gemma3-270m") == ["cut_at_stop"]
    assert plan.models.cleaning_rules("gemma3-270m-alpaca") == []


def test_every_system_of_a_model_is_cleaned_alike(config):
    plan = Plan(config)
    family = "gemma3-270m"
    for task, benchmark, subset in plan.grid.grid():
        settings = {
            system.name: plan.decode.cleaning_settings(
                task, benchmark, family, subset, system.name
            )
            for system in plan.systems.decoded(task, benchmark, family, subset)
        }
        by_model: dict[str, dict] = {}
        for name, cleaning in settings.items():
            assert by_model.setdefault(cleaning["model"], cleaning) == cleaning, name
        assert set(by_model) == {"gemma3-270m", "gemma3-270m-alpaca"}
    base = plan.decode.cleaning_settings(
        "translation", "flores", family, "pt-en", "base"
    )
    assert base == {
        "model": "gemma3-270m",
        "rules": list(BASE),
        "stop": ["\n"],
        "target_language": "English",
        "answer_words": ["Translation"],
    }
    pos = plan.decode.cleaning_settings("pos", "ud", family, "fr", "base")
    assert (pos["stop"], pos["target_language"], pos["answer_words"]) == (
        ["\n\n"],
        "French",
        [],
    )
    summary = plan.decode.cleaning_settings(
        "summarization", "crosssum", family, "en-pt", "base"
    )
    assert summary["answer_words"] == ["Summary"]


def test_cleaning_is_not_a_decode_setting(config):
    """Changing a model's rules re-cleans its decodes; it does not decode again."""
    plan = Plan(config)
    before = plan.decode.settings(
        "translation", "flores", "gemma3-270m", "en-pt", "base"
    )
    assert before["stop_after"] == "the answer's first non-blank text"
    changed = copy.deepcopy(config)
    changed["models"]["gemma3-270m"]["cleaning"] = ["strip_leading_blank"]
    after = Plan(changed)
    assert (
        after.decode.settings("translation", "flores", "gemma3-270m", "en-pt", "base")
        == before
    )
    assert after.decode.cleaning_settings(
        "translation", "flores", "gemma3-270m", "en-pt", "base"
    ) != plan.decode.cleaning_settings(
        "translation", "flores", "gemma3-270m", "en-pt", "base"
    )


def test_an_unknown_rule_is_a_config_error_naming_the_key(config):
    config["models"]["gemma3-270m"]["cleaning"] = ["strip_leading_blank", "strip"]
    with pytest.raises(ConfigError, match=r"models\.gemma3-270m\.cleaning\.1: 'strip'"):
        validate_config(config)


# ----------------------------------------------------- gather, score and tables

CLEANING = {
    "model": "tiny",
    "rules": list(BASE),
    "stop": ["\n"],
    "target_language": "Portuguese",
    "answer_words": ["Translation"],
}


def _decode_shard(tmp_path, raw_outputs):
    ids = [f"s{number}" for number in range(len(raw_outputs))]
    data = pd.DataFrame(
        {
            "id": ids,
            "source": ["The cat sleeps."] * len(ids),
            "reference": ["O gato dorme."] * len(ids),
            "source_lang": ["en"] * len(ids),
            "target_lang": ["pt"] * len(ids),
        }
    )
    shard = pd.DataFrame(
        {
            "id": ids,
            "prompt": ["p"] * len(ids),
            "prior_text": [""] * len(ids),
            "raw_output": raw_outputs,
            "continuation": raw_outputs,
            "num_new_tokens": [4] * len(ids),
            "new_token_ids": [[1, 2]] * len(ids),
            "stopped_by": ["stop"] * len(ids),
        }
    )
    write_parquet(data, tmp_path / "data.parquet")
    write_parquet(shard, tmp_path / "0.parquet", {"step": "decode", "system": "base"})
    return tmp_path / "data.parquet", tmp_path / "0.parquet"


RAW = ["\nO gato dorme.\n", "Portuguese: O gato.\n", "Portuguese:\n", "O gato.\n"]


def test_gather_keeps_the_raw_output_beside_the_cleaned_one(tmp_path):
    data, shard = _decode_shard(tmp_path, RAW)
    out = tmp_path / "base.parquet"
    gather_decode(data, [shard], out, CLEANING, tmp_path / "gather.log")
    table = read_parquet(out)
    assert list(table.columns) == [
        "id",
        "prompt",
        "prior_text",
        "raw_output",
        "output",
        "cleaned_by",
        "continuation",
        "num_new_tokens",
        "new_token_ids",
        "stopped_by",
    ]
    assert list(table["raw_output"]) == RAW
    assert list(table["output"]) == ["O gato dorme.", "O gato.", "", "O gato."]
    assert [list(rules) for rules in table["cleaned_by"]] == [
        ["strip_leading_blank", "cut_at_stop"],
        ["cut_at_stop", "drop_target_label"],
        ["cut_at_stop", "drop_target_label"],
        ["cut_at_stop"],
    ]
    provenance = read_provenance(out)
    assert provenance["system"] == "base"
    assert provenance["cleaning"] == {**CLEANING, "rules": list(BASE)}
    assert (tmp_path / "gather.log").read_text().splitlines()[1] == (
        "cleaned with strip_leading_blank 1, cut_at_stop 4, drop_target_label 2; "
        "1 empty answer(s)"
    )


def test_gather_refuses_shards_without_a_raw_output(tmp_path):
    data, shard = _decode_shard(tmp_path, RAW)
    old = read_parquet(shard).drop(columns=["raw_output"])
    write_parquet(old, shard, {"step": "decode"})
    with pytest.raises(InputError, match="decode again") as error:
        gather_decode(data, [shard], tmp_path / "out.parquet", CLEANING)
    assert error.value.field == "raw_output"
    assert not (tmp_path / "out.parquet").exists()


def test_scores_count_what_each_rule_changed_and_tables_show_it(tmp_path):
    from prettyflow.steps.score import score
    from prettyflow.steps.tables import results_table

    data, shard = _decode_shard(tmp_path, RAW)
    decodes = tmp_path / "base.parquet"
    gather_decode(data, [shard], decodes, CLEANING)
    settings = {
        "task": "translation",
        "benchmark": "flores",
        "subset": "en-pt",
        "target_lang": "pt",
        "metrics": ["chrf++"],
        "metric_settings": {},
    }
    result = score(
        data, decodes, tmp_path / "s.parquet", tmp_path / "base.json", settings
    )
    assert result["diagnostics"]["empty_outputs"] == 1
    assert result["diagnostics"]["cleaning"] == {
        "rules": list(BASE),
        "changed": {"strip_leading_blank": 1, "cut_at_stop": 4, "drop_target_label": 2},
        "emptied": 1,
    }
    assert result["provenance"]["cleaning"]["rules"] == list(BASE)
    # The scores read the cleaned answers: s1's label is gone, s2 is empty.
    chrf = list(pd.read_parquet(tmp_path / "s.parquet")["chrf++"])
    assert chrf[1] == chrf[3] > 0 and chrf[2] == 0

    # A second system whose decode table was not cleaned (made by hand).
    plain = json.loads((tmp_path / "base.json").read_text())
    plain["system"] = "sft"
    del plain["diagnostics"]["cleaning"]
    del plain["provenance"]["cleaning"]
    (tmp_path / "sft.json").write_text(json.dumps(plain))
    paths = [tmp_path / "table" / name for name in ("t.csv", "t.md", "t.tex")]
    results_table(
        [tmp_path / "base.json", tmp_path / "sft.json"],
        {
            "subsets": ["en-pt"],
            "metrics": ["chrf++"],
            "systems": ["base", "sft"],
            "reference_system": "sft",
            "sft_systems": ["sft"],
            "sft_ratio": "ratio_of_averages",
            "reference": "sft_reference",
            "near_zero_threshold": 1.0,
            "labels": {},
            "task": "translation",
            "benchmark": "flores",
            "family": "tiny",
        },
        *paths,
    )
    markdown = paths[1].read_text(encoding="utf-8")
    assert "answers changed by cleaning rule" in markdown
    assert "strip_leading_blank: 1, cut_at_stop: 4, drop_target_label: 2" in markdown
    assert (
        "answers cleaned by `strip_leading_blank`, `cut_at_stop`, `drop_target_label`"
        in markdown
    )
