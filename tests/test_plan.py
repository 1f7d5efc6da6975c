"""The plan: per-job settings are canonical, so key order in config.yaml changes nothing.

Files are named by (task, benchmark, family, subset, ...) through prettyflow.paths,
prior sources may list several k, and each job's settings hold only what it
depends on (changing one prior source reruns only that source's jobs).
"""

from __future__ import annotations

import copy

import pytest
import yaml

from prettyflow.plan import Plan, canonical
from prettyflow.plan.values import PRIORITY_PRIOR, PRIORITY_UPSTREAM

FAMILY = "gemma3-270m"
SFT_REFERENCE = "sft-gemma3-270m-alpaca"


@pytest.fixture
def config(repo_root) -> dict:
    """A fresh copy of the shipped config.yaml (tests may edit it)."""
    return yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))


def test_canonical_sorts_nested_keys():
    assert list(canonical({"b": 1, "a": {"d": 2, "c": [{"f": 1, "e": 2}]}})) == [
        "a",
        "b",
    ]
    assert canonical({"b": 1, "a": {"d": 2, "c": [{"f": 1, "e": 2}]}}) == {
        "a": {"c": [{"e": 2, "f": 1}], "d": 2},
        "b": 1,
    }


def test_reordered_refined_options_give_identical_params(config):
    reordered = copy.deepcopy(config)
    options = {"b_option": 1, "a_option": 2}
    config["tasks"]["translation"]["priors"]["refined"]["options"] = options
    reordered["tasks"]["translation"]["priors"]["refined"]["options"] = dict(
        reversed(list(options.items()))
    )
    first = Plan(config).priors.refined_settings("translation", "flores", "en-pt")
    second = Plan(reordered).priors.refined_settings("translation", "flores", "en-pt")
    assert repr(first) == repr(second)


def test_systems_follow_the_paper_order(config):
    plan = Plan(config)
    names = [
        system.name for system in plan.systems.main("translation", "flores", FAMILY)
    ]
    assert names == [
        SFT_REFERENCE,
        "prompting",
        "base",
        "prior-sft-k2",
        "prior-pseudo-k1",
        "prior-refined-k2",
    ]
    assert [s.name for s in plan.systems.main("pos", "ud", FAMILY)][
        -1
    ] == "prior-refined-k1"
    labels = {
        system.name: plan.systems.label("translation", system)
        for system in plan.systems.main("translation", "flores", FAMILY)
    }
    assert labels == {
        SFT_REFERENCE: "gemma3-270m-alpaca",
        "prompting": "gemma3-270m (Prompting)",
        "base": "gemma3-270m",
        "prior-sft-k2": "+PRETTY (SFT Prior)",
        "prior-pseudo-k1": "+PRETTY (Pseudo Prior)",
        "prior-refined-k2": "+PRETTY (Refined Prior)",
    }


def test_sft_reference_decodes_are_scheduled_before_other_decodes(config):
    config["models"]["other-sft"] = dict(config["models"]["gemma3-270m"])
    config["families"][FAMILY]["sft"].append("other-sft")
    plan = Plan(config)
    priorities = {
        system.name: plan.decode.priority(FAMILY, system.name)
        for system in plan.systems.main("translation", "flores", FAMILY)
    }
    # Only the reference feeds the SFT priors; the other SFT model waits like the rest.
    assert priorities.pop(SFT_REFERENCE) == PRIORITY_UPSTREAM
    assert set(priorities.values()) == {0}
    assert PRIORITY_UPSTREAM > PRIORITY_PRIOR > 0


# --------------------------------------------------------------------- the grid


def test_grid_follows_the_task_and_benchmark_config(config):
    plan = Plan(config)
    assert plan.grid.grid() == [
        ("translation", "flores", "en-pt"),
        ("translation", "flores", "pt-en"),
        ("translation", "wmt23", "en-pt"),
        ("summarization", "crosssum", "en-pt"),
        ("pos", "ud", "fr"),
    ]
    assert plan.grid.metrics("translation", "wmt23") == [
        "bleu",
        "comet",
        "wrong_language",
    ]
    assert plan.grid.prior_sources("pos") == [
        "sft",
        "refined",
    ]  # POS has no pseudo prior


def test_a_benchmark_of_another_task_is_refused(config):
    plan = Plan(config)
    with pytest.raises(ValueError, match="'crosssum' is for summarization"):
        plan.data.settings("translation", "crosssum", "en-pt")


# ------------------------------------------------------------------ several k


