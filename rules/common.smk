# Shared set-up: config validation, the experiment plan, and the input/params
# functions the rules use. Each function only forwards wildcards to the plan
# (prettyflow.workflow), where the logic lives and is unit-tested.
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
# envs/*.yaml install the checkout as ${PRETTYFLOW_ROOT} (Snakemake copies them
# elsewhere, so a relative path would not find it); declared below so that cluster
# jobs get it too.
os.environ["PRETTYFLOW_ROOT"] = workflow.basedir

from prettyflow.config import ConfigError, check_config_files, validate_config
from prettyflow.steps.decode import gather_decode
from prettyflow.steps.shards import gather_shards
from prettyflow.workflow import (
    PRIORITY_MODEL,
    PRIORITY_PRIOR,
    PRIORITY_UPSTREAM,
    Plan,
)
from prettyflow.benchmarks import BENCHMARKS
from prettyflow.prior_sources import PRIOR_SOURCES
from prettyflow.tasks import TASKS
from prettyflow.workers import (
    spare_count,
    start_spare_workers,
    stop_idle_workers,
)

try:
    check_config_files(workflow.configfiles)
    validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
except ConfigError as error:
    # One line naming the key, instead of a traceback.
    sys.exit(str(error))

plan = Plan(config)
paths = plan.paths


envvars:
    "PRETTYFLOW_ROOT",


wildcard_constraints:
    task=plan.wildcard_pattern(TASKS.names()),
    benchmark=plan.wildcard_pattern(BENCHMARKS.names()),
    subset="[a-z]{2,3}(-[a-z]{2,3})?",
    pair="[a-z]{2,3}-[a-z]{2,3}",
    family=plan.wildcard_pattern(plan.families()),
    model=plan.wildcard_pattern(config["models"]),
    system=plan.wildcard_pattern(plan.all_system_names()),
    source=plan.wildcard_pattern(PRIOR_SOURCES.names()),
    k="[0-9]+",
    shard="[0-9]+",
    ext="csv|md|tex|html|png",


def print_table_locations(paths):
    print("\nprettyflow: tables written to")
    for path in paths:
        print(f"  {path}")


