"""Snakemake adapter: merge one pair's word lists into a dictionary table."""

from prettyflow.dictionaries import prepare_dictionary
from prettyflow.logs import job_log

with job_log(snakemake.log[0]):
    prepare_dictionary(
        [(entry["origin"], entry["path"]) for entry in snakemake.params.entries],
        snakemake.output.table,
    )
