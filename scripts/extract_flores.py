"""Snakemake adapter: unpack the Flores archive and check the expected files are there."""

from pathlib import Path

from prettyflow.data.download import extract_archive
from prettyflow.errors import InputError
from prettyflow.logs import job_log
from prettyflow.workflow import FLORES_DOWNLOAD_DIR

with job_log(snakemake.log[0]):
    extract_archive(
        snakemake.input.archive,
        FLORES_DOWNLOAD_DIR,
        member_root="flores101_dataset",
    )
    missing = [path for path in snakemake.output.files if not Path(path).is_file()]
    if missing:
        raise InputError(
            f"the archive has no {', '.join(missing)}: check languages.*.flores",
            path=snakemake.input.archive,
        )
