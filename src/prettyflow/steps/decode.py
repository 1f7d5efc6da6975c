"""Decode step: one (task, benchmark, family, subset, system) -> greedy answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prettyflow.errors import InputError
from prettyflow.io import read_json, read_parquet, read_provenance, write_parquet
from prettyflow.steps.common import aligned
from prettyflow.steps.shards import shard_provenance, shard_rows

log = logging.getLogger("prettyflow")


def decode(
    data_path: str | Path,
    output_path: str | Path,
    settings: Mapping[str, Any],
    compute: Mapping[str, Any],
    prior_path: str | Path | None = None,
    demonstration_path: str | Path | None = None,
    shard: Mapping[str, Any] | None = None,
    load_model: Callable[..., tuple[Any, Any]] | None = None,
) -> pd.DataFrame:
    """Decode one system over one subset (or one shard of it): prompt (+ prior) -> answer.

    ``shard`` (``index``, ``count``, ``size``; see ``Plan.shard_settings``) limits
    the decode to the data rows [index * size, (index + 1) * size); size None
    means the whole subset. :func:`prettyflow.steps.shards.gather_shards` joins
    the shards.

    ``settings["template"]`` is the one template of every sample. With
    ``settings["templates"]`` (a list) and ``settings["template_seed"]`` instead,
    each sample gets a template drawn by
    :func:`prettyflow.prompts.draw_template_indices` (Table 8's prompt success
    rate); the outputs then have a ``template_index`` column and the provenance
    records the templates and the seed. ``settings["templates_key"]`` (optional,
    e.g. ``analysis.prompt_success.templates``) is the config key errors name.

    ``load_model(spec, device, dtype)`` returns the model and tokenizer
    (default :func:`prettyflow.models.load_model_and_tokenizer`; a warm worker
    passes its already loaded model, see :mod:`prettyflow.workers`).
    """
    import torch

    from prettyflow.decode import chat_prompts, generate_greedy
    from prettyflow.models import (
        load_model_and_tokenizer,
        model_provenance,
        resolve_device,
        resolve_dtype,
        spec_from_settings,
    )
    from prettyflow.prompts import (
        build_prompts,
        check_templates,
        demonstration_block,
        draw_template_indices,
    )

    frame = shard_rows(read_parquet(data_path), shard)
    task = settings["task"]
    languages = settings["languages"]
    template_name = f"{task}.templates.{settings['template_name']}"
    templates = settings.get("templates")
    template_indices: list[int] | None = None
    if templates is not None:
        if settings.get("template") is not None:
            raise InputError(
                "give either one template or a list of templates, not both",
                field="templates",
            )
        # The config key of the list, so that an error points at it.
        template_name = settings.get("templates_key") or template_name
        templates = check_templates(templates, template_name)
        if "template_seed" not in settings:
            raise InputError(
                "a list of templates needs template_seed to draw one per sample",
                field="template_seed",
            )
        template_indices = draw_template_indices(
            list(frame["id"]), len(templates), settings["template_seed"]
        )
    prior_texts = None
    prior_info: dict[str, Any] = {}
    if prior_path is not None:
        priors = aligned(frame, read_parquet(prior_path), "the prior table", prior_path)
        prior_texts = [text or "" for text in priors["prior_text"]]
        prior_info = read_provenance(prior_path)

    def demonstration_for(template: str) -> str:
        if demonstration_path is None:
            return ""
        return demonstration_block(
            read_json(demonstration_path),
            template,
            source_language=languages[settings["source_lang"]],
            target_language=languages[settings["target_lang"]],
            template_name=template_name,
            path=demonstration_path,
        )

    if templates is None:
        prompts = build_prompts(
            task,
            frame,
            settings["template"],
            languages,
            prior_texts,
            demonstration=demonstration_for(settings["template"]),
            template_name=template_name,
        )
    else:
        prompts = build_prompts(
            task,
            frame,
            templates,
            languages,
            prior_texts,
            demonstration=[demonstration_for(template) for template in templates],
            template_name=template_name,
            template_indices=template_indices,
        )

    torch.set_num_threads(int(compute.get("threads", 1)))
    device = resolve_device(compute.get("device", "auto"))
    spec = spec_from_settings(settings["model"])
    dtype = resolve_dtype(spec.dtype, device)
    started = time.perf_counter()
    model, tokenizer = (load_model or load_model_and_tokenizer)(spec, device, dtype)
    log.info(
        "loaded %s on %s (%s) in %.1f s",
        spec.name,
        device,
        dtype,
        time.perf_counter() - started,
    )

    add_special_tokens = True
    if settings["chat"]:
        # The SFT model gets the same instruction, wrapped in its chat template.
        prompts, add_special_tokens = chat_prompts(tokenizer, prompts)

    started = time.perf_counter()
    generations = generate_greedy(
        model,
        tokenizer,
        prompts,
        max_new_tokens=settings["max_new_tokens"],
        stop_strings=tuple(settings["stop"]),
        batch_size=int(compute.get("batch_size", 8)),
        add_special_tokens=add_special_tokens,
        desc=f"{task} {settings['system']}",
    )
    elapsed = time.perf_counter() - started
    new_tokens = sum(g.num_new_tokens for g in generations)
    log.info(
        "decoded %d samples, %d tokens in %.1f s (%.1f tokens/s)",
        len(prompts),
        new_tokens,
        elapsed,
        new_tokens / max(elapsed, 1e-9),
    )

    priors_used = prior_texts or [""] * len(frame)
    columns: dict[str, Any] = {"id": frame["id"]}
    if template_indices is not None:
        columns["template_index"] = template_indices
    outputs = pd.DataFrame(
        {
            **columns,
            "prompt": prompts,
            "prior_text": priors_used,
            "output": [
                (prior + g.continuation).strip()
                for prior, g in zip(priors_used, generations)
            ],
            "continuation": [g.continuation for g in generations],
            "num_new_tokens": [g.num_new_tokens for g in generations],
            # The ids the model read (list<int32>): the decision space
            # teacher-forces on these rather than tokenizing the prompt again.
            "prompt_token_ids": [
                np.asarray(g.prompt_token_ids, dtype=np.int32) for g in generations
            ],
            "new_token_ids": [list(g.token_ids) for g in generations],
            "stopped_by": [g.stopped_by for g in generations],
        }
    )
    provenance = {
        "step": "decode",
        "task": task,
        "benchmark": settings["benchmark"],
        "system": settings["system"],
        "model": model_provenance(
            spec, settings["model"].get("local_dir"), dtype, model=model
        ),
        "requested_model": dict(settings["model"]),
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "template_name": settings["template_name"],
        "template": settings.get("template"),
        "chat_template": settings["chat"],
        "prior_source": settings["prior_source"],
        "k": settings["k"],
        "prior": prior_info,
        "decoding": {
            "strategy": "greedy",
            "max_new_tokens": settings["max_new_tokens"],
            "stop": list(settings["stop"]),
        },
    }
    if templates is not None:
        # Only with a list, so that one-template decodes stay byte-identical.
        provenance["templates"] = templates
        provenance["template_seed"] = settings["template_seed"]
    write_parquet(outputs, output_path, shard_provenance(provenance, shard))
    return outputs
