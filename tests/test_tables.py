from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from prettyflow.errors import InputError
from prettyflow.tables import (
    build_table,
    header_text,
    reading_columns,
    render_latex,
    render_markdown,
    to_csv,
    to_latex,
    to_markdown,
)


def scores_from_rows(
    rows: dict[str, list[float | None]], subsets, metrics
) -> list[dict]:
    cells = [(subset, metric) for subset in subsets for metric in metrics]
    return [
        {"system": system, "subset": subset, "metric": metric, "score": value}
        for system, values in rows.items()
        for (subset, metric), value in zip(cells, values, strict=True)
    ]


# Paper, Table 1, English-centric, Llama2-7B block (spBLEU, COMET per subset).
TABLE1_SUBSETS = ["en-zh", "en-uk", "zh-en", "uk-en"]
TABLE1_METRICS = ["spbleu", "comet"]
TABLE1_ROWS = {
    "Llama2-7B-Alpaca": [13.6, 80.9, 24.0, 83.3, 23.5, 85.1, 34.4, 85.5],
    "Llama2-7B-Chat": [7.8, 67.2, 18.1, 71.0, 18.5, 81.3, 30.4, 83.3],
    "Llama2-7B PROMPTING": [5.9, 64.1, 11.0, 60.9, 24.3, 84.8, 34.2, 85.0],
    "Llama2-7B": [7.7, 72.0, 0.2, 32.4, 12.0, 74.4, 9.3, 59.2],
    "+PRETTY (SFT Prior)": [13.3, 80.0, 23.0, 83.1, 23.7, 84.9, 33.6, 85.3],
    "+PRETTY (Pseudo Prior)": [12.0, 75.7, 18.1, 74.1, 16.9, 80.3, 27.2, 78.3],
    "+PRETTY (Refined Prior)": [14.2, 80.5, 24.1, 83.8, 24.0, 84.9, 34.6, 85.6],
}
TABLE1_SFT = {
    "Llama2-7B PROMPTING": 80.4,
    "Llama2-7B": 52.5,
    "+PRETTY (SFT Prior)": 98.8,
    "+PRETTY (Pseudo Prior)": 85.4,
    "+PRETTY (Refined Prior)": 100.9,
}

# Paper, Table 3 (POS tagging, precision and F1 per language).
TABLE3_SUBSETS = ["fr", "zh", "pt", "ru", "ar"]
TABLE3_METRICS = ["precision", "f1"]
TABLE3_ROWS = {
    "Llama2-7B-Alpaca": [48.2, 42.8, 38.6, 36.3, 40.7, 35.9, 42.3, 36.7, 34.4, 30.8],
    "Llama2-7B": [45.0, 37.9, 39.8, 36.2, 39.8, 33.2, 42.5, 33.8, 36.5, 32.1],
    "+PRETTY (SFT Prior)": [54.8, 50.0, 38.0, 33.5, 49.1, 45.3, 49.7, 44.1, 35.1, 31.1],
    "+PRETTY (Refined Prior)": [
        59.3,
        54.8,
        43.0,
        38.8,
        54.5,
        50.6,
        55.3,
        49.2,
        44.0,
        39.6,
    ],
}

# Paper, Table 2, Llama2 block (ROUGE-2, ROUGE-L, LaSE); Alpaca's Ar-Ru ROUGE-2 is 0.1.
TABLE2_SUBSETS = ["en-zh", "en-hi", "uk-pt", "ar-ru"]
TABLE2_METRICS = ["rouge2", "rougeL", "lase"]
TABLE2_ROWS = {
    "Llama2-7B-Alpaca": [
        7.0,
        12.4,
        11.9,
        1.7,
        10.7,
        17.3,
        1.5,
        6.1,
        5.8,
        0.1,
        0.5,
        1.3,
    ],
    "Llama2-7B-Chat": [6.3, 11.6, 8.7, 1.5, 11.7, 27.1, 2.5, 8.3, 7.1, 0.0, 0.3, 0.2],
    "Llama2-7B": [9.3, 16.6, 29.2, 1.6, 10.2, 15.3, 0.8, 4.0, 1.9, 0.6, 4.1, 15.5],
}


def table1():
    return build_table(
        scores_from_rows(TABLE1_ROWS, TABLE1_SUBSETS, TABLE1_METRICS),
        subsets=TABLE1_SUBSETS,
        metrics=TABLE1_METRICS,
        systems=list(TABLE1_ROWS),
        reference_system="Llama2-7B-Alpaca",
        sft_systems=["Llama2-7B-Chat"],
    )


def test_table1_mean_of_cell_ratios_reproduces_paper_sft():
    table = table1()
    for system, expected in TABLE1_SFT.items():
        assert table.value(system, "%SFT") == pytest.approx(expected, abs=0.05), system
        # no reference cell is near zero, so nothing is flagged
        assert table.value(system, "%SFT (excl. flagged)") == table.value(
            system, "%SFT"
        )
    assert table.value("Llama2-7B-Alpaca", "Avg.", "spbleu") == pytest.approx(23.875)
    assert table.value("Llama2-7B-Alpaca", "Avg.", "comet") == pytest.approx(83.7)
    assert not table.markers
    row = table.systems.index("Llama2-7B-Chat")
    assert table.texts[row][-2:] == ["-", "-"]  # SFT rows show no %SFT
    assert table.texts[table.systems.index("Llama2-7B")][-2] == "52.5"


