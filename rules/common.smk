# Shared helpers: config validation, the experiment plan, and the input/params
# functions the rules use. All logic lives in the prettyflow package.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from prettyflow.config import ConfigError, validate_config
from prettyflow.workflow import (
    FLORES_DOWNLOAD_DIR,
    MODELS_DIR,
    PRIORITY_MODEL,
    PRIORITY_PRIOR,
    PRIORITY_UPSTREAM,
    TASKS,
    Plan,
)

try:
    validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
except ConfigError as error:
    # One line naming the key, instead of a traceback.
    sys.exit(str(error))

plan = Plan(config)


wildcard_constraints:
    task="|".join(TASKS),
    subset="[a-z]{2,3}(-[a-z]{2,3})?",
    pair="[a-z]{2,3}-[a-z]{2,3}",
    family=plan.wildcard_pattern(plan.families()),
    model=plan.wildcard_pattern(config["models"]),
    system=plan.wildcard_pattern(plan.all_system_names()),
    source="sft|refined|pseudo",
    k="[0-9]+",


def print_table_locations(paths):
    print("\nprettyflow: tables written to")
    for path in paths:
        print(f"  {path}")


def compute(stage, key):
    return plan.compute(stage)[key]


# ---------------------------------------------------------------- data
def flores_inputs(wildcards):
    return plan.flores_files(wildcards.subset)


def translation_data_settings(wildcards):
    return plan.translation_data_settings(wildcards.subset)


def crosssum_file(wildcards):
    return config["datasets"]["crosssum"]["files"][wildcards.subset]


def summarization_data_settings(wildcards):
    return plan.summarization_data_settings(wildcards.subset)


def pos_file(wildcards):
    return config["datasets"]["pos"]["files"][wildcards.subset]


def pos_data_settings(wildcards):
    return plan.pos_data_settings(wildcards.subset)


# -------------------------------------------------------- dictionaries
def dictionary_files(wildcards):
    return [entry["path"] for entry in plan.dictionary_entries(wildcards.pair)]


def dictionary_entries(wildcards):
    return plan.dictionary_entries(wildcards.pair)


# -------------------------------------------------------------- models
def gguf_settings(wildcards):
    return dict(config["models"][wildcards.model]["gguf"])


def gguf_package(wildcards):
    return plan.gguf_package(wildcards.file)


def gguf_file(wildcards):
    return plan.gguf_path(wildcards.model)


# -------------------------------------------------------------- priors
def task_data(wildcards):
    return plan.data_path(wildcards.task, wildcards.subset)


def refined_settings(wildcards):
    return plan.refined_settings(wildcards.task, wildcards.subset)


def refined_inputs(wildcards):
    return plan.refined_inputs(wildcards.task, wildcards.subset)


def keyword_settings(wildcards):
    return plan.keyword_settings(wildcards.subset)


def prior_upstream(wildcards):
    return plan.prior_upstream(
        wildcards.task, wildcards.family, wildcards.subset, wildcards.source
    )


def prior_tokenizer(wildcards):
    return plan.model_inputs(config["families"][wildcards.family]["foundation"])


def prior_settings(wildcards):
    settings = plan.prior_settings(
        wildcards.task, wildcards.family, wildcards.subset, wildcards.source
    )
    if str(settings["k"]) != wildcards.k:
        raise ValueError(
            f"{wildcards.task}.priors.{wildcards.source}.k is {settings['k']}, not {wildcards.k}"
        )
    return settings


# -------------------------------------------------------------- decode
def decode_extra_inputs(wildcards):
    return plan.decode_extra_inputs(
        wildcards.task, wildcards.family, wildcards.subset, wildcards.system
    )


def decode_priority(wildcards):
    return plan.decode_priority(wildcards.family, wildcards.system)


def decode_settings(wildcards):
    return plan.decode_settings(
        wildcards.task, wildcards.family, wildcards.subset, wildcards.system
    )


# --------------------------------------------------------------- score
def score_settings(wildcards):
    return plan.score_settings(wildcards.task, wildcards.subset)


# ----------------------------------------------------------- aggregate
def table_scores(wildcards):
    return plan.score_jsons(wildcards.task, wildcards.family)


def table_settings(wildcards):
    return plan.table_settings(wildcards.task, wildcards.family)


def pos_prior_tables(wildcards):
    return plan.prior_tables("pos", wildcards.family)


def pos_data_tables(wildcards):
    return [
        plan.data_path("pos", subset) for subset in config["tasks"]["pos"]["subsets"]
    ]


def dictionary_tables(wildcards):
    return [plan.dictionary_path(pair) for pair in config.get("dictionaries", {})]
