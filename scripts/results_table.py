"""Snakemake adapter: one task's results table with %SFT (CSV, Markdown, LaTeX)."""

from prettyflow.logs import job_log
from prettyflow.steps.tables import results_table

with job_log(snakemake.log[0]):
    results_table(
        snakemake.input.scores,
        snakemake.params.settings,
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        latex_path=snakemake.output.latex,
    )