def test_table3_ratio_of_averages():
    table = build_table(
        scores_from_rows(TABLE3_ROWS, TABLE3_SUBSETS, TABLE3_METRICS),
        subsets=TABLE3_SUBSETS,
        metrics=TABLE3_METRICS,
        systems=list(TABLE3_ROWS),
        reference_system="Llama2-7B-Alpaca",
        sft_ratio="ratio_of_averages",
    )
    assert table.value("Llama2-7B-Alpaca", "Avg.", "all") == pytest.approx(38.67)
    assert table.value("Llama2-7B", "%SFT") == pytest.approx(97.4, abs=0.05)
    # The paper prints 111 and 126: 43.07 / 38.67 = 111.38 and 48.91 / 38.67 = 126.48
    # from the cells (126.4 from the rounded averages 48.9 / 38.7); both round to the
    # paper's integers.
    sft_prior = table.value("+PRETTY (SFT Prior)", "%SFT")
    refined = table.value("+PRETTY (Refined Prior)", "%SFT")
    assert sft_prior == pytest.approx(111.4, abs=0.05) and round(sft_prior) == 111
    assert refined == pytest.approx(126.5, abs=0.05) and round(refined) == 126
    assert all(column.group != "%SFT (excl. flagged)" for column in table.columns)


def test_near_zero_reference_cell_is_flagged_and_excluded_in_second_column():
    table = build_table(
        scores_from_rows(TABLE2_ROWS, TABLE2_SUBSETS, TABLE2_METRICS),
        subsets=TABLE2_SUBSETS,
        metrics=TABLE2_METRICS,
        systems=list(TABLE2_ROWS),
        reference_system="Llama2-7B-Alpaca",
        sft_systems=["Llama2-7B-Chat"],
    )
    reference = [7.0, 12.4, 11.9, 1.7, 10.7, 17.3, 1.5, 6.1, 5.8, 0.1, 0.5, 1.3]
    system = TABLE2_ROWS["Llama2-7B"]
    ratios = [100 * s / r for s, r in zip(system, reference)]
    flagged = {9, 10}  # ar-ru rouge2 (0.1) and rougeL (0.5) are below 1.0
    assert table.value("Llama2-7B", "%SFT") == pytest.approx(sum(ratios) / 12)
    kept = [r for i, r in enumerate(ratios) if i not in flagged]
    assert table.value("Llama2-7B", "%SFT (excl. flagged)") == pytest.approx(
        sum(kept) / 10
    )
    alpaca = table.systems.index("Llama2-7B-Alpaca")
    marked = {table.columns[column] for (row, column) in table.markers if row == alpaca}
    assert {(c.group, c.metric) for c in marked} == {
        ("ar-ru", "rouge2"),
        ("ar-ru", "rougeL"),
    }
    rouge2_note = next(f for f in table.footnotes if "ar-ru rouge2" in f)
    assert "0.1" in rouge2_note and "Llama2-7B 600.0%" in rouge2_note
    markdown = render_markdown(table)
    assert "0.1†" in markdown


def test_zero_reference_cell_makes_sft_undefined_but_excluded_value_defined():
    rows = {"sft": [0.0, 10.0], "base": [1.0, 5.0]}
    table = build_table(
        scores_from_rows(rows, ["a", "b"], ["m"]),
        subsets=["a", "b"],
        metrics=["m"],
        systems=["sft", "base"],
        reference_system="sft",
    )
    assert table.value("base", "%SFT") is None
    assert table.value("base", "%SFT (excl. flagged)") == pytest.approx(50.0)
    assert any("undefined" in footnote for footnote in table.footnotes)


def test_missing_cells_are_na_with_reason_and_left_out_of_every_row():
    scores = scores_from_rows(TABLE1_ROWS, TABLE1_SUBSETS, TABLE1_METRICS)
    reason = (
        "Flores-101 SentencePiece model not provided (set metrics.spbleu.spm_model)"
    )
    for entry in scores:
        if entry["metric"] == "spbleu":
            entry["score"] = None
            entry["reason"] = reason
    # One system lacks a COMET cell entirely: en-zh COMET leaves every row's average.
    scores = [
        e
        for e in scores
        if not (
            e["system"] == "Llama2-7B"
            and e["subset"] == "en-zh"
            and e["metric"] == "comet"
        )
    ]
    table = build_table(
        scores,
        TABLE1_SUBSETS,
        TABLE1_METRICS,
        list(TABLE1_ROWS),
        reference_system="Llama2-7B-Alpaca",
        sft_systems=["Llama2-7B-Chat"],
    )
    assert table.value("Llama2-7B-Alpaca", "en-zh", "spbleu") is None
    assert table.value("Llama2-7B-Alpaca", "Avg.", "spbleu") is None
    assert table.texts[0][0] == "n/a"
    # COMET average over en-uk, zh-en, uk-en only, for every row alike.
    assert table.value("Llama2-7B-Alpaca", "Avg.", "comet") == pytest.approx(
        (83.3 + 85.1 + 85.5) / 3
    )
    expected = 100 * (60.9 / 83.3 + 84.8 / 85.1 + 85.0 / 85.5) / 3
    assert table.value("Llama2-7B PROMPTING", "%SFT") == pytest.approx(expected)
    assert any(reason in footnote for footnote in table.footnotes)
    assert any(
        "en-zh comet (Llama2-7B): no score" in footnote for footnote in table.footnotes
    )
    assert any("left out" in note and "en-zh comet" in note for note in table.notes)


