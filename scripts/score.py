"""Snakemake adapter: score one decode (per-sample and corpus, with metric signatures)."""

from prettyflow.logs import job_log
from prettyflow.steps.score import score

# Named inputs besides data and decodes: per-sample files of metrics computed in
# an environment of their own (e.g. comet).
extra = {
    name: path
    for name, path in snakemake.input.items()
    if name not in ("data", "decodes")
}

with job_log(snakemake.log[0]):
    score(
        snakemake.input.data,
        snakemake.input.decodes,
        snakemake.output.samples,
        snakemake.output.corpus,
        snakemake.params.settings,
        extra,
    )
