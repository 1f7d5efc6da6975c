"""Snakemake adapter: fetch a dataset's official archive (needs internet)."""

from prettyflow.logs import job_log
from prettyflow.steps.data import download_dataset

with job_log(snakemake.log[0]):
    download_dataset(
        snakemake.wildcards.benchmark, snakemake.params.settings, snakemake.output.root
    )
