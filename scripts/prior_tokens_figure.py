"""Snakemake adapter: every metric against the number of prior tokens (the paper's Figure 5)."""

from prettyflow.analysis.prior_tokens import prior_tokens_figure
from prettyflow.logs import job_log

with job_log(snakemake.log[0]):
    prior_tokens_figure(
        snakemake.input.scores,
        snakemake.params.settings,
        csv_path=snakemake.output.numbers,
        png_path=snakemake.output.figure,
    )