def start_spare_decode_workers():
    # Spare warm workers import torch and transformers while the run starts, so the
    # first decode of a model skips that too; only for decodes run on this machine.
    idle_seconds = plan.compute("decode").get("worker_idle_seconds", 0)
    local = getattr(workflow.executor_plugin, "common_settings", None)
    if not idle_seconds or (local is not None and not local.local_exec):
        return
    models = [
        decode_settings(job.wildcards)["model"]["name"]
        for job in workflow.dag.needrun_jobs()
        if job.rule.name == "decode"
    ]
    threads = compute("decode", "threads")
    count = spare_count(models, max(1, int(workflow.cores) // threads))
    start_spare_workers(count, idle_seconds, threads)


def stop_decode_workers():
    # A finished run leaves no warm decode worker (and its model) in memory.
    stop_idle_workers(cwd=os.getcwd())


def compute(stage, key):
    return plan.compute(stage)[key]


# ---------------------------------------------------------------- data
def data_inputs(w):
    return plan.data_inputs(w.task, w.benchmark, w.subset)


def data_root(w):
    return plan.benchmark_root(w.benchmark)


def data_settings(w):
    return plan.data_settings(w.task, w.benchmark, w.subset)


def download_settings(w):
    return plan.download_settings(w.benchmark)


def task_data(w):
    return plan.data_path(w.task, w.benchmark, w.subset)


# -------------------------------------------------------- dictionaries
def dictionary_files(w):
    return [entry["path"] for entry in plan.dictionary_entries(w.pair)]


def dictionary_entries(w):
    return plan.dictionary_entries(w.pair)


def dictionary_tables(w):
    return plan.dictionary_tables()


# -------------------------------------------------------------- models
def gguf_settings(w):
    return dict(config["models"][w.model]["gguf"])


def train_inputs(w):
    return plan.train_inputs(w.model)


def train_settings(w):
    return plan.train_settings(w.model)


def gguf_package(w):
    return plan.gguf_package(w.file)


def gguf_file(w):
    return plan.gguf_path(w.model)


# -------------------------------------------------------------- priors
def refined_settings(w):
    return plan.refined_settings(w.task, w.benchmark, w.subset)


def refined_inputs(w):
    return plan.refined_inputs(w.task, w.benchmark, w.subset)


def refined_shard_settings(w):
    return plan.shard_settings(w.task, w.benchmark, w.subset, w.shard, "refined")


def refined_shards(w):
    return plan.refined_shards(w.task, w.benchmark, w.subset)


def keyword_settings(w):
    return plan.keyword_settings(w.task)


def prior_inputs(w):
    return plan.prior_inputs(w.task, w.benchmark, w.family, w.subset, w.source)


def prior_tokenizer(w):
    return plan.model_inputs(config["families"][w.family]["foundation"])


def prior_settings(w):
    return plan.prior_settings(w.task, w.benchmark, w.family, w.subset, w.source, w.k)


# -------------------------------------------------------------- decode
def decode_inputs(w):
    return plan.decode_inputs(w.task, w.benchmark, w.family, w.subset, w.system)


def shard_settings(w):
    return plan.shard_settings(w.task, w.benchmark, w.subset, w.shard, "decode")


def decode_shards(w):
    return plan.decode_shards(w.task, w.benchmark, w.family, w.subset, w.system)


def decode_group(w):
    return plan.decode_group(w.task, w.benchmark, w.family, w.system)


def decode_priority(w):
    return plan.decode_priority(w.family, w.system)


def decode_settings(w):
    return plan.decode_settings(w.task, w.benchmark, w.family, w.subset, w.system)


def cleaning_settings(w):
    return plan.cleaning_settings(w.task, w.benchmark, w.family, w.subset, w.system)


# --------------------------------------------------------------- score
def score_inputs(w):
    return plan.score_inputs(w.task, w.benchmark, w.family, w.subset, w.system)


def score_settings(w):
    return plan.score_settings(w.task, w.benchmark, w.subset)


def comet_settings(w):
    return plan.comet_settings()


# ----------------------------------------------------------- aggregate
def table_files(kind, view):
    """Input function: the ``kind`` score files of a ``view`` table."""

    def files(w):
        return plan.table_files(kind, view, w.task, w.benchmark, w.family)

    return files


def table_view_settings(view):
    def settings(w):
        return plan.table_settings(w.task, w.benchmark, w.family, view)

    return settings


def prompt_success_inputs(w):
    return plan.prompt_success_inputs(w.task, w.benchmark, w.family)


def prompt_success_settings(w):
    return plan.prompt_success_settings(w.task, w.benchmark, w.family)


def prior_tables(w):
    return plan.prior_tables(w.task, w.benchmark, w.family)


def subset_data_tables(w):
    return [
        plan.data_path(w.task, w.benchmark, subset)
        for subset in plan.subsets(w.task, w.benchmark)
    ]


def prior_labels(w):
    return plan.prior_labels(w.task)


# ------------------------------------------------------------ analysis
def decision_space_inputs(w):
    return plan.decision_space_inputs(w.task, w.benchmark, w.family, w.subset)


def decision_space_settings(w):
    return plan.decision_space_settings(w.family)


def decision_space_tables(w):
    return plan.decision_space_tables(w.task, w.benchmark, w.family)


def prior_tokens_inputs(w):
    return plan.prior_tokens_inputs(w.task, w.benchmark, w.family, w.source)


def prior_tokens_settings(w):
    return plan.prior_tokens_settings(w.task, w.benchmark, w.family, w.source)


def figure_label(w):
    return f"{w.family} on {w.benchmark}"


# -------------------------------------------------------- sample pages
def sample_page_inputs(w):
    return plan.sample_page_inputs(w.table)


def sample_page_settings(w):
    return plan.sample_page_settings(w.table)


def sample_page_category(w):
    _, task, benchmark, _ = plan.sample_pages()[w.table]
    return f"{task} on {benchmark}"


def sample_page_labels(w):
    view, _, _, family = plan.sample_pages()[w.table]
    return {
        "table": "samples" if view == "main" else f"samples ({view})",
        "model family": family,
    }
