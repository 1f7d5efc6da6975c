"""Snakemake adapter: one UD CoNLL-U or XGLUE POS file -> Parquet."""

from prettyflow.data.pos import prepare_pos
from prettyflow.logs import job_log

with job_log(snakemake.log[0]):
    prepare_pos(
        snakemake.input.treebank,
        output_path=snakemake.output.table,
        **snakemake.params.settings,
    )