def test_several_k_per_source_give_a_prior_file_and_a_system_per_k(config):
    config["tasks"]["translation"]["priors"]["sft"]["k"] = [1, 2]
    plan = Plan(config)
    systems = plan.systems.main("translation", "flores", FAMILY)
    assert [s.name for s in systems] == [
        SFT_REFERENCE,
        "prompting",
        "base",
        "prior-sft-k1",
        "prior-sft-k2",
        "prior-pseudo-k1",
        "prior-refined-k2",
    ]
    by_name = {s.name: s for s in systems}
    assert (by_name["prior-sft-k1"].prior_source, by_name["prior-sft-k1"].k) == (
        "sft",
        1,
    )
    assert by_name["prior-sft-k2"].k == 2
    # Labels say k only where a source has several.
    labels = {s.name: plan.systems.label("translation", s) for s in systems}
    assert labels["prior-sft-k1"] == "+PRETTY (SFT Prior, k=1)"
    assert labels["prior-sft-k2"] == "+PRETTY (SFT Prior, k=2)"
    assert labels["prior-pseudo-k1"] == "+PRETTY (Pseudo Prior)"
    table_labels = plan.tables.settings("translation", "flores", FAMILY)["labels"]
    assert table_labels["prior-sft-k1"] == "+PRETTY (SFT Prior, k=1)"
    assert plan.tables.prior_labels("translation") == {
        "sft-k1": "SFT Prior, k=1",
        "sft-k2": "SFT Prior, k=2",
        "pseudo-k1": "Pseudo Prior",
        "refined-k2": "Refined Prior",
    }

    # Two prior files of the SFT source per subset, one per k.
    prior_dir = f"results/translation/priors/flores/{FAMILY}/en-pt"
    tables = plan.tables.prior_tables("translation", "flores", FAMILY)
    assert [t for t in tables if t.startswith(prior_dir + "/")] == [
        f"{prior_dir}/sft-k1.parquet",
        f"{prior_dir}/sft-k2.parquet",
        f"{prior_dir}/pseudo-k1.parquet",
        f"{prior_dir}/refined-k2.parquet",
    ]
    assert len(tables) == 2 * 4  # flores has two subsets

    # Each system decodes with its own prior file and k.
    for k in (1, 2):
        system = f"prior-sft-k{k}"
        inputs = plan.decode.inputs("translation", "flores", FAMILY, "en-pt", system)
        assert inputs["prior"] == f"{prior_dir}/sft-k{k}.parquet"
        settings = plan.decode.settings(
            "translation", "flores", FAMILY, "en-pt", system
        )
        assert (settings["prior_source"], settings["k"]) == ("sft", k)
        prior = plan.priors.settings(
            "translation", "flores", FAMILY, "en-pt", "sft", str(k)
        )
        assert prior["k"] == k and prior["source"] == "sft"
    assert plan.decode.inputs("translation", "flores", FAMILY, "en-pt", "base") == {
        "model": plan.models.inputs("gemma3-270m")
    }
    # A k that is not configured is not a job.
    with pytest.raises(ValueError, match=r"no system uses the sft prior with k=3"):
        plan.priors.settings("translation", "flores", FAMILY, "en-pt", "sft", 3)
    score_jsons = plan.tables.files("score_corpus", "translation", "flores", FAMILY)
    assert (
        f"results/translation/scores/flores/{FAMILY}/en-pt/prior-sft-k1.json"
        in score_jsons
    )
    assert "prior-sft-k1" in plan.systems.all_names()


def test_a_single_k_may_be_a_one_item_list(config):
    as_int = Plan(copy.deepcopy(config))
    config["tasks"]["translation"]["priors"]["sft"]["k"] = [2]
    as_list = Plan(config)
    assert as_list.systems.main("translation", "flores", FAMILY) == (
        as_int.systems.main("translation", "flores", FAMILY)
    )
    assert as_list.tables.settings("translation", "flores", FAMILY) == (
        as_int.tables.settings("translation", "flores", FAMILY)
    )


# ------------------------------------------------------- one subset, two benchmarks


def test_the_same_subset_on_two_benchmarks_has_its_own_files(config):
    plan = Plan(config)
    assert "en-pt" in plan.grid.subsets("translation", "flores")
    assert "en-pt" in plan.grid.subsets("translation", "wmt23")
    system = "prior-sft-k2"

    def files(benchmark: str) -> list[str]:
        where = ("translation", benchmark)
        return [
            plan.grid.data_path(*where, "en-pt"),
            plan.paths.path("refined", task="translation", benchmark=benchmark,
                            subset="en-pt"),
            plan.paths.path("prior", task="translation", benchmark=benchmark,
                            family=FAMILY, subset="en-pt", source="sft", k=2),
            plan.paths.path("decode", task="translation", benchmark=benchmark,
                            family=FAMILY, subset="en-pt", system=system),
            plan.paths.path("score_corpus", task="translation", benchmark=benchmark,
                            family=FAMILY, subset="en-pt", system=system),
            plan.decode.inputs(*where, FAMILY, "en-pt", system)["prior"],
            plan.score.inputs(*where, FAMILY, "en-pt", system)["comet"],
            plan.priors.inputs(*where, FAMILY, "en-pt", "sft")["upstream"],
            plan.priors.inputs(*where, FAMILY, "en-pt", "refined")["upstream"],
        ]  # fmt: skip

    flores, wmt23 = files("flores"), files("wmt23")
    assert flores[:5] == [
        "results/translation/data/flores/en-pt.parquet",
        "results/translation/refined/flores/en-pt.parquet",
        f"results/translation/priors/flores/{FAMILY}/en-pt/sft-k2.parquet",
        f"results/translation/decode/flores/{FAMILY}/en-pt/{system}.parquet",
        f"results/translation/scores/flores/{FAMILY}/en-pt/{system}.json",
    ]
    assert [path.replace("/flores/", "/wmt23/") for path in flores] == wmt23
    assert not set(flores) & set(wmt23)
    # The tables are per benchmark too.
    assert not set(
        plan.tables.files("score_corpus", "translation", "flores", FAMILY)
    ) & set(plan.tables.files("score_corpus", "translation", "wmt23", FAMILY))
    table_targets = plan.tables.targets()
    for benchmark in ("flores", "wmt23"):
        assert f"results/tables/translation-{benchmark}-{FAMILY}.md" in table_targets
    # The data of each comes from its own benchmark's files.
    assert plan.data.inputs("translation", "flores", "en-pt") != plan.data.inputs(
        "translation", "wmt23", "en-pt"
    )
    assert plan.score.settings("translation", "wmt23", "en-pt")["metrics"] == [
        "bleu",
        "comet",
        "wrong_language",
    ]
    assert plan.priors.refined_settings("translation", "wmt23", "en-pt")[
        "benchmark"
    ] == ("wmt23")


