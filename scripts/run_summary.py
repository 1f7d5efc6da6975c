"""Snakemake adapter: the report's first page (what was run, each table's %SFT)."""

import os

from prettyflow.logs import job_log
from prettyflow.steps.summary import run_summary

with job_log(snakemake.log[0]):
    run_summary(
        snakemake.input.tables,
        snakemake.params.settings,
        snakemake.config,
        os.environ["PRETTYFLOW_ROOT"],
        html_path=snakemake.output.html,
    )
