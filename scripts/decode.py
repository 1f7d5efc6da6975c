"""Snakemake adapter: prefixed (or plain) greedy decoding of one system on one subset."""

from prettyflow.logs import job_log
from prettyflow.workers import decode_job

# Device and batch size change speed, not results: they are read here, not passed
# as params, so changing them does not rerun finished decodes.
compute = {**snakemake.config["compute"], "threads": snakemake.threads}

with job_log(snakemake.log[0]):
    decode_job(
        {
            "data_path": snakemake.input.data,
            "output_path": snakemake.output.decodes,
            "settings": snakemake.params.settings,
            "prior_path": snakemake.input.get("prior"),
            "demonstration_path": snakemake.input.get("demonstration"),
            "shard": snakemake.params.shard,
        },
        compute,
    )