# ---------------------------------------------------------------- prior inputs


def test_prior_inputs_of_each_source(config):
    plan = Plan(config)
    where = (FAMILY, "en-pt")
    # sft: the SFT reference model's decode of the same benchmark and subset.
    assert plan.priors.inputs("translation", "wmt23", *where, "sft") == {
        "upstream": f"results/translation/decode/wmt23/{FAMILY}/en-pt/"
        f"{SFT_REFERENCE}.parquet"
    }
    # refined: the smaller task model's outputs (not per family).
    assert plan.priors.inputs("translation", "flores", *where, "refined") == {
        "upstream": "results/translation/refined/flores/en-pt.parquet"
    }
    # pseudo: the pair's merged dictionary; summarization adds its KeyBERT keywords.
    assert plan.priors.inputs("translation", "flores", *where, "pseudo") == {
        "dictionary": "results/dictionaries/en-pt.parquet"
    }
    assert plan.priors.inputs("summarization", "crosssum", *where, "pseudo") == {
        "dictionary": "results/dictionaries/en-pt.parquet",
        "keywords": "results/summarization/keywords/crosssum/en-pt.parquet",
    }
    assert plan.priors.inputs("pos", "ud", FAMILY, "fr", "sft") == {
        "upstream": f"results/pos/decode/ud/{FAMILY}/fr/{SFT_REFERENCE}.parquet"
    }
    assert plan.priors.inputs("pos", "ud", FAMILY, "fr", "refined") == {
        "upstream": "results/pos/refined/ud/fr.parquet"
    }
    # The SFT upstream is the decode of the family's reference SFT model.
    config["models"]["other-sft"] = dict(config["models"]["gemma3-270m"])
    config["families"][FAMILY]["sft"].append("other-sft")
    config["families"][FAMILY]["sft_reference"] = "other-sft"
    assert Plan(config).priors.inputs("translation", "flores", *where, "sft") == {
        "upstream": f"results/translation/decode/flores/{FAMILY}/en-pt/"
        "sft-other-sft.parquet"
    }


def test_prior_settings_name_the_source_language_and_the_foundation_tokenizer(config):
    plan = Plan(config)
    settings = plan.priors.settings(
        "translation", "flores", FAMILY, "pt-en", "pseudo", 1
    )
    assert settings == {
        "task": "translation",
        "source": "pseudo",
        "k": 1,
        "source_lang": "pt",
        "tokenizer": plan.models.settings("gemma3-270m"),
    }
    pos = plan.priors.settings("pos", "ud", FAMILY, "fr", "refined", "1")
    assert pos["source_lang"] == "fr" and pos["k"] == 1


def test_refined_settings_and_local_inputs(config, tmp_path):
    plan = Plan(config)
    assert plan.priors.refined_settings("pos", "ud", "fr") == {
        "task": "pos",
        "benchmark": "ud",
        "subset": "fr",
        "backend": "spacy",
        "options": {"model": "{subset}_core_news_sm"},
        "source_lang": "fr",
        "target_lang": "fr",
        "languages": {"fr": "French"},
    }
    # A spaCy pipeline name is no local file: no input.
    assert plan.priors.refined_inputs("pos", "ud", "fr") == []
    model = tmp_path / "nllb-wmt23"
    model.mkdir()
    config["tasks"]["translation"]["priors"]["refined"] = {
        "k": 2,
        "backend": "hf_seq2seq",
        "options": {"model": str(tmp_path / "nllb-{benchmark}")},
    }
    plan = Plan(config)
    assert plan.priors.refined_inputs("translation", "wmt23", "en-pt") == [str(model)]
    assert (
        plan.priors.refined_inputs("translation", "flores", "en-pt") == []
    )  # a hub id
    config["tasks"]["translation"]["priors"]["refined"] = {
        "k": 2,
        "backend": "file",
        "options": {"path": "refined/{benchmark}/{subset}.jsonl"},
    }
    assert Plan(config).priors.refined_inputs("translation", "flores", "pt-en") == [
        "refined/flores/pt-en.jsonl"
    ]


# -------------------------------------------------------------- incremental rerun


