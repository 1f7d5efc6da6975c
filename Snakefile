# prettyflow: PRETTY prefix-prior decoding experiments (Zhan et al., 2024).
# Thin entry point: validate the config, include the stages, name the final targets.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The package of this checkout (src/), before any installed copy.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from prettyflow.config import ConfigError, check_config_files

# config.yaml is the default only: a --configfile given on the command line is the
# whole config, in this process and in every job Snakemake starts (those get the
# same --configfile, but not --replace-workflow-config), so nothing of the demo's
# config leaks into a user's run.
if not workflow.overwrite_configfiles:
    # Read here first: Snakemake's reader answers a file that is not UTF-8 with a
    # traceback; this is one line naming the file, the line and the byte. (A
    # --configfile is read by Snakemake's command line before this file runs.)
    try:
        check_config_files(["config.yaml"])
    except ConfigError as error:
        sys.exit(str(error))

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
        plan.targets(),


onsuccess:
    stop_decode_workers()
    print_table_locations(plan.targets())


onerror:
    stop_decode_workers()
