"""Score step: per-sample and corpus scores of one decode, through the metric registry."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.io import read_parquet, read_provenance, write_json, write_parquet
from prettyflow.paths import SACREBLEU_DIR
from prettyflow.steps.common import aligned


def score(
    data_path: str | Path,
    decodes_path: str | Path,
    samples_path: str | Path,
    corpus_path: str | Path,
    settings: Mapping[str, Any],
    inputs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Per-sample and corpus scores of one decode, with each metric's signature.

    ``settings``: task, benchmark, subset, target_lang, metrics (names) and
    metric_settings (each metric's ``metrics.<name>`` config); ``inputs``: files
    written by metrics that run in an environment of their own (e.g. ``comet``).
    """
    from prettyflow.metrics import METRICS
    from prettyflow.metrics.scoring import Scoring
    from prettyflow.tasks import TASKS

    data = read_parquet(data_path)
    decodes = aligned(data, read_parquet(decodes_path), "the decodes", decodes_path)
    # A missing output (None/NaN) is an empty answer, scored as such.
    outputs = [text if isinstance(text, str) else "" for text in decodes["output"]]
    metrics = list(settings["metrics"])
    scoring = Scoring(
        data=data,
        outputs=outputs,
        target_lang=settings["target_lang"],
        inputs=dict(inputs or {}),
        sacrebleu_dir=SACREBLEU_DIR,
    )
    columns: dict[str, Any] = {"id": list(data["id"])}
    corpus: dict[str, dict[str, Any]] = {}
    metric_settings = settings.get("metric_settings", {})
    for name in metrics:
        per_sample, entry = METRICS.get(name).load()(
            scoring, metric_settings.get(name) or {}
        )
        for column in per_sample.columns:
            columns.setdefault(column, list(per_sample[column]))
        corpus[name] = entry
    diagnostics: dict[str, Any] = {
        "samples": len(outputs),
        "empty_outputs": sum(1 for text in outputs if not text.strip()),
        "mean_new_tokens": float(decodes["num_new_tokens"].mean())
        if len(decodes)
        else 0.0,
        "stopped_by": {
            str(k): int(v) for k, v in decodes["stopped_by"].value_counts().items()
        },
        **TASKS.get(settings["task"]).diagnostics(scoring),
    }
    decode_provenance = read_provenance(decodes_path)
    write_parquet(
        pd.DataFrame(columns),
        samples_path,
        {"step": "score", "metrics": corpus, "decode": decode_provenance},
    )
    result = {
        "task": settings["task"],
        "benchmark": settings["benchmark"],
        "system": decode_provenance.get("system"),
        "subset": settings["subset"],
        "scores": corpus,
        "diagnostics": diagnostics,
        "provenance": decode_provenance,
    }
    write_json(result, corpus_path)
    return result


def score_comet(
    data_path: str | Path,
    decodes_path: str | Path,
    output_path: str | Path,
    settings: Mapping[str, Any],
    compute: Mapping[str, Any],
) -> pd.DataFrame:
    """COMET per sample (0-100) of one decode, or NaN with the reason it was not computed.

    ``settings``: ``checkpoint``; ``compute``: batch_size, gpu and the COMET
    interpreter (``python``), which change speed or place, not the scores.
    """
    from prettyflow.metrics.comet import score_comet as comet_scores

    data = read_parquet(data_path)
    decodes = aligned(data, read_parquet(decodes_path), "the decodes", decodes_path)
    outputs = [text if isinstance(text, str) else "" for text in decodes["output"]]
    scores, entry = comet_scores(
        list(data["source"]),
        outputs,
        list(data["reference"]),
        checkpoint=settings["checkpoint"],
        batch_size=int(compute.get("batch_size", 8)),
        gpus=int(compute.get("gpu", 0)),
        python=compute.get("python"),
    )
    table = pd.DataFrame(
        {
            "id": list(data["id"]),
            "comet": scores if scores is not None else [float("nan")] * len(data),
        }
    )
    write_parquet(table, output_path, {"step": "comet", "entry": entry})
    return table
