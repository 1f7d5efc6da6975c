# prettyflow: PRETTY prefix-prior decoding experiments (Zhan et al., 2024).
# Thin entry point: validate the config, include the stages, name the final targets.
from snakemake.utils import min_version

min_version("9.0")


# config.yaml is the default only: a --configfile given on the command line is the
# whole config, in this process and in every job Snakemake starts (those get the
# same --configfile, but not --replace-workflow-config), so nothing of the demo's
# config leaks into a user's run.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/dictionaries.smk"
include: "rules/models.smk"
include: "rules/priors.smk"
include: "rules/decode.smk"
include: "rules/score.smk"
include: "rules/aggregate.smk"
include: "rules/analysis.smk"


rule all:
    default_target: True
    input:
        plan.table_targets(),
        plan.sample_page_targets(),
        plan.analysis_targets(),
        plan.decision_space_targets(),


onstart:
    start_spare_decode_workers()


onsuccess:
    stop_decode_workers()
    print_table_locations(
        plan.table_targets()
        + plan.sample_page_targets()
        + plan.analysis_targets()
        + plan.decision_space_targets()
    )


onerror:
    stop_decode_workers()
