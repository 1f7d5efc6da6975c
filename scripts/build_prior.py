"""Snakemake adapter: one prior file (task, benchmark, family, subset, source, k)."""

from prettyflow.logs import job_log
from prettyflow.steps.priors import build_prior

# Every named input besides the data and the tokenizer is the source's upstream.
upstream = {
    name: path
    for name, path in snakemake.input.items()
    if name not in ("data", "tokenizer")
}

with job_log(snakemake.log[0]):
    build_prior(
        snakemake.input.data,
        snakemake.output.prior,
        snakemake.params.settings,
        upstream,
    )