def test_writers_are_atomic_and_render_one_decimal(tmp_path: Path):
    table = table1()
    to_csv(table, tmp_path / "t.csv")
    to_markdown(table, tmp_path / "t.md")
    to_latex(table, tmp_path / "t.tex")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.md", "t.tex"]

    rows = list(csv.reader((tmp_path / "t.csv").open(encoding="utf-8")))
    assert rows[0][:3] == ["system", "en-zh spbleu", "en-zh comet"]
    assert rows[0][-2:] == ["%SFT", "%SFT (excl. flagged)"]
    assert (
        rows[1][0] == "Llama2-7B-Alpaca" and rows[1][1] == "13.6" and rows[1][-1] == "-"
    )
    assert rows[4][-2] == "52.5"

    latex = (tmp_path / "t.tex").read_text(encoding="utf-8")
    assert r"\toprule" in latex and r"\midrule" in latex and r"\bottomrule" in latex
    assert r"\multicolumn{2}{c}{en-zh}" in latex
    assert r"\cmidrule(lr){2-3}" in latex
    assert r"\%SFT" in latex
    assert "100.9" in latex

    markdown = (tmp_path / "t.md").read_text(encoding="utf-8")
    # Headline first in the readable view (the CSV and LaTeX keep the paper's order).
    assert markdown.startswith("| Models | %SFT | %SFT (excl. flagged) | Avg. spbleu |")
    assert "| 100.9 | 100.9 |" in markdown


def test_writer_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import prettyflow.tables as tables

    def broken(table):
        raise RuntimeError("boom")

    monkeypatch.setattr(tables, "render_latex", broken)
    with pytest.raises(RuntimeError):
        tables.to_latex(table1(), tmp_path / "t.tex")
    assert list(tmp_path.iterdir()) == []


def test_labels_rename_display_text():
    table = build_table(
        scores_from_rows(TABLE1_ROWS, TABLE1_SUBSETS, TABLE1_METRICS),
        TABLE1_SUBSETS,
        TABLE1_METRICS,
        list(TABLE1_ROWS),
        reference_system="Llama2-7B-Alpaca",
        sft_systems=["Llama2-7B-Chat"],
        labels={
            "en-zh": "En-Zh",
            "spbleu": "spBL.",
            "comet": "CoM.",
            "Llama2-7B PROMPTING": "Llama2-7B_PROMPTING",
        },
    )
    latex = render_latex(table)
    assert r"\multicolumn{2}{c}{En-Zh}" in latex and "spBL." in latex
    assert r"Llama2-7B\_PROMPTING" in latex


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"reference_system": "nobody"}, "reference_system"),
        ({"sft_ratio": "median"}, "sft_ratio"),
        (
            {"systems": ["Llama2-7B-Alpaca", "Llama2-7B", "Typo"]},
            "no scores for system 'Typo'",
        ),
        ({"sft_systems": ["nobody"]}, "sft_systems"),
    ],
)
def test_bad_arguments(change, expected):
    arguments = dict(
        scores=scores_from_rows(TABLE1_ROWS, TABLE1_SUBSETS, TABLE1_METRICS),
        subsets=TABLE1_SUBSETS,
        metrics=TABLE1_METRICS,
        systems=list(TABLE1_ROWS),
        reference_system="Llama2-7B-Alpaca",
    )
    arguments.update(change)
    with pytest.raises(InputError, match=expected):
        build_table(**arguments)


def test_duplicate_and_non_numeric_scores_name_their_line():
    scores = scores_from_rows({"a": [1.0], "b": [2.0]}, ["s"], ["m"])
    with pytest.raises(InputError) as error:
        build_table(scores + [dict(scores[0])], ["s"], ["m"], ["a", "b"], "a")
    assert error.value.line == 3
    scores[1]["score"] = "2.0"
    with pytest.raises(InputError) as error:
        build_table(scores, ["s"], ["m"], ["a", "b"], "a")
    assert error.value.line == 2 and error.value.field == "score"


def test_zero_reference_is_flagged_even_with_threshold_zero():
    rows = {"sft": [0.0, 10.0], "base": [1.0, 5.0]}
    table = build_table(
        scores_from_rows(rows, ["a", "b"], ["m"]),
        subsets=["a", "b"],
        metrics=["m"],
        systems=["sft", "base"],
        reference_system="sft",
        near_zero_threshold=0.0,
    )
    assert table.value("base", "%SFT") is None
    assert table.value("base", "%SFT (excl. flagged)") == pytest.approx(50.0)


