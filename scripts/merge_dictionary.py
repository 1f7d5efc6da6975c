"""Snakemake adapter: merge one pair's word lists (in priority order) into Parquet."""

from prettyflow.logs import job_log
from prettyflow.steps.data import merge_dictionary

with job_log(snakemake.log[0]):
    merge_dictionary(snakemake.params.entries, snakemake.output.table)
