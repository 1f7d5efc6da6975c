"""Score step: per-sample and corpus scores of one decode, through the metric registry."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.cleaning import cleaning_counts
from prettyflow.errors import InputError
from prettyflow.frames import aligned
from prettyflow.io import (
    atomic_paths,
    read_parquet,
    read_provenance,
    write_json,
    write_parquet,
)
from prettyflow.metrics import METRICS
from prettyflow.metrics.comet import score_comet as comet_scores
from prettyflow.metrics.scoring import Scoring
from prettyflow.paths import SACREBLEU_DIR
from prettyflow.tasks import TASKS

# What the score step reads from a decode table (the comet step only the first two).
DECODE_COLUMNS = ("id", "output", "num_new_tokens", "stopped_by")


def _check_unique_ids(frame: pd.DataFrame, path: str | Path, what: str) -> None:
    if "id" not in frame.columns:
        raise InputError(f"the {what} has no 'id' column", path=path, field="id")
    missing = frame["id"].isna()
    if missing.any():
        raise InputError(
            f"the {what} has no id in row {int(missing.to_numpy().argmax()) + 1}",
            path=path,
            field="id",
        )
    repeated = frame["id"][frame["id"].duplicated()]
    if len(repeated):
        raise InputError(
            f"the {what} repeats id {repeated.iloc[0]!r} (row {repeated.index[0] + 1})",
            path=path,
            field="id",
        )


def _data_and_outputs(
    data_path: str | Path,
    decodes_path: str | Path,
    columns: tuple[str, ...] = DECODE_COLUMNS,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The data, the decodes in the data's order, and the outputs as strings.

    A missing output (None/NaN, e.g. a failed generation) is an empty answer,
    scored as such; any other non-text output is an error naming its row.
    """
    data = read_parquet(data_path, "data table")
    _check_unique_ids(data, data_path, "data table")
    if data.empty:  # the data steps never write one; the metrics would divide by 0
        raise InputError("the data table has no rows: nothing to score", path=data_path)
    decodes = read_parquet(decodes_path, "decode table")
    missing = [column for column in columns if column not in decodes.columns]
    if missing:
        raise InputError(
            f"the decode table has no column(s) {', '.join(missing)}; expected "
            f"{', '.join(columns)}",
            path=decodes_path,
            field=missing[0],
        )
    _check_unique_ids(decodes, decodes_path, "decode table")
    decodes = aligned(data, decodes, "the decodes", decodes_path)
    outputs = []
    for row, (sample_id, text) in enumerate(zip(decodes["id"], decodes["output"]), 1):
        if isinstance(text, str):
            outputs.append(text)
        elif text is None or (isinstance(text, float) and math.isnan(text)):
            outputs.append("")
        else:
            raise InputError(
                f"sample {sample_id!r} (row {row} in data order): expected a text "
                f"or null, got {type(text).__name__} {text!r}",
                path=decodes_path,
                field="output",
            )
    if "num_new_tokens" in columns:
        counts = pd.to_numeric(decodes["num_new_tokens"], errors="coerce")
        bad = decodes["num_new_tokens"][
            counts.isna() & decodes["num_new_tokens"].notna()
        ]
        if len(bad):
            raise InputError(
                f"expected a number of tokens, got {bad.iloc[0]!r}",
                path=decodes_path,
                field="num_new_tokens",
            )
        decodes["num_new_tokens"] = counts
    return data, decodes, outputs


def cleaning_diagnostics(
    decodes: pd.DataFrame, provenance: Mapping[str, Any], outputs: list[str]
) -> dict[str, Any]:
    """How the decode's answers were cleaned: ``{"cleaning": {rules, changed, emptied}}``.

    ``changed``: per rule, how many answers it changed; ``emptied``: how many
    answers with text before cleaning have none after (``empty_outputs`` counts
    every empty answer). Nothing for a decode table without cleaning (no
    ``cleaned_by`` column or no ``cleaning`` in its provenance).
    """
    cleaning = provenance.get("cleaning")
    if not isinstance(cleaning, Mapping) or "cleaned_by" not in decodes.columns:
        return {}
    rules = [str(rule) for rule in cleaning.get("rules") or []]
    changed_by = [
        [str(rule) for rule in changed] if _is_list(changed) else []
        for changed in decodes["cleaned_by"]
    ]
    emptied = 0
    if "raw_output" in decodes.columns:
        emptied = sum(
            1
            for raw, text in zip(decodes["raw_output"], outputs)
            if isinstance(raw, str) and raw.strip() and not text.strip()
        )
    return {
        "cleaning": {
            "rules": rules,
            "changed": cleaning_counts(rules, changed_by),
            "emptied": emptied,
        }
    }


def _is_list(value: Any) -> bool:
    # A list column comes back from Parquet as numpy arrays.
    return hasattr(value, "__len__") and not isinstance(value, (str, bytes, dict))


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
    The per-sample Parquet keeps every column the scorers return, e.g.
    ``bleu:stats``, the sufficient statistics that :mod:`prettyflow.bootstrap`
    resamples for confidence intervals.
    """
    data, decodes, outputs = _data_and_outputs(data_path, decodes_path)
    task = TASKS.get(settings["task"])
    task.check_columns(data, path=data_path)
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
        try:
            per_sample, entry = METRICS.get(name).load()(
                scoring, metric_settings.get(name) or {}
            )
        except InputError as error:
            if error.path is not None:
                raise
            # A metric's complaint about a text names its row of the data table.
            row = "" if error.line is None else f"row {error.line}: "
            raise InputError(
                f"{name}: {row}{error.message}", path=data_path, field=error.field
            ) from None
        for column in per_sample.columns:
            columns.setdefault(column, list(per_sample[column]))
        corpus[name] = entry
    decode_provenance = read_provenance(decodes_path)
    diagnostics: dict[str, Any] = {
        "samples": len(outputs),
        "empty_outputs": sum(1 for text in outputs if not text.strip()),
        "mean_new_tokens": float(decodes["num_new_tokens"].mean())
        if decodes["num_new_tokens"].notna().any()
        else 0.0,
        "stopped_by": {
            str(k): int(v) for k, v in decodes["stopped_by"].value_counts().items()
        },
        **cleaning_diagnostics(decodes, decode_provenance, outputs),
        **task.diagnostics(scoring),
    }
    result = {
        "task": settings["task"],
        "benchmark": settings["benchmark"],
        "system": decode_provenance.get("system"),
        "subset": settings["subset"],
        "scores": corpus,
        "diagnostics": diagnostics,
        "provenance": decode_provenance,
    }
    # Both files or neither: a per-sample table without its corpus scores would
    # look done to Snakemake.
    with atomic_paths(samples_path, corpus_path) as (samples_tmp, corpus_tmp):
        write_parquet(
            pd.DataFrame(columns),
            samples_tmp,
            {"step": "score", "metrics": corpus, "decode": decode_provenance},
        )
        write_json(result, corpus_tmp)
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
    data, _, outputs = _data_and_outputs(data_path, decodes_path, DECODE_COLUMNS[:2])
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
