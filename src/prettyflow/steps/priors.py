"""Prior steps: refined-model outputs, KeyBERT keywords, prior files per (source, k)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.backends import model_backend
from prettyflow.io import read_parquet, write_parquet
from prettyflow.priors import tokens as priors
from prettyflow.priors.keywords import default_keybert_model
from prettyflow.priors.keywords import extract_keywords as keybert_keywords
from prettyflow.priors.refined import (
    REFINED_BACKENDS,
    TASK_OPTIONS,
    fill_subset_options,
    run_refined,
)
from prettyflow.priors.sources import PRIOR_SOURCES
from prettyflow.steps.shards import shard_provenance, shard_rows
from prettyflow.tasks import TASKS


def run_refined_model(
    data_path: str | Path,
    output_path: str | Path,
    settings: Mapping[str, Any],
    compute: Mapping[str, Any],
    shard: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Outputs of the smaller task model (or a file of them), one per sample id.

    ``shard`` (``index``, ``count``, ``size``; see :mod:`prettyflow.plan.compute`)
    limits the run to the data rows [index * size, (index + 1) * size), as a decode's;
    :func:`prettyflow.steps.shards.gather_shards` joins the shards.
    """
    task = TASKS.get(settings["task"])
    frame = shard_rows(read_parquet(data_path), shard)
    options = fill_subset_options(
        settings["options"] or {}, settings["subset"], settings["benchmark"]
    )
    inputs = task.refined_inputs(frame, options)
    for key in TASK_OPTIONS:
        options.pop(key, None)
    accepted = REFINED_BACKENDS.get(settings["backend"]).options
    for key in ("device", "batch_size"):
        if key in accepted and key not in options and key in compute:
            options[key] = compute[key]
    ids = list(frame["id"])
    outputs = run_refined(
        settings["backend"],
        task.refined_kind,
        options,
        inputs,
        ids,
        settings["source_lang"],
        settings["target_lang"],
        settings["languages"],
    )
    table = task.refined_table(ids, outputs)
    provenance = {"step": "refined", **dict(settings)}
    write_parquet(table, output_path, shard_provenance(provenance, shard))
    return table


def extract_keywords(
    data_path: str | Path, output_path: str | Path, settings: Mapping[str, Any]
) -> pd.DataFrame:
    frame = read_parquet(data_path)
    model = settings.get("model") or default_keybert_model()
    keywords = keybert_keywords(list(frame["source"]), model, top_n=settings["top_n"])
    table = pd.DataFrame({"id": frame["id"], "keywords": keywords})
    write_parquet(
        table,
        output_path,
        {"step": "keywords", "model": str(model), "top_n": settings["top_n"]},
    )
    return table


def build_prior(
    data_path: str | Path,
    output_path: str | Path,
    settings: Mapping[str, Any],
    inputs: Mapping[str, str],
) -> pd.DataFrame:
    """One prior file: (task, benchmark, family, subset, source, k) -> text and token ids.

    ``inputs`` are the source's named upstream files
    (:meth:`prettyflow.priors.sources.PriorSource.upstream`). ``settings`` has
    ``task``, ``source``, ``k``, ``source_lang``, ``tokenizer`` (the foundation
    model's settings) and, for control sources, ``target_lang``, ``seed`` and
    ``options``.
    """
    frame = read_parquet(data_path)
    task = TASKS.get(settings["task"])
    source, k = settings["source"], settings["k"]
    tokenizer = model_backend(settings["tokenizer"]).load_tokenizer(
        settings["tokenizer"]
    )
    prior_source = PRIOR_SOURCES.get(source)
    upstream, extra = prior_source.answers(frame, inputs, settings, tokenizer=tokenizer)
    texts, token_ids, columns = task.prior_texts(frame, upstream, tokenizer, k)
    table = priors.build_prior_table(list(frame["id"]), texts, token_ids, source, k)
    for name, values in columns.items():
        table[name] = values
    table["prior_answer"] = priors.prior_answers(upstream)
    for name in prior_source.recorded_columns:  # e.g. a control source's drawn word
        table[name] = upstream[name].array
    provenance = priors.prior_provenance(
        source,
        k,
        settings["tokenizer"]["name"],
        [str(path) for path in inputs.values()],
        task=task.name,
        **extra,
    )
    write_parquet(table, output_path, provenance)
    return table
