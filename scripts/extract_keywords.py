"""Snakemake adapter: KeyBERT keywords of each source article (summarization pseudo prior)."""

from prettyflow.logs import job_log
from prettyflow.steps.priors import extract_keywords

with job_log(snakemake.log[0]):
    extract_keywords(
        snakemake.input.data, snakemake.output.keywords, snakemake.params.settings
    )
