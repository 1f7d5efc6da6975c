"""Snakemake adapter: dictionary statistics table (the paper's Table 9)."""

from prettyflow.logs import job_log
from prettyflow.steps.data import dictionary_statistics

with job_log(snakemake.log[0]):
    dictionary_statistics(
        snakemake.input.tables,
        snakemake.output.csv,
        snakemake.output.markdown,
        html_path=snakemake.output.html,
    )
