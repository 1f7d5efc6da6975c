"""Snakemake adapter: one prior file (task, family, subset, source, k)."""

from prettyflow.logs import job_log
from prettyflow.steps import build_prior

with job_log(snakemake.log[0]):
    build_prior(
        snakemake.input.data,
        snakemake.output.prior,
        snakemake.params.settings,
        upstream_path=snakemake.input.get("upstream"),
        dictionary_path=snakemake.input.get("dictionary"),
    )
