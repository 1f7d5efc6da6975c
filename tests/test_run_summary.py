"""The run summary (the report's first page): each table's %SFT with its interval,
read from the tables' CSV files, and what was run."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from test_tables import (
    TABLE1_METRICS,
    TABLE1_ROWS,
    TABLE1_SFT,
    TABLE1_SUBSETS,
    scores_from_rows,
)

from prettyflow.errors import InputError
from prettyflow.plan import Plan
from prettyflow.run_summary import config_hash, headline, summary_page, workflow_commit
from prettyflow.tables import build_table, to_csv

# Columns as prettyflow.tables.to_csv writes them for a table with intervals.
WITH_INTERVALS = (
    "System,En-Pt BLEU,En-Pt BLEU 95% low,En-Pt BLEU 95% high,En-Pt BLEU p,"
    "%SFT,%SFT 95% low,%SFT 95% high,"
    "%SFT (excl. flagged),%SFT (excl. flagged) 95% low,%SFT (excl. flagged) 95% high\n"
    "alpaca,14.8,9.3,21.8,,-,,,-,,\n"
    "+PRETTY (SFT Prior),11.6,7.0,16.0,0.02,80.1,68.3,99.5,80.1,68.3,99.5\n"
)


def test_the_headline_is_each_systems_sft_with_its_interval(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text(WITH_INTERVALS, encoding="utf-8")
    headers, rows = headline(path)
    assert headers == ["System", "%SFT"]
    assert rows == [["alpaca", "-"], ["+PRETTY (SFT Prior)", "80.1 [68.3, 99.5]"]]


def test_the_headline_of_a_table_written_by_the_tables_module(tmp_path):
    table = build_table(
        scores_from_rows(TABLE1_ROWS, TABLE1_SUBSETS, TABLE1_METRICS),
        subsets=TABLE1_SUBSETS,
        metrics=TABLE1_METRICS,
        systems=list(TABLE1_ROWS),
        reference_system="Llama2-7B-Alpaca",
        sft_systems=["Llama2-7B-Chat"],
    )
    to_csv(table, tmp_path / "table1.csv")
    headers, rows = headline(tmp_path / "table1.csv")
    assert headers[1] == "%SFT"
    sft = {row[0]: row[1] for row in rows}
    for system, value in TABLE1_SFT.items():
        assert sft[system] == f"{value:.1f}"


def test_a_csv_without_sft_is_named(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("System,BLEU\nx,1.0\n", encoding="utf-8")
    with pytest.raises(InputError, match="no %SFT column") as error:
        headline(path)
    assert error.value.path == str(path)


def test_the_config_hash_ignores_key_order():
    assert config_hash({"a": 1, "b": {"c": 2, "d": 3}}) == config_hash(
        {"b": {"d": 3, "c": 2}, "a": 1}
    )
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_the_commit_says_when_the_checkout_differs(tmp_path):
    assert workflow_commit(tmp_path).startswith("unknown")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], check=True)
    (tmp_path / "f").write_text("1")
    subprocess.run(git + ["add", "f"], check=True)
    subprocess.run(git + ["commit", "-qm", "c"], check=True)
    commit = workflow_commit(tmp_path)
    assert len(commit) == 40
    (tmp_path / "f").write_text("2")
    assert workflow_commit(tmp_path) == f"{commit}+changes"


def test_the_page_lists_every_results_table_and_what_was_run(tmp_path, repo_root):
    config = yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))
    config["results_dir"] = "results"
    plan = Plan(config)
    tables = plan.summary.tables()
    settings = plan.summary.settings()
    titles = [table["title"] for table in settings["tables"]]
    # Named as the paper names them, one per results table (Table 5 too).
    assert [title.split(":")[0] for title in titles] == [
        "Table 1", "Table 2", "Table 3", "Table 5", "Table 6",
    ]  # fmt: skip
    assert tables[0] == "results/tables/translation-flores-gemma3-270m.csv"
    assert plan.summary.target() in plan.targets()
    for path in tables:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(WITH_INTERVALS, encoding="utf-8")
    page = summary_page(
        [tmp_path / path for path in tables], settings, plan.config, repo_root
    )
    for title in titles:
        assert title in page
    assert page.count("80.1 [68.3, 99.5]") == len(tables)
    assert "LoRA trained by the workflow on resources/demo/instructions" in page
    assert config_hash(plan.config) in page
    assert str(tmp_path) not in page and str(repo_root) not in page
    with pytest.raises(InputError, match="1 table files for 5 tables"):
        summary_page(tables[:1], settings, plan.config, repo_root)