def test_prior_accuracy_table_has_a_row_per_source_and_k(tmp_path, repo_root):
    import pandas as pd
    import yaml

    from prettyflow.io import write_parquet
    from prettyflow.plan import Plan
    from prettyflow.priors.tokens import build_prior_table
    from prettyflow.steps.tables import prior_accuracy_table

    config = yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))
    config["results_dir"] = str(tmp_path / "results")
    config["tasks"]["pos"]["priors"]["sft"]["k"] = [1, 2]
    plan = Plan(config)
    family = "gemma3-270m"
    data = tmp_path / "fr.parquet"
    write_parquet(
        pd.DataFrame(
            {
                "id": ["a", "b"],
                "tokens": [["Le", "chat"], ["Il", "dort"]],
                "tags": [["DET", "NOUN"], ["PRON", "VERB"]],
                "lang": ["fr", "fr"],
            }
        ),
        data,
        {},
    )
    first_tags = {("sft", 1): ["DET", "NOUN"], ("sft", 2): ["DET", "PRON"],
                  ("refined", 1): [None, "PRON"]}  # fmt: skip
    prior_paths = []
    for path in plan.tables.prior_tables("pos", "ud", family):
        source, k = Path(path).stem.split("-k")
        table = build_prior_table(["b", "a"], ["", ""], [[], []], source, int(k))
        table["prior_tag"] = list(reversed(first_tags[source, int(k)]))
        write_parquet(table, path, {})
        prior_paths.append(path)
    assert len(prior_paths) == 3
    outputs = [tmp_path / f"table.{ext}" for ext in ("csv", "md", "tex")]
    table = prior_accuracy_table(
        [data], prior_paths, *outputs, labels=plan.tables.prior_labels("pos")
    )
    assert table.to_dict() == {
        "Fr": {"SFT Prior, k=1": 50.0, "SFT Prior, k=2": 100.0, "Refined Prior": 50.0}
    }
    assert list(table.index) == ["SFT Prior, k=1", "SFT Prior, k=2", "Refined Prior"]
    assert "SFT Prior, k=2" in outputs[1].read_text(encoding="utf-8")


def test_intervals_render_in_csv_markdown_and_latex(tmp_path: Path):
    import dataclasses

    from prettyflow.tables import Intervals

    rows = {"sft": [10.0, 0.5], "base": [14.84, 0.2], "chat": [9.0, 0.4]}
    table = build_table(
        scores_from_rows(rows, ["en-zh", "ar-ru"], ["rouge2"]),
        subsets=["en-zh", "ar-ru"],
        metrics=["rouge2"],
        systems=["sft", "base", "chat"],
        reference_system="sft",
        sft_systems=["chat"],
        labels={"rouge2": "R2", "sft": "SFT"},
    )
    # Columns: en-zh R2, ar-ru R2 (flagged), Avg. R2, %SFT, %SFT (excl. flagged).
    assert [c.group for c in table.columns][-2:] == ["%SFT", "%SFT (excl. flagged)"]
    none = [None] * 5
    intervals = Intervals(
        low=[[9.0, 0.3, 5.0, None, None], [12.1, 0.1, 6.5, 70.0, 130.0], none],
        high=[[11.0, 0.7, 5.5, None, None], [17.3, 0.4, 8.5, 110.0, 170.0], none],
        p_values=[none, [0.001, 0.2, 0.0495, None, None], none],
        reference="sft",
        confidence=0.95,
        resamples=1000,
        seed=12345,
    )
    with_intervals = dataclasses.replace(table, intervals=intervals)

    to_csv(with_intervals, tmp_path / "t.csv")
    header, sft, base, chat = list(
        csv.reader((tmp_path / "t.csv").open(encoding="utf-8"))
    )
    assert header == [
        "system",
        *("en-zh R2", "en-zh R2 95% low", "en-zh R2 95% high", "en-zh R2 p"),
        *("ar-ru R2", "ar-ru R2 95% low", "ar-ru R2 95% high", "ar-ru R2 p"),
        *("Avg. R2", "Avg. R2 95% low", "Avg. R2 95% high", "Avg. R2 p"),
        *("%SFT", "%SFT 95% low", "%SFT 95% high"),
        *("%SFT (excl. flagged)", "%SFT (excl. flagged) 95% low"),
        "%SFT (excl. flagged) 95% high",
    ]
    assert base[1:5] == ["14.8", "12.1", "17.3", "0.0010"]
    assert base[13:] == ["94.2", "70.0", "110.0", "148.4", "130.0", "170.0"]
    assert sft[1:5] == ["10.0", "9.0", "11.0", ""]  # no p-value for the reference
    assert sft[13:16] == ["-", "", ""]
    assert chat[1:5] == ["9.0", "", "", ""]

    markdown = render_markdown(with_intervals)
    # Headline first: %SFT, %SFT (excl. flagged), Avg., then the cells.
    assert (
        "| base | 94.2 [70.0, 110.0] | 148.4 [130.0, 170.0] | 7.5* [6.5, 8.5] "
        "| 14.8* [12.1, 17.3] | 0.2 [0.1, 0.4] |" in markdown
    )
    assert "| SFT | - | - | 5.2 [5.0, 5.5] | 10.0 [9.0, 11.0] | 0.5† [0.3, 0.7] |" in (
        markdown
    )
    assert "| chat | - | - | 4.7 | 9.0 | 0.4 |" in markdown
    assert markdown.endswith(
        "95% paired-bootstrap intervals (1000 resamples, seed 12345); "
        "* p < 0.05 vs SFT.  \n"
    )
    latex = render_latex(with_intervals)
    assert (
        r"base & 14.8$^{*}$\,{\scriptsize[12.1, 17.3]} & 0.2\,{\scriptsize[0.1, 0.4]}"
        in latex
    )
    assert r"0.5$^{\dagger}$\,{\scriptsize[0.3, 0.7]}" in latex
    assert r"95\% paired-bootstrap intervals" in latex

    # Without intervals, the output is what it always was.
    assert render_markdown(table) == render_markdown(
        dataclasses.replace(with_intervals, intervals=None)
    )
    assert "[" not in render_markdown(table) and "[" not in render_latex(table)


