"""Snakemake adapter: a results table with %SFT and bootstrap intervals (CSV, Markdown, LaTeX, HTML, written together)."""

from prettyflow.logs import job_log
from prettyflow.steps.tables import results_table

with job_log(snakemake.log[0]):
    results_table(
        snakemake.input.scores,
        snakemake.params.settings,
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        latex_path=snakemake.output.latex,
        sample_paths=snakemake.input.samples,
        html_path=snakemake.output.html,
    )
