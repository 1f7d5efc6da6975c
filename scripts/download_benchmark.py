"""Snakemake adapter: fetch a benchmark's official archive (needs internet)."""

from prettyflow.logs import job_log
from prettyflow.steps.data import download_benchmark

with job_log(snakemake.log[0]):
    download_benchmark(
        snakemake.wildcards.benchmark, snakemake.params.settings, snakemake.output.root
    )