def job_settings(plan: Plan) -> dict[tuple, str]:
    """What Snakemake compares between runs (params, inputs), per job, as text.

    Keys are ``(name, *arguments)``: a name for the plan method the rules call.
    """
    jobs: dict[tuple, str] = {}

    def record(name: str, method, *arguments) -> None:
        jobs[(name, *arguments)] = repr(method(*arguments))

    grid = plan.grid
    for task, benchmark, subset in grid.grid():
        record("data_settings", plan.data.settings, task, benchmark, subset)
        record("data_inputs", plan.data.inputs, task, benchmark, subset)
        record("score_settings", plan.score.settings, task, benchmark, subset)
        if "refined" in grid.prior_sources(task, benchmark, subset):
            at = (task, benchmark, subset)
            record("refined_settings", plan.priors.refined_settings, *at)
            record("refined_inputs", plan.priors.refined_inputs, *at)
        for family in grid.families():
            at = (task, benchmark, family, subset)
            for system in plan.systems.decoded(task, benchmark, family, subset):
                record("decode_settings", plan.decode.settings, *at, system.name)
                record("decode_inputs", plan.decode.inputs, *at, system.name)
                record("score_inputs", plan.score.inputs, *at, system.name)
                if system.prior_source:
                    prior = (system.prior_source, system.k)
                    record("prior_settings", plan.priors.settings, *at, *prior)
                    jobs[("prior_inputs", *at, *prior)] = repr(
                        plan.priors.inputs(*at, system.prior_source)
                    )
    for task in grid.tasks:
        if "pseudo" in grid.prior_sources(task):
            record("keyword_settings", plan.priors.keyword_settings, task)
        for benchmark in grid.benchmarks(task):
            for family in grid.families():
                record("table_settings", plan.tables.settings, task, benchmark, family)
        record("prior_labels", plan.tables.prior_labels, task)
    analyses = {
        "control_priors": "table_settings",
        "prior_tokens": "figure_settings",
        "prompt_success": "table_settings",
        "decision_space": "job_settings",
    }
    for name, method in analyses.items():
        analysis = plan.analysis(name)
        for run in analysis.runs():
            for family in grid.families():
                key = getattr(run, "source", None)
                arguments = (run.task, run.benchmark, family, key)
                if name == "decision_space":
                    arguments = (family,)
                elif key is None:
                    arguments = arguments[:3]
                record(f"{name}.{method}", getattr(analysis, method), *arguments)
    for model in plan.config["models"]:
        record("model_settings", plan.models.settings, model)
    record("comet_settings", plan.score.comet_settings)
    return jobs


def changed_jobs(before: dict, after: dict) -> set[tuple]:
    return {
        key for key in before.keys() | after.keys() if before.get(key) != after.get(key)
    }


def is_refined_translation_job(key: tuple) -> bool:
    """A job of the translation refined source: its model, prior, decode or score."""
    if key[1] != "translation":
        return False
    if key[0] in ("refined_settings", "refined_inputs"):
        return True
    if key[0] in ("prior_settings", "prior_inputs"):
        return key[5] == "refined"
    if key[0] in ("decode_settings", "decode_inputs", "score_inputs"):
        return key[5] == "prior-refined-k2"
    return False


def test_changing_refined_options_reruns_only_the_refined_system(config):
    refined = {
        "k": 2,
        "backend": "hf_seq2seq",
        "options": {
            "model": "facebook/nllb-200-distilled-600M",
            "language_codes": {"en": "eng_Latn", "pt": "por_Latn"},
        },
    }
    config["tasks"]["translation"]["priors"]["refined"] = refined
    before = job_settings(Plan(config))
    changed = copy.deepcopy(config)
    changed["tasks"]["translation"]["priors"]["refined"]["options"]["num_beams"] = 4
    after = job_settings(Plan(changed))
    assert before.keys() == after.keys()
    differences = changed_jobs(before, after)
    assert differences  # the refined model reruns ...
    assert {
        key for key in differences if key[0] == "refined_settings"
    } == {  # ... for every translation benchmark and subset
        ("refined_settings", task, benchmark, subset)
        for task, benchmark, subset in Plan(config).grid.grid()
        if task == "translation"
    }
    # ... and nothing outside the refined source of translation changes.
    assert all(is_refined_translation_job(key) for key in differences), sorted(
        key for key in differences if not is_refined_translation_job(key)
    )
    # Summarization's refined model (same backend name elsewhere) is untouched.
    assert not [key for key in differences if key[1] == "summarization"]

    # Reordering the options' keys changes nothing at all.
    reordered = copy.deepcopy(config)
    options = reordered["tasks"]["translation"]["priors"]["refined"]["options"]
    reordered["tasks"]["translation"]["priors"]["refined"]["options"] = dict(
        reversed(list(options.items()))
    )
    assert job_settings(Plan(reordered)) == before


def test_adding_a_k_keeps_every_existing_job(config):
    before = job_settings(Plan(config))
    config["tasks"]["translation"]["priors"]["sft"]["k"] = [2, 1]
    after = job_settings(Plan(config))
    differences = changed_jobs(before, after)
    new = {key for key in differences if key not in before}
    assert new and all(
        ("sft", 1) == key[5:7] or key[-1] == "prior-sft-k1" for key in new
    )
    assert before.keys() <= after.keys()
    # Existing jobs keep their settings; only the tables (row labels: "k=2") and
    # the prior-accuracy labels change.
    assert {key[0] for key in differences - new} <= {"table_settings", "prior_labels"}


def test_a_trained_model_is_its_base_plus_the_adapter_the_workflow_trains(config):
    plan = Plan(config)
    settings = plan.models.settings("gemma3-270m-alpaca")
    base = plan.models.settings("gemma3-270m")
    adapter = plan.paths.path("adapter", model="gemma3-270m-alpaca")
    assert settings["local_dir"] == base["local_dir"]
    assert settings["name"] == "gemma3-270m-alpaca"
    assert settings["adapter"] == adapter
    # Prompted in the training's (Alpaca) format, written beside the adapter.
    assert settings["chat_template"].startswith(adapter + "/")
    # The adapter is a DAG input of every job that loads the model.
    assert plan.models.inputs("gemma3-270m-alpaca") == [
        *plan.models.inputs("gemma3-270m"),
        adapter,
    ]
    assert plan.models.trained() == ["gemma3-270m-alpaca"]
    inputs = plan.decode.inputs("translation", "flores", FAMILY, "en-pt", SFT_REFERENCE)
    assert adapter in inputs["model"]


