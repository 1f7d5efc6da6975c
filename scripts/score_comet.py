"""Snakemake adapter: COMET scores of one decode, in the COMET environment.

Runs in envs/comet.yaml under --software-deployment-method conda; otherwise in the
main environment, which hands the work to the COMET interpreter (.venv-comet).
"""

from pathlib import Path

from prettyflow.logs import job_log
from prettyflow.metrics.comet import DEFAULT_PYTHON
from prettyflow.steps.score import score_comet

# Batch size, GPUs and the interpreter change speed or place, not scores: read
# here, not passed as params, so changing them reruns nothing.
comet_config = snakemake.config.get("metrics", {}).get("comet") or {}
compute = {
    "batch_size": snakemake.config["compute"]["batch_size"],
    "gpu": snakemake.resources.get("gpu", 0),
    # The default interpreter is the checkout's (make comet-env), wherever the run is.
    "python": comet_config.get("python")
    or str(Path(snakemake.scriptdir).parent / DEFAULT_PYTHON),
}

with job_log(snakemake.log[0]):
    score_comet(
        snakemake.input.data,
        snakemake.input.decodes,
        snakemake.output.scores,
        snakemake.params.settings,
        compute,
    )