def _score_files(folder: Path) -> list[Path]:
    from prettyflow.io import write_json

    paths = []
    for system, value in (("base", 10.0), ("sft", 20.0)):
        path = folder / f"{system}.json"
        write_json(
            {
                "system": system,
                "subset": "en-pt",
                "scores": {"bleu": {"score": value, "signature": "sig"}},
                "diagnostics": {
                    "samples": 2,
                    "empty_outputs": 0,
                    "mean_new_tokens": 3.0,
                    "stopped_by": {"eos": 2},
                },
                "provenance": {"model": {}},
            },
            path,
        )
        paths.append(path)
    return paths


RESULTS_SETTINGS = {
    "subsets": ["en-pt"],
    "metrics": ["bleu"],
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
}


def test_results_table_writes_all_four_files_or_none(tmp_path, monkeypatch):
    import prettyflow.steps.tables as table_steps
    from prettyflow.steps.tables import results_table

    scores = _score_files(tmp_path)
    out = tmp_path / "table"
    paths = [out / name for name in ("t.csv", "t.md", "t.tex", "t.html")]
    results_table(scores, RESULTS_SETTINGS, *paths[:3], html_path=paths[3])
    assert sorted(path.name for path in out.iterdir()) == sorted(p.name for p in paths)
    assert "<table>" in paths[3].read_text(encoding="utf-8")
    for path in paths:
        path.unlink()

    def failing_page(*args, **kwargs):
        raise RuntimeError("the page fails last")

    monkeypatch.setattr(table_steps, "titled_markdown_page", failing_page)
    with pytest.raises(RuntimeError):
        results_table(scores, RESULTS_SETTINGS, *paths[:3], html_path=paths[3])
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "expected", "field"),
    [
        ("[]", "expected a JSON object", None),
        ('{"system": "base"}', "missing", "subset"),
        ("{not json", "not valid JSON", None),
        ('{"system": "a", "subset": "en-pt", "scores": {}, "diagnostics": {},'
         ' "provenance": {}}', "no score for metric 'bleu'", "scores.bleu"),
    ],
)  # fmt: skip
def test_bad_score_files_name_file_and_key(tmp_path, content, expected, field):
    from prettyflow.steps.tables import results_table

    scores = _score_files(tmp_path)
    scores[0].write_text(content, encoding="utf-8")
    paths = [tmp_path / "out" / name for name in ("t.csv", "t.md", "t.tex")]
    with pytest.raises(InputError, match=re.escape(expected)) as caught:
        results_table(scores, RESULTS_SETTINGS, *paths)
    assert caught.value.path == str(scores[0]) and caught.value.field == field
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_prior_accuracy_table_outputs_are_written_together(tmp_path, monkeypatch):
    import pandas as pd

    import prettyflow.steps.tables as table_steps
    from prettyflow.io import write_parquet
    from prettyflow.priors.tokens import build_prior_table

    data = tmp_path / "fr.parquet"
    write_parquet(
        pd.DataFrame(
            {"id": ["a"], "tokens": [["Le"]], "tags": [["DET"]], "lang": ["fr"]}
        ),
        data,
    )
    prior = build_prior_table(["a"], [""], [[]], "sft", 1)
    prior["prior_tag"] = ["DET"]
    prior_path = tmp_path / "fr" / "sft-k1.parquet"
    write_parquet(prior, prior_path)
    out = tmp_path / "table4"
    paths = [out / name for name in ("t.csv", "t.md", "t.tex", "t.html")]

    def failing_write_text(text, path):
        if str(path).endswith(".tmp") or ".t.tex." in str(path):
            raise OSError("cannot write the LaTeX")
        return write_text_original(text, path)

    write_text_original = table_steps.write_text
    monkeypatch.setattr(table_steps, "write_text", failing_write_text)
    with pytest.raises(OSError):
        table_steps.prior_accuracy_table(
            [data], [prior_path], *paths[:3], html_path=paths[3]
        )
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    table_steps.prior_accuracy_table(
        [data], [prior_path], *paths[:3], html_path=paths[3]
    )
    assert all(path.exists() for path in paths)
    # A prior whose language has no data table is named, not a KeyError.
    other = tmp_path / "de" / "sft-k1.parquet"
    write_parquet(prior, other)
    with pytest.raises(InputError, match="no data table for language 'de'"):
        table_steps.prior_accuracy_table([data], [other], *paths[:3])


# ------------------------------------------------ table definitions (issue 15)

TWO_BLOCKS = [
    {"name": "English-centric", "subsets": ["en-zh", "en-uk"]},
    {"name": "Into English", "subsets": ["zh-en", "uk-en"]},
]


def table1_with_bleu(**arguments):
    """Table 1's rows with a BLEU column (chrF-like numbers) beside spBLEU and COMET."""
    scores = scores_from_rows(TABLE1_ROWS, TABLE1_SUBSETS, TABLE1_METRICS)
    scores += [
        {**entry, "metric": "bleu", "score": entry["score"] / 2}
        for entry in scores
        if entry["metric"] == "spbleu"
    ]
    return build_table(
        scores,
        subsets=TABLE1_SUBSETS,
        metrics=["spbleu", "comet", "bleu"],
        systems=list(TABLE1_ROWS),
        reference_system="Llama2-7B-Alpaca",
        sft_systems=["Llama2-7B-Chat"],
        labels={"spbleu": "spBLEU", "comet": "COMET", "bleu": "BLEU"},
        **arguments,
    )


