"""Snakemake adapter: outputs of the refined-prior source (a smaller task model) on one shard."""

from prettyflow.logs import job_log
from prettyflow.steps.priors import run_refined_model

# Device and batch size change speed, not results: they are read here, not passed
# as params, so changing them does not rerun finished refined runs.
compute = {**snakemake.config["compute"], "threads": snakemake.threads}

with job_log(snakemake.log[0]):
    run_refined_model(
        snakemake.input.data,
        snakemake.output.outputs,
        snakemake.params.settings,
        compute,
        shard=snakemake.params.shard,
    )
