"""One description of a model, from its provenance record, for every place that names one.

:func:`describe_model` renders what :func:`prettyflow.models.model_provenance`
records (kept in the decode Parquet metadata and the score files) as one
Markdown phrase: the weights, and for an adapter whether the workflow trained
it (base, instruction data, settings that differ from Table 7) or the user
supplied it, its sha256, and how it is applied. Plain Python, no torch: the
table jobs import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _short_sha(value: Any) -> str:
    return f"sha256 `{str(value)[:12]}`" if value else "sha256 unknown"


def _describe_weights(record: Mapping[str, Any]) -> str:
    path, gguf_sha = record.get("path"), record.get("gguf_sha256")
    if record.get("converted_from_gguf"):
        return (
            f"`{path}`, converted from GGUF `{record['converted_from_gguf']}`, "
            f"{_short_sha(gguf_sha)}"
        )
    if record.get("gguf_file"):
        return f"GGUF `{record['gguf_file']}` of `{path}`, {_short_sha(gguf_sha)}"
    if gguf_sha:
        return f"GGUF `{path}`, {_short_sha(gguf_sha)}"
    revision = record.get("revision")
    return f"`{path}`" + (f" at revision `{revision}`" if revision else "")


def _setting_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_setting_text(item) for item in value) + "]"
    return str(value)


def _describe_application(adapter: Mapping[str, Any], run_dtype: Any) -> str:
    if not adapter.get("merged", True):
        return f"unmerged (PEFT's LoRA layers, in float32, over {run_dtype} weights)"
    if adapter.get("merge_dtype") is None:
        return "merged into the weights"
    cast = adapter.get("dtype")
    if cast is None or cast == adapter["merge_dtype"]:
        return f"merged into the weights in {adapter['merge_dtype']}"
    changed, total = (
        adapter.get("changed_weights", 0),
        adapter.get("adapted_weights", 0),
    )
    return (
        f"merged into the weights in {adapter['merge_dtype']}, then cast to {cast} "
        f"({changed:,} of the {total:,} adapted weights changed, "
        f"{100 * changed / max(total, 1):.2f}%)"
    )


def _describe_training(training: Mapping[str, Any]) -> str:
    data = training.get("instructions") or {}
    differing = training.get("settings_not_table7") or {}
    settings = (
        "settings that differ from Table 7: "
        # Sorted: provenance goes through JSON with sorted keys anyway.
        + ", ".join(
            f"{key} {_setting_text(differing[key])}" for key in sorted(differing)
        )
        if differing
        else "Table 7's settings"
    )
    run = ""
    if training.get("steps") is not None:
        run = f" for {training['steps']} steps"
    if training.get("dtype") and training.get("device"):
        run += f" in {training['dtype']} on {training['device']}"
    return (
        f"trained on `{data.get('path')}` ({_short_sha(data.get('sha256'))}, "
        f"{data.get('records')} records){run}, {settings}"
    )


def describe_model(record: Mapping[str, Any]) -> str:
    """What a model is, as one Markdown phrase, from a :func:`model_provenance` record.

    The weights (folder or hub id and revision, or the GGUF and its sha256); for
    a model with an adapter, whether the workflow trained it (on which base,
    from which instruction file, with which settings that differ from Table 7)
    or the user supplied it, the adapter's sha256, and whether it is merged
    into the weights (in float32, cast to the run dtype) or kept as LoRA layers.
    The results tables' provenance lines (hence the report) and the
    decision-space summaries use it.
    """
    name = record.get("name")
    weights = _describe_weights(record)
    adapter = record.get("adapter")
    # Records written before adapters were described hold the adapter's path.
    if not isinstance(adapter, Mapping):
        return f"`{name}`: {weights}" + (
            f" with adapter `{adapter}`" if adapter else ""
        )
    kind = f"{adapter.get('peft_type') or 'PEFT'} adapter".replace("LORA", "LoRA")
    identity = [
        f"{key} {adapter[key]}" for key in ("rank", "alpha") if adapter.get(key)
    ]
    identity = ", ".join([*identity, _short_sha(adapter.get("sha256"))])
    training = adapter.get("training")
    if adapter.get("origin") == "workflow" and training is not None:
        base = (training.get("base_model") or {}).get("name")
        text = (
            f"`{name}`: {kind} trained by the workflow on `{base}` ({weights}); "
            f"adapter `{adapter.get('source')}` ({identity})"
        )
    else:
        where = f"`{adapter.get('source')}`"
        if adapter.get("revision"):
            where += f" at revision `{adapter['revision']}`"
        if adapter.get("commit"):
            where += f", commit `{str(adapter['commit'])[:12]}`"
        text = f"`{name}`: user-supplied {kind} {where} ({identity}) on {weights}"
    text += ", " + _describe_application(adapter, record.get("dtype"))
    if training is not None:
        text += "; " + _describe_training(training)
    return text