def test_training_settings_are_the_train_jobs_params_only(config):
    plan = Plan(config)
    before = plan.models.train_settings("gemma3-270m-alpaca")
    assert before["training"]["lora_rank"] == 16
    assert before["base"] == plan.models.settings("gemma3-270m")
    changed = copy.deepcopy(config)
    changed["models"]["gemma3-270m-alpaca"]["train"]["settings"]["lora_rank"] = 8
    after = Plan(changed)
    assert after.models.train_settings("gemma3-270m-alpaca") != before
    # Everything downstream reruns through the adapter (an input), not its params.
    assert after.decode.settings(
        "translation", "flores", FAMILY, "en-pt", SFT_REFERENCE
    ) == plan.decode.settings("translation", "flores", FAMILY, "en-pt", SFT_REFERENCE)


def test_decision_space_runs_compare_the_foundation_with_the_sft_reference(config):
    plan = Plan(config)
    decision_space = plan.analysis("decision_space")
    assert [(run.task, run.benchmark) for run in decision_space.runs()] == [
        ("translation", "flores"),
        ("translation", "wmt23"),
    ]
    assert plan.analysis("decision_space").targets() == [
        plan.paths.path(
            "decision_space_figures",
            task="translation",
            benchmark=benchmark,
            family=FAMILY,
        )
        for benchmark in ("flores", "wmt23")
    ]
    inputs = plan.analysis("decision_space").inputs(
        "translation", "flores", FAMILY, "pt-en"
    )
    assert inputs["decodes"] == plan.paths.path(
        "decode",
        task="translation",
        benchmark="flores",
        family=FAMILY,
        subset="pt-en",
        system=SFT_REFERENCE,
    )
    settings = plan.analysis("decision_space").job_settings(FAMILY)
    assert settings["foundation"]["name"] == "gemma3-270m"
    assert settings["sft"]["name"] == "gemma3-270m-alpaca"
    assert (
        len(plan.analysis("decision_space").tables("translation", "flores", FAMILY))
        == 2
    )
    # A run on a benchmark the config does not use plans nothing.
    config["analysis"]["decision_space"]["runs"].append(
        {"task": "summarization", "benchmark": "flores"}
    )
    assert len(Plan(config).analysis("decision_space").runs()) == 2


# ------------------------------------------------------------------- analyses


def test_analyses_add_their_systems_only_where_they_run(config):
    plan = Plan(config)
    main = [s.name for s in plan.systems.main("translation", "flores", FAMILY)]
    en_pt = [
        s.name for s in plan.systems.decoded("translation", "flores", FAMILY, "en-pt")
    ]
    pt_en = [
        s.name for s in plan.systems.decoded("translation", "flores", FAMILY, "pt-en")
    ]
    # The main table's systems first, then Figure 5's k, Table 5's controls (en-pt
    # only in the shipped config) and Table 8's prompt-success system.
    assert en_pt[: len(main)] == main
    assert en_pt[len(main) :] == [
        "prior-refined-k1",
        "prior-refined-k3",
        "prior-refined-k4",
        "prior-refined-k5",
        "prior-modal-k1",
        "prior-adverb-k1",
        "prior-random-k1",
        "prompt-success",
    ]
    assert "prior-modal-k1" not in pt_en and "prompt-success" in pt_en
    # WMT23 has no analysis: its systems are the main table's.
    assert [
        s.name for s in plan.systems.decoded("translation", "wmt23", FAMILY)
    ] == main
    # The main table does not grow; Table 5 is the foundation beside its controls.
    settings = plan.tables.settings("translation", "flores", FAMILY)
    assert settings["systems"] == main
    control = plan.analysis("control_priors").table_settings(
        "translation", "flores", FAMILY
    )
    assert control["systems"] == [
        SFT_REFERENCE,
        "base",
        "prior-modal-k1",
        "prior-adverb-k1",
        "prior-random-k1",
    ]
    assert control["subsets"] == ["en-pt"]
    assert control["metrics"] == config["analysis"]["control_priors"]["metrics"]
    assert control["bootstrap"] == {
        "resamples": 1000,
        "seed": 12345,
        "confidence": 0.95,
    }


def test_control_prior_jobs_get_their_word_list_and_seed(config):
    plan = Plan(config)
    at = ("translation", "flores", FAMILY, "en-pt")
    settings = plan.priors.settings(*at, "modal", 1)
    assert settings["target_lang"] == "pt" and settings["seed"] == 0
    words = config["analysis"]["control_priors"]["sources"]["modal"]["words"]
    assert settings["options"] == {"words": words}
    # The word list is an input, so editing it reruns that source's jobs.
    assert plan.priors.inputs(*at, "modal") == {"word_list": words["pt"]}
    with pytest.raises(ValueError, match="no system uses the modal prior"):
        plan.priors.settings("translation", "flores", FAMILY, "pt-en", "modal", 1)


def test_changing_a_control_word_list_reruns_only_that_source(config):
    before = job_settings(Plan(config))
    config["analysis"]["control_priors"]["sources"]["adverb"]["words"]["pt"] = [
        "ontem",
        "hoje",
    ]
    differences = changed_jobs(before, job_settings(Plan(config)))
    assert differences == {
        ("prior_settings", "translation", "flores", FAMILY, "en-pt", "adverb", 1),
        ("prior_inputs", "translation", "flores", FAMILY, "en-pt", "adverb", 1),
    }


