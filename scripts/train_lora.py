"""Snakemake adapter: train one LoRA SFT adapter (Alpaca format)."""

from prettyflow.logs import job_log
from prettyflow.steps.models import train_lora

# Device and threads change speed, not the adapter: read here, not passed as params.
compute = {
    "device": snakemake.config["compute"]["device"],
    "threads": snakemake.threads,
}

with job_log(snakemake.log[0]):
    train_lora(
        snakemake.input.instructions,
        snakemake.output.adapter,
        snakemake.params.settings,
        compute,
    )
