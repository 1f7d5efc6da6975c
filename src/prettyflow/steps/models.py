"""Model steps: GGUF files shipped in PyPI packages -> safetensors folders."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prettyflow.training.settings import TrainingSettings


def materialize_gguf(package: str, output: str | Path) -> None:
    from prettyflow.models import materialize_packaged_gguf

    materialize_packaged_gguf(package, Path(output).name, output)


def convert_gguf(gguf: str | Path, output_dir: str | Path) -> None:
    from prettyflow.models import convert_gguf_to_safetensors

    convert_gguf_to_safetensors(gguf, output_dir)


def train_lora(
    instructions: str | Path,
    output_dir: str | Path,
    settings: Mapping[str, Any],
    compute: Mapping[str, Any],
) -> dict[str, Any]:
    """Train the LoRA adapter of a ``models`` entry with ``base`` and ``train``.

    ``settings``: ``base`` (the base model's plan settings) and ``training``
    (:class:`prettyflow.training.settings.TrainingSettings` overrides); ``compute``: device
    and threads, which change speed, not the adapter.
    """
    import torch

    from prettyflow.models import spec_from_settings
    from prettyflow.training.loop import train_lora as train

    torch.set_num_threads(int(compute.get("threads", 1)))
    return train(
        spec_from_settings(settings["base"]),
        instructions,
        output_dir,
        TrainingSettings.from_mapping(settings["training"]),
        device=compute.get("device", "auto"),
        dtype=settings["base"].get("dtype") or "auto",
    )