def test_prompt_success_decodes_one_drawn_template_per_sentence(config):
    plan = Plan(config)
    settings = plan.decode.settings(
        "translation", "flores", FAMILY, "pt-en", "prompt-success"
    )
    templates = config["analysis"]["prompt_success"]["templates"]
    assert len(templates) == 10
    assert settings["templates"] == templates and "template" not in settings
    assert settings["template_seed"] == 0 and settings["model"]["name"] == "gemma3-270m"
    inputs = plan.analysis("prompt_success").inputs("translation", "flores", FAMILY)
    assert inputs["decodes"] == [
        plan.paths.path(
            "decode",
            task="translation",
            benchmark="flores",
            family=FAMILY,
            subset=subset,
            system="prompt-success",
        )
        for subset in ("en-pt", "pt-en")
    ]


def test_analysis_targets_name_tables_5_and_8_and_figure_5(config):
    targets = Plan(config).targets()
    assert f"results/tables/translation-flores-{FAMILY}-control-priors.tex" in targets
    assert f"results/tables/translation-flores-{FAMILY}-prompt-success.csv" in targets
    assert (
        f"results/figures/prior-tokens/translation-flores-{FAMILY}-refined.png"
        in targets
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["analysis"]["control_priors"].update(metrics=["rouge2"]),
            "'rouge2' is not scored on flores",
        ),
        (
            lambda c: c["analysis"]["prior_tokens"]["runs"][0].update(source="modal"),
            "'modal' is configured neither",
        ),
        (
            lambda c: c["analysis"]["control_priors"]["runs"].append(
                {"task": "pos", "benchmark": "ud"}
            ),
            "pos answers do not start with a word",
        ),
        (
            lambda c: c["analysis"]["control_priors"]["sources"].update(sft={}),
            "sources.sft: unknown key",
        ),
    ],
)
def test_analysis_config_errors_name_the_key(config, edit, message):
    from prettyflow.config import ConfigError, validate_config

    if "modal" in str(message):
        del config["analysis"]["control_priors"]["sources"]["modal"]
    edit(config)
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


# ------------------------------------------------------------------ tables


def test_each_benchmark_defines_its_table(config):
    plan = Plan(config)
    flores = plan.tables.settings("translation", "flores", FAMILY)
    # Scored: spBLEU, COMET, BLEU, chrF++ and the wrong-language rate, all shown;
    # %SFT over BLEU and chrF++.
    assert flores["metrics"] == ["spbleu", "comet", "bleu", "chrf++", "wrong_language"]
    assert flores["sft_metrics"] == ["bleu", "chrf++"]
    assert (flores["sft_ratio"], flores["reference"]) == (
        "mean_of_cell_ratios",
        "sft_reference",
    )
    assert flores["blocks"] is None and flores["near_zero_threshold"] == 1.0
    # WMT23 (Table 6) has its own formula; CrossSum (Table 2) its own reference.
    wmt23 = plan.tables.settings("translation", "wmt23", FAMILY)
    assert wmt23["sft_ratio"] == "ratio_of_averages"
    # %SFT by default over the shown metrics where higher is better.
    assert wmt23["metrics"] == ["bleu", "comet", "wrong_language"]
    assert wmt23["sft_metrics"] == ["bleu", "comet"]
    assert plan.tables.settings("summarization", "crosssum", FAMILY)["reference"] == (
        "best_sft"
    )
    # Table 5: its own metrics; %SFT over those the benchmark's %SFT uses.
    control = plan.analysis("control_priors").table_settings(
        "translation", "flores", FAMILY
    )
    assert control["metrics"] == ["spbleu", "comet", "bleu"]
    assert control["sft_metrics"] == ["bleu"] and control["blocks"] is None
    # Defaults: every scored metric shown, those where higher is better in %SFT.
    del config["tasks"]["translation"]["benchmarks"]["flores"]["table"]
    default = Plan(config).tables.settings("translation", "flores", FAMILY)
    assert default["metrics"] == flores["metrics"]
    assert default["sft_metrics"] == ["spbleu", "comet", "bleu", "chrf++"]
    assert (default["sft_ratio"], default["reference"], default["blocks"]) == (
        "mean_of_cell_ratios",
        "sft_reference",
        None,
    )


def test_table_defaults_are_the_schemas_and_the_builders():
    """The plan passes the schema's defaults; build_table, a library function,
    has the same ones for callers outside the workflow."""
    import inspect

    from prettyflow.config import load_schema
    from prettyflow.tables import build_table

    table = load_schema()["$defs"]["table"]["properties"]
    builder = inspect.signature(build_table).parameters
    defaults = {
        key: value["default"] for key, value in table.items() if "default" in value
    }
    # The name only titles the table (plan.values.DEFAULT_TABLE_NAME when null).
    assert defaults.pop("name") is None
    assert set(defaults) == {"sft_ratio", "reference", "near_zero_threshold"}
    for key, value in defaults.items():
        assert builder[key].default == value, key


