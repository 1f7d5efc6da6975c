"""Snakemake adapter: the same systems decoded by two model backends, compared."""

from prettyflow.analysis.backend_parity import backend_parity_table
from prettyflow.logs import job_log

with job_log(snakemake.log[0]):
    backend_parity_table(
        {
            "first": snakemake.input.first_decodes,
            "second": snakemake.input.second_decodes,
        },
        {
            "first": snakemake.input.first_samples,
            "second": snakemake.input.second_samples,
        },
        snakemake.params.settings,
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        html_path=snakemake.output.html,
    )
