"""Every file the workflow writes, named once.

The rules take their output patterns from :meth:`Paths.pattern` (wildcards left
as ``{name}``) and the plan fills the same templates with :meth:`Paths.path`, so
a rule and the plan cannot disagree on where a file is.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

# Under the results directory.
RESULT_TEMPLATES: dict[str, str] = {
    "data": "{task}/data/{benchmark}/{subset}.parquet",
    "refined": "{task}/refined/{benchmark}/{subset}.parquet",
    "refined_shard": "{task}/refined/{benchmark}/shards/{subset}/{shard}.parquet",
    "keywords": "{task}/keywords/{benchmark}/{subset}.parquet",
    "prior": "{task}/priors/{benchmark}/{family}/{subset}/{source}-k{k}.parquet",
    "decode": "{task}/decode/{benchmark}/{family}/{subset}/{system}.parquet",
    "decode_shard": "{task}/decode/{benchmark}/{family}/{subset}/shards/{system}/{shard}.parquet",
    "comet": "{task}/scores/{benchmark}/{family}/{subset}/{system}.comet.parquet",
    "score_samples": "{task}/scores/{benchmark}/{family}/{subset}/{system}.parquet",
    "score_corpus": "{task}/scores/{benchmark}/{family}/{subset}/{system}.json",
    # The report's first page: what was run and each table's %SFT.
    "summary": "summary.html",
    "table": "tables/{task}-{benchmark}-{family}.{ext}",
    "prior_accuracy": "tables/{task}-{benchmark}-{family}-prior-accuracy.{ext}",
    "control_table": "tables/{task}-{benchmark}-{family}-control-priors.{ext}",
    # Every answer of a table (its file stem) beside its reference.
    "sample_page": "tables/{table}.samples.html",
    "prompt_success_table": "tables/{task}-{benchmark}-{family}-prompt-success.{ext}",
    "backend_parity_table": "tables/{task}-{benchmark}-{family}-backend-parity.{ext}",
    "prior_tokens": "figures/prior-tokens/{task}-{benchmark}-{family}-{source}.{ext}",
    "adapter": "models/{model}",
    "decision_space": "{task}/analysis/{benchmark}/{family}/{subset}/decision-space.parquet",
    "decision_space_figures": "figures/decision-space/{task}-{benchmark}-{family}",
    "dictionary": "dictionaries/{pair}.parquet",
    "dictionary_table": "tables/dictionaries.{ext}",
}
# Rule logs, under the results directory (Paths.log).
LOG_DIR = "logs"
# Outside the results directory (shared by runs with other results_dir).
RESOURCE_TEMPLATES: dict[str, str] = {
    "download": "resources/downloads/{benchmark}",
    "gguf": "resources/models/gguf/{file}",
    "model": "resources/models/{model}",
}
# The trained adapter's prompt format, written beside the adapter (training.py).
CHAT_TEMPLATE_FILE = "alpaca_chat_template.jinja"
# The record of a training, written beside the adapter (training.py): it marks an
# adapter as trained by the workflow in provenance (models.adapter_provenance).
TRAINING_RECORD_FILE = "training.json"
# sacrebleu's model folder (spBLEU's SentencePiece model is copied there).
SACREBLEU_DIR = "resources/sacrebleu"
# html: the Markdown as a page of the Snakemake report.
TABLE_EXTENSIONS = ("csv", "md", "tex", "html")
FIGURE_EXTENSIONS = ("png", "csv")  # a figure and its numbers
DICTIONARY_TABLE_EXTENSIONS = ("csv", "md", "html")
PARITY_TABLE_EXTENSIONS = ("csv", "md", "html")


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


class Paths:
    """File names under ``results`` (the config's ``results_dir``) and ``resources/``."""

    def __init__(self, results: str):
        self.results = results.rstrip("/")

    def log(self, pattern: str) -> str:
        """A rule's log file: under the results folder, so that runs into another
        results folder keep their own logs."""
        return f"{self.results}/{LOG_DIR}/{pattern}"

    def template(self, name: str) -> str:
        if name in RESULT_TEMPLATES:
            return f"{self.results}/{RESULT_TEMPLATES[name]}"
        return RESOURCE_TEMPLATES[name]

    def pattern(self, name: str, **fixed: str) -> str:
        """The template with ``fixed`` filled in and every other field a wildcard."""
        template = self.template(name)
        values = {field: f"{{{field}}}" for field in _fields(template)}
        values.update(fixed)
        return template.format(**values)

    def path(self, name: str, **values: object) -> str:
        """One concrete file; every field must be given."""
        template = self.template(name)
        missing = sorted(set(_fields(template)) - set(values))
        if missing:
            raise KeyError(f"path {name!r} needs {', '.join(missing)}")
        return template.format(**values)


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as results and messages show it: never the machine's absolute path.

    Under the Hugging Face cache: ``$HF_HUB_CACHE/...``; otherwise relative to the
    working directory (where relative paths in the config resolve from).
    """
    from prettyflow.hub import hf_hub_cache

    absolute = Path(os.path.abspath(Path(path).expanduser()))
    cache = Path(os.path.abspath(hf_hub_cache()))
    if absolute == cache or cache in absolute.parents:
        return str(Path("$HF_HUB_CACHE", absolute.relative_to(cache)))
    return os.path.relpath(absolute)
