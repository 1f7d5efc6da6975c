"""The model backend registry: ``models.<name>.backend`` in the config -> its class.

Each entry is a :class:`~prettyflow.backends.base.ModelBackend` subclass
(lm-evaluation-harness's ``MODEL_MAPPING``); its ``load`` gives a loaded model
that encodes, renders chat prompts, decodes greedily with stop strings and,
where it can, gives teacher-forced logits. Adding a backend is its module and
one entry here (and its name in the schema's ``models.<name>.backend`` enum).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prettyflow.backends.base import ModelBackend
from prettyflow.backends.hf import HFBackend
from prettyflow.backends.vllm import VLLMBackend
from prettyflow.registry import Registry

MODEL_BACKENDS: Registry[type[ModelBackend]] = Registry("model backend")
MODEL_BACKENDS.register("hf", HFBackend)
MODEL_BACKENDS.register("vllm", VLLMBackend)

# The backend of a model whose settings name none (the schema's default).
DEFAULT_BACKEND = "hf"


def model_backend(settings: Mapping[str, Any]) -> type[ModelBackend]:
    """The backend class that runs the model of ``settings`` (its ``backend``, or
    :data:`DEFAULT_BACKEND`)."""
    return MODEL_BACKENDS.get(settings.get("backend") or DEFAULT_BACKEND)


__all__ = ["DEFAULT_BACKEND", "MODEL_BACKENDS", "ModelBackend", "model_backend"]
