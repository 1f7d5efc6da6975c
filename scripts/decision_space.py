"""Snakemake adapter: teacher-forced next-token decisions of foundation and SFT model."""

from prettyflow.logs import job_log
from prettyflow.steps.analysis import decision_space

compute = {**snakemake.config["compute"], "threads": snakemake.threads}

with job_log(snakemake.log[0]):
    decision_space(
        snakemake.input.decodes,
        snakemake.output.positions,
        snakemake.params.settings,
        compute,
        snakemake.wildcards.subset,
    )