def test_paper_plan_states_tables_1_2_3_and_6(repo_root):
    paper = yaml.safe_load(
        (repo_root / "configs" / "paper.yaml").read_text(encoding="utf-8")
    )
    plan = Plan(paper)
    table1 = plan.tables.settings("translation", "flores", "llama2")
    assert table1["metrics"] == ["spbleu", "comet", "wrong_language"]
    assert table1["sft_metrics"] == ["spbleu", "comet"]
    assert table1["blocks"] == [
        {"name": "English-centric", "subsets": ["en-zh", "en-uk", "zh-en", "uk-en"]},
        {
            "name": "Non-English-centric",
            "subsets": ["de-fr", "fr-de", "zh-pt", "pt-zh"],
        },
    ]
    assert (table1["sft_ratio"], table1["reference"]) == (
        "mean_of_cell_ratios",
        "sft_reference",
    )
    table2 = plan.tables.settings("summarization", "crosssum", "llama2")
    assert (table2["sft_ratio"], table2["reference"]) == (
        "mean_of_cell_ratios",
        "best_sft",
    )
    table3 = plan.tables.settings("pos", "ud", "llama2")
    assert (table3["sft_ratio"], table3["reference"]) == (
        "ratio_of_averages",
        "sft_reference",
    )
    table6 = plan.tables.settings("translation", "wmt23", "llama2")
    assert table6["sft_metrics"] == ["bleu", "comet"]
    assert table6["sft_ratio"] == "ratio_of_averages"
    # Table 5 shows BLEU beside spBLEU and COMET; its %SFT is Table 1's metrics.
    table5 = plan.analysis("control_priors").table_settings(
        "translation", "flores", "llama2"
    )
    assert table5["metrics"] == ["spbleu", "comet", "bleu"]
    assert table5["sft_metrics"] == ["spbleu", "comet"]


def _flores_table(config: dict) -> dict:
    return config["tasks"]["translation"]["benchmarks"]["flores"]["table"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: _flores_table(c).update(metrics=["bleu", "rouge2"]),
            "tasks.translation.benchmarks.flores.table.metrics: 'rouge2' is not "
            "scored (tasks.translation.benchmarks.flores.metrics: ['spbleu', 'comet', "
            "'bleu', 'chrf++', 'wrong_language'])",
        ),
        (
            lambda c: _flores_table(c).update(metrics=["bleu"], sft_metrics=["chrf++"]),
            "tasks.translation.benchmarks.flores.table.sft_metrics: 'chrf++' is not "
            "shown in the table (tasks.translation.benchmarks.flores.table.metrics: "
            "['bleu'])",
        ),
        (
            lambda c: _flores_table(c).update(sft_metrics=["bleu", "wrong_language"]),
            "tasks.translation.benchmarks.flores.table.sft_metrics: 'wrong_language' "
            "is better when lower: it is shown apart, not in %SFT",
        ),
        (
            lambda c: c["tasks"]["translation"]["benchmarks"]["flores"].update(
                table={"metrics": ["wrong_language"]}
            ),
            "tasks.translation.benchmarks.flores.table.metrics: no shown metric can "
            "feed %SFT (lower is better for each of ['wrong_language'])",
        ),
        (
            lambda c: _flores_table(c).update(
                blocks=[{"name": "A", "subsets": ["en-pt", "en-zh"]}]
            ),
            "tasks.translation.benchmarks.flores.table.blocks[0].subsets: 'en-zh' is "
            "not a subset of the benchmark",
        ),
        (
            lambda c: _flores_table(c).update(
                blocks=[
                    {"name": "A", "subsets": ["en-pt"]},
                    {"name": "B", "subsets": ["pt-en", "en-pt"]},
                ]
            ),
            r"table.blocks\[1\].subsets: 'en-pt' is already in block 'A'",
        ),
        (
            lambda c: _flores_table(c).update(
                blocks=[{"name": "A", "subsets": ["en-pt"]}]
            ),
            r"table.blocks: subsets in no block: \['pt-en'\]",
        ),
        (
            lambda c: _flores_table(c).update(
                blocks=[
                    {"name": "A", "subsets": ["en-pt"]},
                    {"name": "A", "subsets": ["pt-en"]},
                ]
            ),
            r"table.blocks\[1\].name: a second block named 'A'",
        ),
        (
            lambda c: _flores_table(c).update(reference="best"),
            "tasks.translation.benchmarks.flores.table.reference: 'best' is not one of",
        ),
        (
            lambda c: _flores_table(c).update(sft_ratio="median"),
            "table.sft_ratio: 'median' is not one of",
        ),
        (
            lambda c: _flores_table(c).update(sft_metrics=["chrf++"]),
            "analysis.control_priors.metrics: none feeds %SFT on flores",
        ),
        (
            lambda c: c["tasks"]["pos"].update(
                table={"sft_ratio": "ratio_of_averages"}
            ),
            "tasks.pos.table: tables are defined per benchmark: move it to "
            "tasks.pos.benchmarks.<benchmark>.table",
        ),
    ],
)
def test_table_config_errors_name_the_key(config, edit, message):
    from prettyflow.config import ConfigError, validate_config

    edit(config)
    with pytest.raises(
        ConfigError, match=message if "\\" in message else None
    ) as error:
        validate_config(config)
    if "\\" not in message:
        assert message in str(error.value)


# ------------------------------------------------- priors on chosen benchmarks


def _scope_pseudo(config: dict, scope: dict) -> dict:
    config["tasks"]["translation"]["priors"]["pseudo"]["benchmarks"] = scope
    return config


