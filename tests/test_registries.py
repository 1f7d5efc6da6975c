"""The registries and the config schema agree; the config is checked against both.

A name the schema accepts must have an implementation, and an implementation must
be reachable from config.yaml: the schema's enums are the registries' names.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from prettyflow.backends import DEFAULT_BACKEND, MODEL_BACKENDS
from prettyflow.cleaning import CLEANING_RULES, DEFAULT_CLEANING
from prettyflow.config import ConfigError, load_schema, validate_config
from prettyflow.datasets import DATASETS
from prettyflow.errors import InputError
from prettyflow.metrics import METRICS
from prettyflow.plan.analyses import ANALYSES
from prettyflow.priors.refined import GENERATION, REFINED_BACKENDS, TAGGING
from prettyflow.priors.sources import PRIOR_SOURCES
from prettyflow.registry import Registry
from prettyflow.tasks import TASKS


@pytest.fixture(scope="module")
def schema() -> dict:
    return load_schema()


@pytest.fixture
def config(repo_root) -> dict:
    """A fresh copy of the shipped config.yaml (tests may edit it)."""
    return yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))


# ------------------------------------------------------------ schema == registries


def test_schema_task_names_are_the_registered_tasks(schema):
    names = schema["properties"]["tasks"]["propertyNames"]["enum"]
    assert sorted(names) == sorted(TASKS.names())


def test_schema_benchmark_names_are_the_registered_benchmarks(schema):
    names = schema["$defs"]["benchmark_name"]
    assert sorted(names["enum"]) == sorted(DATASETS.names())
    # A task's benchmarks and a prior's benchmarks are named from that one list.
    task = schema["$defs"]["task"]["properties"]["benchmarks"]
    assert task["propertyNames"] == {"$ref": "#/$defs/benchmark_name"}
    scope = schema["$defs"]["prior_scope"]
    assert scope["propertyNames"] == {"$ref": "#/$defs/benchmark_name"}
    # Every benchmark has its datasets.<name> section, and nothing else does.
    datasets = schema["properties"]["datasets"]
    assert datasets["additionalProperties"] is False
    assert sorted(datasets["properties"]) == sorted(DATASETS.names())


def test_schema_prior_sources_are_the_registered_sources(schema):
    """Task priors take the answer-based sources; analysis.control_priors the rest."""
    answer_based = sorted(n for n, s in PRIOR_SOURCES.items() if not s.control)
    controls = sorted(n for n, s in PRIOR_SOURCES.items() if s.control)
    priors = schema["$defs"]["priors"]
    assert sorted(priors["propertyNames"]["enum"]) == answer_based
    assert sorted(priors["properties"]) == answer_based
    sources = schema["properties"]["analysis"]["properties"]["control_priors"]
    assert sorted(sources["properties"]["sources"]["properties"]) == controls


def test_schema_analyses_are_the_registered_analyses(schema):
    """Every analysis section but bootstrap (a setting of every table) is an analysis."""
    sections = schema["properties"]["analysis"]["properties"]
    assert sorted(set(sections) - {"bootstrap"}) == sorted(ANALYSES.names())
    for name, analysis in ANALYSES.items():
        assert analysis.name == name


def test_schema_refined_backends_are_the_registered_backends(schema):
    backend = schema["$defs"]["refined_prior"]["properties"]["backend"]
    assert sorted(backend["enum"]) == sorted(REFINED_BACKENDS.names())


def test_schema_model_backends_are_the_registered_backends(schema):
    model = schema["properties"]["models"]["additionalProperties"]
    backend = model["properties"]["backend"]
    assert sorted(backend["enum"]) == sorted(MODEL_BACKENDS.names())
    # A trained model takes its base's backend: the default is the registry's, not
    # a schema default that apply_defaults would fill into every model.
    assert "default" not in backend and DEFAULT_BACKEND in backend["enum"]


def test_schema_metrics_are_the_registered_metrics(schema):
    metrics = schema["$defs"]["metric_list"]  # scored, shown and %SFT metrics
    assert sorted(metrics["items"]["enum"]) == sorted(METRICS.names())


def test_schema_cleaning_rules_are_the_registered_rules(schema):
    model = schema["properties"]["models"]["additionalProperties"]
    rules = model["properties"]["cleaning"]["items"]["enum"]
    assert sorted(rules) == sorted(CLEANING_RULES.names())
    # The defaults name registered rules only.
    for defaults in DEFAULT_CLEANING.values():
        assert set(defaults) <= set(CLEANING_RULES.names())


# ------------------------------------------------------- registries refer to each other


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_scorer_loads(name):
    scorer = METRICS.get(name).load()
    assert callable(scorer)


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_is_for_registered_tasks(name):
    metric = METRICS.get(name)
    assert metric.tasks and metric.tasks <= set(TASKS.names())
    assert metric.label


def test_every_task_has_a_metric_and_a_benchmark():
    for task in TASKS:
        assert any(task in metric.tasks for _, metric in METRICS.items()), task
        assert any(benchmark.task == task for _, benchmark in DATASETS.items()), task


def test_a_metric_of_its_own_environment_has_a_per_sample_file():
    # The plan names the file its rule writes after the metric (plan.score.inputs).
    from prettyflow.paths import RESULT_TEMPLATES

    for name, metric in METRICS.items():
        if metric.environment:
            assert "{system}" in RESULT_TEMPLATES[name], name


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_benchmark_serves_a_registered_task(name):
    assert DATASETS.get(name).task in TASKS


def test_every_task_has_a_refined_backend_of_its_kind():
    for name, task in TASKS.items():
        assert task.name == name
        assert task.refined_kind in (GENERATION, TAGGING)
        assert any(
            task.refined_kind in backend.kinds
            for _, backend in REFINED_BACKENDS.items()
        ), name


def test_prior_sources_know_their_name_and_title():
    for name, source in PRIOR_SOURCES.items():
        assert source.name == name
        assert source.title.endswith(" Prior") and "PRETTY" not in source.title


# ------------------------------------------------------------------- the Registry


def test_unknown_name_is_an_input_error_listing_the_registered_names():
    with pytest.raises(InputError) as error:
        TASKS.get("qa")
    message = str(error.value)
    assert "unknown task 'qa'" in message
    for name in TASKS:
        assert name in message
    assert error.value.field == "task"
    for registry in (
        DATASETS,
        PRIOR_SOURCES,
        REFINED_BACKENDS,
        METRICS,
        ANALYSES,
        MODEL_BACKENDS,
    ):
        with pytest.raises(
            InputError, match=f"unknown {registry.kind} 'nope'"
        ) as error:
            registry.get("nope")
        assert all(name in str(error.value) for name in registry)


def test_registering_a_name_twice_raises():
    registry: Registry[int] = Registry("widget")
    registry.register("a", 1)

    @registry.register("b")
    def b() -> int:
        return 2

    assert registry.get("b") is b
    with pytest.raises(ValueError, match="widget 'a' is registered twice"):
        registry.register("a", 3)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("b")(lambda: 4)
    assert registry.get("a") == 1  # the first registration stays
    assert registry.names() == ["a", "b"] and list(registry) == ["a", "b"]
    assert "a" in registry and "c" not in registry
    with pytest.raises(ValueError, match="registered twice"):
        TASKS.register("translation", TASKS.get("translation"))


# ---------------------------------------------------------------- config checks


def test_the_shipped_config_is_valid(config):
    validate_config(config)


def test_a_metric_of_another_task_names_the_key(config):
    config["tasks"]["translation"]["benchmarks"]["flores"]["metrics"].append("rouge2")
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = str(error.value)
    assert "tasks.translation.benchmarks.flores.metrics" in message
    assert "'rouge2' is not a translation metric" in message


def test_an_unknown_metric_names_the_key(config):
    config["tasks"]["pos"]["benchmarks"]["ud"]["metrics"] = ["f1", "accuracy"]
    with pytest.raises(ConfigError, match=r"tasks\.pos\.benchmarks\.ud\.metrics"):
        validate_config(config)


def test_a_benchmark_under_the_wrong_task_names_the_key(config):
    config["tasks"]["translation"]["benchmarks"]["crosssum"] = {
        "subsets": ["en-pt"],
        "metrics": ["bleu"],
    }
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = str(error.value)
    assert "tasks.translation.benchmarks.crosssum" in message
    assert "is for summarization" in message


def test_an_unknown_benchmark_is_refused(config):
    config["tasks"]["translation"]["benchmarks"]["wmt22"] = {
        "subsets": ["en-pt"],
        "metrics": ["bleu"],
    }
    with pytest.raises(ConfigError, match=r"tasks\.translation\.benchmarks.*'wmt22'"):
        validate_config(config)


def test_a_refined_backend_of_the_wrong_kind_names_the_key(config):
    config["tasks"]["translation"]["priors"]["refined"]["backend"] = "spacy"
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert "tasks.translation.priors.refined.backend" in str(error.value)
    assert "does not do generation" in str(error.value)


@pytest.mark.parametrize("k", [1, 3, [1, 2], [2]])
def test_k_may_be_a_positive_int_or_a_list_of_them(config, k):
    config["tasks"]["translation"]["priors"]["sft"]["k"] = k
    config["tasks"]["summarization"]["priors"]["refined"]["k"] = k
    validate_config(config)


@pytest.mark.parametrize("k", [0, [], [0], [1, 1], -1, "2"])
def test_bad_k_names_the_key(config, k):
    config["tasks"]["translation"]["priors"]["sft"]["k"] = k
    with pytest.raises(ConfigError, match=r"tasks\.translation\.priors\.sft\.k"):
        validate_config(config)


def test_a_pseudo_prior_for_pos_is_refused_naming_the_source(config):
    config["tasks"]["pos"]["priors"]["pseudo"] = {"k": 1}
    with pytest.raises(ConfigError, match=r"tasks\.pos\.priors\.pseudo: pos has no"):
        validate_config(config)


def test_a_pos_prior_of_more_than_one_label_is_refused(config):
    config["tasks"]["pos"]["priors"]["sft"]["k"] = [1, 2]
    with pytest.raises(ConfigError, match=r"tasks\.pos\.priors\.sft\.k: a pos prior"):
        validate_config(config)


def test_the_config_check_does_not_change_the_config(config):
    before = copy.deepcopy(config)
    validate_config(config)
    assert config == before


def test_only_an_analysis_and_its_rules_name_it(repo_root):
    """The plan, the config check and the workflow's set-up never branch on one."""
    sources = [
        *(repo_root / "src" / "prettyflow" / "plan").glob("*.py"),
        repo_root / "src" / "prettyflow" / "config.py",
        repo_root / "rules" / "common.smk",
        repo_root / "Snakefile",
    ]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for name in ANALYSES.names():
            assert name not in text, f"{path.name} names the analysis {name!r}"
