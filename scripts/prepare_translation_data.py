"""Snakemake adapter: one Flores direction -> Parquet."""

from prettyflow.data.flores import prepare_flores_direction
from prettyflow.logs import job_log

with job_log(snakemake.log[0]):
    prepare_flores_direction(
        output_path=snakemake.output.table, **snakemake.params.settings
    )
