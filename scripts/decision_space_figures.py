"""Snakemake adapter: Figures 2-4 and their numbers for one (task, benchmark, family)."""

from prettyflow.logs import job_log
from prettyflow.steps.analysis import decision_space_figures

with job_log(snakemake.log[0]):
    decision_space_figures(
        snakemake.input.tables, snakemake.output.figures, snakemake.params.label
    )