def test_a_metric_shown_but_not_in_sft_ratio_leaves_sft_unchanged():
    table = table1_with_bleu(sft_metrics=["spbleu", "comet"])
    for system, expected in TABLE1_SFT.items():
        assert table.value(system, "%SFT") == pytest.approx(expected, abs=0.05)
    assert table.value("Llama2-7B", "Avg.", "bleu") == pytest.approx(29.2 / 8)
    everything = table1_with_bleu()  # BLEU in %SFT too: another number
    assert everything.value("Llama2-7B", "%SFT") != pytest.approx(52.5, abs=0.05)
    (definition,) = [n for n in table.notes if n.startswith("%SFT:")]
    assert definition == (
        "%SFT: the mean over the spBLEU and COMET cells of 100 x system / reference; "
        "BLEU shown, not in %SFT; reference: Llama2-7B-Alpaca."
    )
    with pytest.raises(InputError, match="'chrf' is not one of the metrics shown"):
        table1_with_bleu(sft_metrics=["spbleu", "chrf"])


def test_blocks_have_their_own_averages_and_sft():
    table = table1_with_bleu(sft_metrics=["spbleu", "comet"], blocks=TWO_BLOCKS)
    headers = [header_text(table, column) for column in table.columns]
    assert headers[:6] == [
        "en-zh spBLEU", "en-zh COMET", "en-zh BLEU", "en-uk spBLEU", "en-uk COMET",
        "en-uk BLEU",
    ]  # fmt: skip
    assert headers[6:11] == [
        "English-centric Avg. spBLEU",
        "English-centric Avg. COMET",
        "English-centric Avg. BLEU",
        "English-centric %SFT",
        "English-centric %SFT (excl. flagged)",
    ]
    assert (
        headers[11] == "zh-en spBLEU"
        and headers[-1] == "Into English %SFT (excl. flagged)"
    )
    alpaca, base = TABLE1_ROWS["Llama2-7B-Alpaca"], TABLE1_ROWS["Llama2-7B"]
    for name, first in (("English-centric", 0), ("Into English", 4)):
        ratios = [100 * base[i] / alpaca[i] for i in range(first, first + 4)]
        assert table.value("Llama2-7B", "%SFT", block=name) == pytest.approx(
            sum(ratios) / 4
        )
        assert table.value("Llama2-7B", "Avg.", "comet", block=name) == pytest.approx(
            (base[first + 1] + base[first + 3]) / 2
        )
    with pytest.raises(KeyError, match="name the block"):
        table.value("Llama2-7B", "%SFT")
    assert table.value("Llama2-7B", "en-zh", "comet") == 72.0  # a cell is unambiguous
    assert (
        "Avg. and %SFT per block: English-centric (en-zh, en-uk); Into English "
        "(zh-en, uk-en)." in table.notes
    )
    latex = render_latex(table)
    assert (
        r" & \multicolumn{11}{c}{English-centric} & \multicolumn{11}{c}{Into English}"
        in latex
    )
    assert r"\cmidrule(lr){2-12} \cmidrule(lr){13-23}" in latex
    assert "| English-centric %SFT |" in render_markdown(table)
    assert table.frame()[("Into English", "%SFT", "")]["Llama2-7B"] == table.value(
        "Llama2-7B", "%SFT", block="Into English"
    )


@pytest.mark.parametrize(
    ("blocks", "message", "field"),
    [
        ([{"name": "a", "subsets": ["en-zh", "xx-yy"]}], "'xx-yy' is not one of the subsets", "blocks[0].subsets"),
        ([{"name": "a", "subsets": ["en-zh", "en-uk"]}, {"name": "b", "subsets": ["en-uk"]}],
         "'en-uk' is already in block 'a'", "blocks[1].subsets"),
        ([{"name": "a", "subsets": ["en-zh"]}], "subsets in no block: ['en-uk', 'zh-en', 'uk-en']", "blocks"),
        ([{"name": "a", "subsets": TABLE1_SUBSETS[:2]}, {"name": "a", "subsets": TABLE1_SUBSETS[2:]}],
         "a second block named 'a'", "blocks[1]"),
    ],
)  # fmt: skip
def test_bad_blocks_name_the_block(blocks, message, field):
    with pytest.raises(InputError, match=re.escape(message)) as error:
        table1_with_bleu(blocks=blocks)
    assert error.value.field == field


