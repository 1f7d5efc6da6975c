"""Snakemake adapter: one CrossSum JSONL file -> Parquet."""

from prettyflow.data.crosssum import prepare_crosssum
from prettyflow.logs import job_log

with job_log(snakemake.log[0]):
    prepare_crosssum(
        snakemake.input.jsonl,
        output_path=snakemake.output.table,
        **snakemake.params.settings,
    )
