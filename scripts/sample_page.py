"""Snakemake adapter: the sample page of one results table (every answer beside its reference)."""

from prettyflow.logs import job_log
from prettyflow.steps.samples import sample_page

with job_log(snakemake.log[0]):
    sample_page(
        snakemake.input.data,
        snakemake.input.decodes,
        snakemake.input.scores,
        snakemake.input.priors,
        snakemake.params.settings,
        html_path=snakemake.output.html,
    )
