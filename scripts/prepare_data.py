"""Snakemake adapter: one benchmark subset -> Parquet."""

from prettyflow.logs import job_log
from prettyflow.steps.data import prepare_data

with job_log(snakemake.log[0]):
    prepare_data(
        snakemake.wildcards.benchmark,
        snakemake.params.root,
        snakemake.output.table,
        snakemake.params.settings,
    )
