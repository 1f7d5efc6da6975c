"""Snakemake adapter: outputs of the refined-prior source (a smaller task model)."""

from prettyflow.logs import job_log
from prettyflow.steps.priors import run_refined_model

compute = {**snakemake.config["compute"], "threads": snakemake.threads}

with job_log(snakemake.log[0]):
    run_refined_model(
        snakemake.input.data,
        snakemake.output.outputs,
        snakemake.params.settings,
        compute,
    )