def test_best_sft_reference_takes_the_highest_sft_score_of_each_cell():
    rows = {
        "sft": [10.0, 0.1, 40.0],
        "chat": [20.0, 0.0, 30.0],
        "base": [15.0, 0.6, 20.0],
    }
    subsets = ["en-zh", "ar-ru", "uk-pt"]
    arguments = dict(
        subsets=subsets,
        metrics=["rouge2"],
        systems=list(rows),
        reference_system="sft",
        sft_systems=["chat"],
    )
    scores = scores_from_rows(rows, subsets, ["rouge2"])
    best = build_table(scores, reference="best_sft", **arguments)
    expected = 100 * (15 / 20 + 0.6 / 0.1 + 20 / 40) / 3
    assert best.value("base", "%SFT") == pytest.approx(expected)
    assert best.value("base", "%SFT (excl. flagged)") == pytest.approx(
        100 * (15 / 20 + 20 / 40) / 2
    )
    assert best.reference == "the best SFT model in each cell"
    zero = build_table(
        scores_from_rows({**rows, "sft": [10.0, 0.0, 40.0]}, subsets, ["rouge2"]),
        reference="best_sft",
        **arguments,
    )
    assert zero.value("base", "%SFT") is None
    assert "%SFT is undefined (n/a) for base: the best SFT score of a cell is 0." in (
        zero.footnotes
    )
    assert best.reference_values[:4] == [20.0, 0.1, 40.0, pytest.approx(60.1 / 3)]
    # The flag marks the SFT model whose score is the reference there.
    sft = best.systems.index("sft")
    assert set(best.markers) == {(sft, 1)}
    (flag,) = [f for f in best.footnotes if f.startswith("†")]
    assert flag.startswith("† ar-ru rouge2: the best SFT model (sft) scores 0.1")
    assert (
        "reference: the best SFT model in each cell (the highest of sft and chat)."
        in best.notes[-1]
    )
    only_sft = build_table(scores, **arguments)
    assert only_sft.value("base", "%SFT") == pytest.approx(
        100 * (15 / 10 + 0.6 / 0.1 + 20 / 40) / 3
    )
    averages = build_table(
        scores, reference="best_sft", sft_ratio="ratio_of_averages", **arguments
    )
    assert averages.value("base", "%SFT") == pytest.approx(100 * 35.6 / 60.1)
    assert averages.value("base", "Avg.", "all") == pytest.approx(35.6 / 3)
    with pytest.raises(InputError, match="unknown 'best'") as error:
        build_table(scores, reference="best", **arguments)
    assert error.value.field == "reference"


def test_ratio_of_averages_over_some_metrics_shows_their_average():
    table = table1_with_bleu(
        sft_metrics=["spbleu", "comet"], sft_ratio="ratio_of_averages"
    )
    headers = [header_text(table, column) for column in table.columns]
    assert headers[-4:] == ["Avg. COMET", "Avg. BLEU", "Avg. spBLEU+COMET", "%SFT"]
    alpaca, base = TABLE1_ROWS["Llama2-7B-Alpaca"], TABLE1_ROWS["Llama2-7B"]
    assert table.value("Llama2-7B", "%SFT") == pytest.approx(
        100 * sum(base) / sum(alpaca)
    )
    assert table.value("Llama2-7B", "Avg.", "spbleu+comet") == pytest.approx(
        sum(base) / 8
    )
    assert table.notes[-1] == (
        "%SFT: 100 x the mean of the system's spBLEU and COMET cells / the mean of "
        "the reference's (Avg. spBLEU+COMET); BLEU shown, not in %SFT; reference: "
        "Llama2-7B-Alpaca."
    )
    one = table1_with_bleu(sft_metrics=["comet"], sft_ratio="ratio_of_averages")
    assert [header_text(one, c) for c in one.columns][-2:] == ["Avg. BLEU", "%SFT"]
    comet = [TABLE1_ROWS[s][1::2] for s in ("Llama2-7B", "Llama2-7B-Alpaca")]
    assert one.value("Llama2-7B", "%SFT") == pytest.approx(
        100 * sum(comet[0]) / sum(comet[1])
    )


def test_sft_is_na_when_none_of_its_metrics_is_scored_and_says_why():
    scores = scores_from_rows(TABLE1_ROWS, TABLE1_SUBSETS, TABLE1_METRICS)
    for entry in scores:
        if entry["metric"] == "comet":
            entry["score"], entry["reason"] = None, "no COMET checkpoint"
    arguments = dict(
        subsets=TABLE1_SUBSETS,
        metrics=TABLE1_METRICS,
        systems=list(TABLE1_ROWS),
        reference_system="Llama2-7B-Alpaca",
    )
    table = build_table(scores, sft_metrics=["comet"], **arguments)
    assert table.value("Llama2-7B", "%SFT") is None
    assert "%SFT is n/a: no comet cell is scored for every system." in table.footnotes
    # With spBLEU in %SFT, it is computed from the spBLEU cells.
    table = build_table(scores, **arguments)
    spbleu = [TABLE1_ROWS[s][0::2] for s in ("Llama2-7B", "Llama2-7B-Alpaca")]
    assert table.value("Llama2-7B", "%SFT") == pytest.approx(
        100 * sum(s / r for s, r in zip(*spbleu)) / 4
    )


def table1_with_wrong_language(**arguments):
    """Table 1's rows with a wrong-language rate (lower is better) per cell."""
    scores = scores_from_rows(TABLE1_ROWS, TABLE1_SUBSETS, TABLE1_METRICS)
    rates = {"Llama2-7B-Alpaca": 2.0, "Llama2-7B-Chat": 1.0, "Llama2-7B": 60.0}
    scores += [
        {**entry, "metric": "wrong_language", "score": rates.get(entry["system"], 10.0)}
        for entry in scores
        if entry["metric"] == "spbleu"
    ]
    return build_table(
        scores,
        subsets=TABLE1_SUBSETS,
        metrics=["spbleu", "wrong_language", "comet"],
        systems=list(TABLE1_ROWS),
        reference_system="Llama2-7B-Alpaca",
        sft_systems=["Llama2-7B-Chat"],
        labels={
            "spbleu": "spBLEU",
            "comet": "COMET",
            "wrong_language": "Wrong lang. %",
        },
        lower_is_better=["wrong_language"],
        **arguments,
    )


