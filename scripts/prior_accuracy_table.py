"""Snakemake adapter: accuracy of the priors themselves (the paper's Table 4)."""

from prettyflow.logs import job_log
from prettyflow.steps.tables import prior_accuracy_table

with job_log(snakemake.log[0]):
    prior_accuracy_table(
        snakemake.input.data,
        snakemake.input.priors,
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        latex_path=snakemake.output.latex,
        labels=snakemake.params.labels,
        html_path=snakemake.output.html,
        title=snakemake.params.title,
    )
