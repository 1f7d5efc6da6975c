# Shared set-up: config validation, the experiment plan (prettyflow.plan), wildcard
# constraints and the run's start and end. Rules reach the plan's methods through
# from_wildcards, which passes a job's wildcards as keyword arguments; the logic
# lives in the package, where it is unit-tested.
import os
import sys
from pathlib import Path

# (The Snakefile puts the checkout's src/ first on sys.path.)
# envs/*.yaml install the checkout as ${PRETTYFLOW_ROOT} (Snakemake copies them
# elsewhere, so a relative path would not find it); declared below so that cluster
# jobs get it too.
os.environ["PRETTYFLOW_ROOT"] = workflow.basedir

from prettyflow.datasets import DATASETS
from prettyflow.config import (
    ConfigError,
    apply_defaults,
    check_config_files,
    validate_config,
)
from prettyflow.plan import Plan, from_wildcards
from prettyflow.plan.values import PRIORITY_MODEL, PRIORITY_PRIOR, PRIORITY_UPSTREAM
from prettyflow.priors.sources import PRIOR_SOURCES
from prettyflow.steps.decode import gather_decode
from prettyflow.steps.shards import gather_shards
from prettyflow.tasks import TASKS
from prettyflow.workers import RUN_VARIABLE, new_run_id, stop_idle_workers

# The run's jobs inherit its id (cluster jobs get it declared below): a decode that
# frees GPU memory stops idle warm workers of this run only. A cluster job parses
# the workflow again and keeps the id it was given.
os.environ.setdefault(RUN_VARIABLE, new_run_id())

config_schema = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
try:
    check_config_files(workflow.configfiles)
    # Packages a job imports are looked up here unless Snakemake deploys its software.
    validate_config(
        config,
        config_schema,
        check_packages=not workflow.deployment_settings.deployment_method,
    )
except ConfigError as error:
    # One line naming the key, instead of a traceback.
    sys.exit(str(error))
# What the scripts read from snakemake.config, as the plan: with the schema's defaults.
apply_defaults(config, config_schema)

plan = Plan(config)
paths = plan.paths


envvars:
    "PRETTYFLOW_ROOT",
    RUN_VARIABLE,


wildcard_constraints:
    task=plan.grid.wildcard_pattern(TASKS.names()),
    benchmark=plan.grid.wildcard_pattern(DATASETS.names()),
    subset="[a-z]{2,3}(-[a-z]{2,3})?",
    pair="[a-z]{2,3}-[a-z]{2,3}",
    family=plan.grid.wildcard_pattern(plan.grid.families()),
    model=plan.grid.wildcard_pattern(config["models"]),
    system=plan.grid.wildcard_pattern(plan.systems.all_names()),
    source=plan.grid.wildcard_pattern(PRIOR_SOURCES.names()),
    k="[0-9]+",
    shard="[0-9]+",
    ext="csv|md|tex|html|png",


def print_table_locations(paths):
    print("\nprettyflow: tables written to")
    for path in paths:
        print(f"  {path}")


def stop_decode_workers():
    # A finished run leaves no warm decode worker (and its model) in memory.
    stop_idle_workers(cwd=os.getcwd())
