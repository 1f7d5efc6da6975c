"""Snakemake adapter: fetch the official Flores archive (needs internet)."""

from prettyflow.data.download import download_archive
from prettyflow.logs import job_log

with job_log(snakemake.log[0]):
    download_archive(
        snakemake.params.url, snakemake.output.archive, sha256=snakemake.params.sha256
    )