def test_a_lower_is_better_metric_is_a_column_group_of_its_own_after_sft():
    table = table1_with_wrong_language(blocks=TWO_BLOCKS)
    headers = [header_text(table, column) for column in table.columns]
    english = headers[: headers.index("zh-en spBLEU")]
    assert english == [
        "en-zh spBLEU", "en-zh COMET", "en-uk spBLEU", "en-uk COMET",
        "English-centric Avg. spBLEU", "English-centric Avg. COMET",
        "English-centric %SFT", "English-centric %SFT (excl. flagged)",
        "en-zh Wrong lang. %", "en-uk Wrong lang. %",
        "English-centric Avg. Wrong lang. %",
    ]  # fmt: skip
    # Not in %SFT by default: the paper's %SFT over spBLEU and COMET is unchanged.
    plain = table1_with_wrong_language()
    for system, expected in TABLE1_SFT.items():
        assert plain.value(system, "%SFT") == pytest.approx(expected, abs=0.05)
    assert plain.value("Llama2-7B", "Avg.", "wrong_language") == 60.0
    assert plain.value("Llama2-7B", "en-zh", "wrong_language") == 60.0
    assert "Wrong lang. %: lower is better; shown after %SFT, not in it." in plain.notes
    (definition,) = [n for n in plain.notes if n.startswith("%SFT:")]
    assert "Wrong lang." not in definition  # not listed as "shown, not in %SFT"
    markdown = render_markdown(plain)
    assert markdown.index("| %SFT (excl. flagged) |") < markdown.index(
        "| en-zh Wrong lang. % |"
    )
    with pytest.raises(InputError, match="better when lower: it cannot feed %SFT"):
        table1_with_wrong_language(sft_metrics=["spbleu", "wrong_language"])


def test_the_best_sft_model_of_a_lower_is_better_cell_is_the_lowest():
    table = table1_with_wrong_language(reference="best_sft")
    column = table.column_index("en-zh", "wrong_language")
    assert table.reference_values[column] == 1.0  # Chat's 1.0, not Alpaca's 2.0
    spbleu = table.column_index("en-zh", "spbleu")
    assert table.reference_values[spbleu] == 13.6  # the highest for spBLEU


def test_a_prior_not_configured_on_a_subset_is_na_with_its_reason(tmp_path):
    """tasks.<task>.priors.<source>.benchmarks: the row is n/a where it was not decoded."""
    from prettyflow.io import write_json
    from prettyflow.steps.tables import results_table

    scores = []
    for system, subset, value in [
        ("base", "en-pt", 10.0),
        ("sft", "en-pt", 20.0),
        ("prior-pseudo-k1", "en-pt", 15.0),
        ("base", "pt-en", 12.0),
        ("sft", "pt-en", 24.0),
    ]:
        path = tmp_path / f"{system}-{subset}.json"
        write_json(
            {
                "system": system,
                "subset": subset,
                "scores": {"bleu": {"score": value}},
                "diagnostics": {
                    "samples": 2,
                    "empty_outputs": 0,
                    "mean_new_tokens": 3.0,
                    "stopped_by": {"eos": 2},
                },
                "provenance": {"model": {}},
            },
            path,
        )
        scores.append(path)
    reason = (
        "the Pseudo Prior is not configured on this subset "
        "(tasks.translation.priors.pseudo.benchmarks)"
    )
    settings = {
        **RESULTS_SETTINGS,
        "subsets": ["en-pt", "pt-en"],
        "systems": ["sft", "base", "prior-pseudo-k1"],
        "labels": {
            "prior-pseudo-k1": "+PRETTY (Pseudo Prior)",
            "pt-en": "Pt-En",
            "bleu": "BLEU",
        },
        "not_configured": [
            {"system": "prior-pseudo-k1", "subset": "pt-en", "reason": reason}
        ],
    }
    paths = [tmp_path / "out" / name for name in ("t.csv", "t.md", "t.tex")]
    table = results_table(scores, settings, *paths)
    row = table.systems.index("prior-pseudo-k1")
    cell = table.column_index("pt-en", "bleu")
    assert table.texts[row][cell] == "n/a"
    markdown = paths[1].read_text(encoding="utf-8")
    assert f"n/a: Pt-En BLEU (+PRETTY (Pseudo Prior)): {reason}." in markdown
    # As for any missing score, every row's averages leave that subset out.
    assert "left out: Pt-En BLEU" in markdown


def test_columns_n_a_for_every_system_collapse_into_one_note():
    scores = scores_from_rows(TABLE1_ROWS, TABLE1_SUBSETS, TABLE1_METRICS)
    # COMET not computed anywhere (no checkpoint): every COMET cell is n/a.
    scores = [
        {**entry, "score": None, "reason": "COMET checkpoint not provided"}
        if entry["metric"] == "comet"
        else entry
        for entry in scores
    ]
    table = build_table(
        scores,
        subsets=TABLE1_SUBSETS,
        metrics=TABLE1_METRICS,
        systems=list(TABLE1_ROWS),
        reference_system="Llama2-7B-Alpaca",
        sft_systems=["Llama2-7B-Chat"],
    )
    shown, empty = reading_columns(table)
    assert [header_text(table, table.columns[c]) for c in empty] == [
        "en-zh comet", "en-uk comet", "zh-en comet", "uk-en comet", "Avg. comet",
    ]  # fmt: skip
    markdown = render_markdown(table)
    header = markdown.splitlines()[0]
    assert "comet" not in header and header.startswith("| Models | %SFT |")
    assert "n/a for every system" in markdown and "en-zh comet" in markdown
    assert "COMET checkpoint not provided" in markdown  # the reason stays
    assert len(shown) + len(empty) == len(table.columns)
