"""Model steps: GGUF files shipped in PyPI packages -> safetensors folders."""

from __future__ import annotations

from pathlib import Path


def materialize_gguf(package: str, output: str | Path) -> None:
    from prettyflow.models import materialize_packaged_gguf

    materialize_packaged_gguf(package, Path(output).name, output)


def convert_gguf(gguf: str | Path, output_dir: str | Path) -> None:
    from prettyflow.models import convert_gguf_to_safetensors

    convert_gguf_to_safetensors(gguf, output_dir)
