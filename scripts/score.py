"""Snakemake adapter: score one decode (per-sample and corpus, with metric signatures)."""

from prettyflow.logs import job_log
from prettyflow.steps import score

with job_log(snakemake.log[0]):
    score(
        snakemake.input.data,
        snakemake.input.decodes,
        snakemake.output.samples,
        snakemake.output.corpus,
        snakemake.params.settings,
    )