def test_a_prior_applies_only_to_the_benchmarks_and_subsets_it_names(config):
    before = job_settings(Plan(copy.deepcopy(config)))
    # The pseudo prior on Flores en-pt only: WMT23 and Flores pt-en have none.
    plan = Plan(_scope_pseudo(config, {"flores": ["en-pt"]}))
    flores = [s.name for s in plan.systems.main("translation", "flores", FAMILY)]
    wmt23 = [s.name for s in plan.systems.main("translation", "wmt23", FAMILY)]
    assert "prior-pseudo-k1" in flores and "prior-pseudo-k1" not in wmt23
    assert wmt23 == [name for name in flores if name != "prior-pseudo-k1"]
    assert plan.grid.prior_sources("translation", "flores", "pt-en") == [
        "sft",
        "refined",
    ]

    def decoded(benchmark, subset):
        systems = plan.systems.decoded("translation", benchmark, FAMILY, subset)
        return [s.name for s in systems]

    assert "prior-pseudo-k1" in decoded("flores", "en-pt")
    assert "prior-pseudo-k1" not in decoded("flores", "pt-en")
    assert "prior-pseudo-k1" not in decoded("wmt23", "en-pt")
    with pytest.raises(ValueError, match="no system uses the pseudo prior"):
        plan.priors.settings("translation", "flores", FAMILY, "pt-en", "pseudo", 1)

    # Flores' table keeps the row: n/a on pt-en, which it reads no score file for.
    files = plan.tables.files("score_corpus", "translation", "flores", FAMILY)
    assert any("/en-pt/prior-pseudo-k1." in path for path in files)
    assert not any("/pt-en/prior-pseudo-k1." in path for path in files)
    table = plan.tables.settings("translation", "flores", FAMILY)
    assert "prior-pseudo-k1" in table["systems"]
    assert table["not_configured"] == [
        {
            "system": "prior-pseudo-k1",
            "subset": "pt-en",
            "reason": "the Pseudo Prior is not configured on this subset "
            "(tasks.translation.priors.pseudo.benchmarks)",
        }
    ]
    assert "not_configured" not in plan.tables.settings("translation", "wmt23", FAMILY)

    # Every other job is as it was: only the pseudo prior's jobs where it no longer
    # applies are gone, and the two translation tables changed.
    after = job_settings(plan)
    assert after.keys() <= before.keys()
    gone = before.keys() - after.keys()
    assert gone and all("pseudo" in key or "prior-pseudo-k1" in key for key in gone), (
        sorted(gone)
    )
    assert not [
        key for key in gone if key[1:3] == ("translation", "flores") and "en-pt" in key
    ]
    assert {key for key in changed_jobs(before, after) if key in after} == {
        ("table_settings", "translation", "flores", FAMILY),
        ("table_settings", "translation", "wmt23", FAMILY),
    }


def test_all_and_every_benchmark_named_is_the_default(config):
    default = job_settings(Plan(copy.deepcopy(config)))
    scoped = _scope_pseudo(config, {"flores": "all", "wmt23": ["en-pt"]})
    assert job_settings(Plan(scoped)) == default


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        (
            {"flores": ["en-he"]},
            "tasks.translation.priors.pseudo.benchmarks.flores: 'en-he' is not a "
            "subset of flores (tasks.translation.benchmarks.flores.subsets: "
            "['en-pt', 'pt-en'])",
        ),
        (
            {"crosssum": "all"},
            "tasks.translation.priors.pseudo.benchmarks.crosssum: 'crosssum' is not "
            "configured under tasks.translation.benchmarks (configured: flores, wmt23)",
        ),
        ({"flores": "every"}, "tasks.translation.priors.pseudo.benchmarks.flores"),
        ({}, "tasks.translation.priors.pseudo.benchmarks"),
        ({"nllb": "all"}, "tasks.translation.priors.pseudo.benchmarks"),
    ],
)
def test_a_prior_scope_naming_what_is_not_configured_names_the_key(
    config, scope, message
):
    from prettyflow.config import ConfigError, validate_config

    with pytest.raises(ConfigError) as error:
        validate_config(_scope_pseudo(config, scope))
    assert message in str(error.value)


def test_a_dictionary_is_needed_only_where_the_pseudo_prior_applies(config):
    from prettyflow.config import ConfigError, validate_config

    del config["dictionaries"]["pt-en"]
    with pytest.raises(ConfigError) as error:
        validate_config(copy.deepcopy(config))
    assert (
        "dictionaries.pt-en: the dictionary prior of tasks.translation needs a "
        "dictionary for 'pt-en' (or leave flores pt-en out of "
        "tasks.translation.priors.pseudo.benchmarks)"
    ) in str(error.value)
    validate_config(_scope_pseudo(config, {"flores": ["en-pt"], "wmt23": "all"}))


def test_an_analysis_run_outside_its_sources_scope_names_the_run(config):
    from prettyflow.config import ConfigError, validate_config

    config["tasks"]["translation"]["priors"]["refined"]["benchmarks"] = {
        "flores": ["pt-en"],
        "wmt23": "all",
    }
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert (
        "analysis.prior_tokens.runs[0]: the refined prior is not configured on "
        "flores en-pt (tasks.translation.priors.refined.benchmarks)"
    ) in str(error.value)


def test_from_wildcards_passes_the_wildcards_a_method_names(config):
    from snakemake.iocontainers import Wildcards

    from prettyflow.plan import from_wildcards

    plan = Plan(config)
    wildcards = Wildcards(
        fromdict={
            "task": "translation",
            "benchmark": "flores",
            "family": FAMILY,
            "subset": "en-pt",
            "system": "prior-sft-k2",
            "shard": "0",
        }
    )
    assert from_wildcards(plan.decode.settings)(wildcards) == plan.decode.settings(
        "translation", "flores", FAMILY, "en-pt", "prior-sft-k2"
    )
    # Fixed arguments first; a method takes only the wildcards it names.
    shard = from_wildcards(plan.compute.shard_settings, "decode")(wildcards)
    assert shard == {"index": 0, "count": 1, "size": None}
    assert from_wildcards(plan.decode.priority)(wildcards) == 0
    assert from_wildcards(plan.score.comet_settings)(wildcards) == {
        "checkpoint": "Unbabel/wmt22-comet-da"
    }
