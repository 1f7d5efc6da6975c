"""Snakemake adapter: the prompt success rate per direction and prompt (the paper's Table 8)."""

from prettyflow.analysis.prompt_success import prompt_success_table
from prettyflow.logs import job_log

with job_log(snakemake.log[0]):
    prompt_success_table(
        snakemake.input.decodes,
        snakemake.input.data,
        snakemake.params.settings,
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        latex_path=snakemake.output.latex,
        html_path=snakemake.output.html,
    )
