"""Sample pages: the plan's pages, the payload, and a page safe to open (the browser
checks what it shows: test_sample_page_browser.py)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from sample_page_setup import HOSTILE, TABLE, build_page, demo_plan, write_inputs

from prettyflow.errors import InputError
from prettyflow.io import write_parquet
from prettyflow.sample_pages import raw_if_changed, render_page, script_json
from prettyflow.steps.samples import sample_page

FAMILY = "gemma3-270m"


@pytest.fixture
def plan(tmp_path, repo_root):
    return demo_plan(repo_root, tmp_path / "results")


def test_every_results_table_has_a_sample_page(tmp_path, repo_root):
    plan = demo_plan(repo_root, tmp_path / "results", second_sft=False)
    pages = plan.samples.pages()
    assert {
        table: (page.label, page.task, page.benchmark, page.family)
        for table, page in pages.items()
    } == {
        f"translation-flores-{FAMILY}": ("samples", "translation", "flores", FAMILY),
        f"translation-wmt23-{FAMILY}": ("samples", "translation", "wmt23", FAMILY),
        f"summarization-crosssum-{FAMILY}": ("samples", "summarization", "crosssum", FAMILY),
        f"pos-ud-{FAMILY}": ("samples", "pos", "ud", FAMILY),
        f"translation-flores-{FAMILY}-control-priors": (
            "samples (control priors)", "translation", "flores", FAMILY,
        ),
    }  # fmt: skip
    # Next to its table, named after it.
    results = tmp_path / "results"
    assert plan.samples.targets()[0] == (
        f"{results}/tables/translation-flores-{FAMILY}.samples.html"
    )
    for table in pages:
        assert f"{results}/tables/{table}.html" in (plan.targets())
    with pytest.raises(KeyError, match="no results table 'nope'"):
        plan.samples.inputs("nope")


def test_a_page_reads_the_tables_decodes_scores_and_priors(plan):
    inputs = plan.samples.inputs(TABLE)
    settings = plan.samples.settings(TABLE)
    names = [system["name"] for system in settings["systems"]]
    assert names == [
        "sft-gemma3-270m-alpaca", "sft-gemma3-270m-chat", "prompting", "base",
        "prior-sft-k2", "prior-pseudo-k1", "prior-refined-k2",
    ]  # fmt: skip
    assert settings["subsets"] == ["en-pt", "pt-en"]
    # Subsets outermost, then the table's systems.
    assert len(inputs["decodes"]) == len(inputs["scores"]) == 2 * 7
    assert inputs["decodes"][8].endswith("/pt-en/sft-gemma3-270m-chat.parquet")
    assert inputs["scores"][0].endswith(
        "/scores/flores/gemma3-270m/en-pt/sft-gemma3-270m-alpaca.parquet"
    )
    assert [path.rsplit("/", 2)[1:] for path in inputs["priors"][:3]] == [
        ["en-pt", "sft-k2.parquet"],
        ["en-pt", "pseudo-k1.parquet"],
        ["en-pt", "refined-k2.parquet"],
    ]
    # Every metric scored on the benchmark, the wrong-language rate included.
    assert settings["metrics"] == [
        "spbleu",
        "comet",
        "bleu",
        "chrf++",
        "wrong_language",
    ]
    assert settings["labels"]["wrong_language"] == "Wrong lang. %"
    assert settings["title"] == f"Samples: Table 1: translation on flores, {FAMILY}"
    control = plan.samples.settings(f"{TABLE}-control-priors")
    assert [s["prior_source"] for s in control["systems"]] == [
        None, None, "modal", "adverb", "random",
    ]  # fmt: skip
    assert len(plan.samples.inputs(f"{TABLE}-control-priors")["priors"]) == 3


def test_the_payload_has_a_row_per_sentence_and_an_entry_per_system(plan):
    _, payload = build_page(plan, 6)
    assert len(payload["rows"]) == 12
    subset, sample_id, source, reference, entries = payload["rows"][7]
    assert (subset, sample_id) == (1, "pt-en-0001")
    assert source.startswith("Source sentence 1 of pt-en")
    assert reference == f"Referência 1 {HOSTILE}"
    # Metrics without a per-sample value (spBLEU NaN, COMET absent) are left out.
    assert [m["name"] for m in payload["metrics"]] == [
        "bleu",
        "chrf++",
        "wrong_language",
    ]
    assert payload["notScored"] == ["spBLEU", "COMET"]
    assert payload["wrong"] == 2 and payload["metrics"][2]["lower"] is True
    systems = [s["name"] for s in payload["systems"]]
    assert [s["role"] for s in payload["systems"]] == [
        "sft", "sft", "other", "base", "prior", "prior", "prior",
    ]  # fmt: skip
    assert payload["base"] == systems.index("base")
    prior, raw, answer, origin, scores, detected = entries[systems.index("base")]
    assert prior == "" and origin is None and detected == "pt"
    assert scores == [21.0, 61.0, 0.0]
    # Row 1: cleaning removed a label and a second line, so the raw answer is kept.
    assert raw == f"Portuguese Translation: {answer}\nmore"
    sft_prior = entries[systems.index("prior-sft-k2")]
    assert sft_prior[0] == "O planeta" and sft_prior[2].startswith("O planeta answer 1")
    # Cut from the SFT reference's answer: the page points at its row.
    assert sft_prior[3] == {"from": "the SFT reference's answer", "sys": 0}
    pseudo = payload["rows"][0][4][systems.index("prior-pseudo-k1")]
    assert pseudo[2] == "" and pseudo[5] is None  # an empty answer, no language
    assert pseudo[3]["text"] == "brasileiro"
    assert (
        "dictionary entry Brazilian → brasileiro (MUSE, Wiktionary; rank 181)"
        in (pseudo[3]["detail"])
    )
    assert payload["rows"][0][4][systems.index("prior-refined-k2")][3] == {
        "from": "the refined model's answer",
        "text": "Na terça from upstream 0",
    }


def test_the_page_is_self_contained_and_shows_model_output_as_text(plan, tmp_path):
    path, payload = build_page(plan, 4)
    page = path.read_text(encoding="utf-8")
    # The payload is the page's only data, and reads back whole.
    data = re.search(
        r'<script type="application/json" id="sample-data">(.*?)</script>', page, re.S
    ).group(1)
    assert json.loads(data) == payload
    # Model output cannot end the script element or open a tag.
    assert page.count("</script>") == 2 and "<b>bold" not in page
    assert "\\u003cscript\\u003ewindow.pwned" in page
    # Nothing to fetch, and no path of this machine.
    assert not re.search(
        r"<(link|img|iframe|object|embed)\b|\bsrc=|@import|url\(", page
    )
    assert "http://" not in page and "https://" not in page
    assert str(tmp_path) not in page and "/results/" not in page
    # The same inputs give the same page.
    again = render_page(json.loads(data))
    assert again == page


def test_script_json_round_trips_what_would_break_a_script():
    text = "</script><!-- \u2028 \u2029 & > ' \" \\ 猫 \U0001f408"
    encoded = script_json({"t": text})
    assert not re.search(r"[<>&\u2028\u2029]", encoded)
    assert json.loads(encoded) == {"t": text}
    with pytest.raises(ValueError):
        script_json({"x": float("nan")})


def test_the_raw_answer_is_kept_only_where_cleaning_changed_more_than_blanks():
    assert raw_if_changed("O gato.\n", "O gato.") is None
    assert raw_if_changed("  O gato.", "O gato.") is None
    assert raw_if_changed("Portuguese: O gato.", "O gato.") == "Portuguese: O gato."
    assert raw_if_changed(None, "O gato.") is None


def test_bad_inputs_name_the_file(plan):
    inputs = write_inputs(plan, 3)
    settings = plan.samples.settings(TABLE)
    output = plan.paths.path("sample_page", table=TABLE)
    with pytest.raises(InputError, match="13 decode table files for 14"):
        sample_page(
            inputs["data"], inputs["decodes"][1:], inputs["scores"], inputs["priors"],
            settings, output,
        )  # fmt: skip
    broken = inputs["scores"][3]
    write_parquet(pd.DataFrame({"id": ["en-pt-0000"], "bleu": [1.0]}), broken, {})
    with pytest.raises(InputError, match="no row for ids") as error:
        sample_page(
            inputs["data"], inputs["decodes"], inputs["scores"], inputs["priors"],
            settings, output,
        )  # fmt: skip
    assert error.value.path == broken
    write_parquet(pd.DataFrame({"id": ["x"]}), inputs["decodes"][0], {})
    with pytest.raises(InputError) as error:
        sample_page(
            inputs["data"], inputs["decodes"], inputs["scores"], inputs["priors"],
            settings, output,
        )  # fmt: skip
    assert error.value.path == inputs["decodes"][0]
    import os

    assert not os.path.exists(output)  # nothing half-written


def test_a_decode_table_without_answers_is_named(plan):
    inputs = write_inputs(plan, 2)
    write_parquet(
        pd.DataFrame({"id": ["en-pt-0000", "en-pt-0001"]}), inputs["decodes"][2], {}
    )
    with pytest.raises(InputError, match="no column") as error:
        sample_page(
            inputs["data"], inputs["decodes"], inputs["scores"], inputs["priors"],
            plan.samples.settings(TABLE), plan.paths.path("sample_page", table=TABLE),
        )  # fmt: skip
    assert (error.value.path, error.value.field) == (inputs["decodes"][2], "output")


def test_a_prior_not_configured_on_a_subset_is_na_on_its_page(tmp_path, repo_root):
    plan = demo_plan(
        repo_root,
        tmp_path / "results",
        second_sft=False,
        pseudo_on={"flores": ["en-pt"]},
    )
    settings = plan.samples.settings(TABLE)
    subsets = settings["subsets"]
    absent = [(c["subset"], c["system"]) for c in settings["not_configured"]]
    assert absent == [(s, "prior-pseudo-k1") for s in subsets if s != "en-pt"]
    inputs = plan.samples.inputs(TABLE)
    # No decode, score or prior file is asked for where the prior does not apply.
    systems = len(settings["systems"])
    assert (
        len(inputs["decodes"])
        == len(inputs["scores"])
        == (len(subsets) * systems - len(absent))
    )
    pseudo = [path for path in inputs["decodes"] if "prior-pseudo-k1" in path]
    assert len(pseudo) == 1 and "/en-pt/" in pseudo[0]
    _, payload = build_page(plan, 2)
    position = [s["name"] for s in payload["systems"]].index("prior-pseudo-k1")
    for row in payload["rows"]:
        entry = row[4][position]
        subset = payload["subsets"][row[0]]["name"]
        assert (entry is None) == (subset != "en-pt")
