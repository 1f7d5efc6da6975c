"""Snakemake adapter: convert a GGUF model once into a safetensors folder."""

from prettyflow.logs import job_log
from prettyflow.steps.models import convert_gguf

with job_log(snakemake.log[0]):
    convert_gguf(snakemake.input.gguf, snakemake.output.model)
