"""Decode step: one (task, benchmark, family, subset, system) -> greedy answers.

:func:`decode` writes what the model wrote (``raw_output``: the prior and the
generated text); :func:`gather_decode` joins the shards and cleans every answer
with the model's rules (:mod:`prettyflow.cleaning`) into ``output``, the answer
the scores and analyses read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from prettyflow.errors import InputError
from prettyflow.frames import aligned
from prettyflow.io import (
    read_json,
    read_parquet,
    read_provenance,
    write_parquet,
    write_text,
)
from prettyflow.steps.shards import (
    gather_summary,
    join_shards,
    shard_provenance,
    shard_rows,
)

if TYPE_CHECKING:
    from prettyflow.backends import ModelBackend

log = logging.getLogger("prettyflow")


def decode(
    data_path: str | Path,
    output_path: str | Path,
    settings: Mapping[str, Any],
    compute: Mapping[str, Any],
    prior_path: str | Path | None = None,
    demonstration_path: str | Path | None = None,
    shard: Mapping[str, Any] | None = None,
    load_model: Callable[..., ModelBackend] | None = None,
) -> pd.DataFrame:
    """Decode one system over one subset (or one shard of it): prompt (+ prior) -> answer.

    ``shard`` (``index``, ``count``, ``size``; see ``Plan.shard_settings``) limits
    the decode to the data rows [index * size, (index + 1) * size); size None
    means the whole subset. :func:`gather_decode` joins the shards and cleans
    the answers.

    A row's ``raw_output`` is its answer as the model wrote it: the prior (the
    answer's start, in the prompt) and every generated character, EOS excluded,
    the stop string included; ``continuation`` is the generated text cut before
    the stop string that ended it. A stop string ends an answer only after the
    answer's first non-blank text, the prior's included.

    ``settings["template"]`` is the one template of every sample. With
    ``settings["templates"]`` (a list) and ``settings["template_seed"]`` instead,
    each sample gets a template drawn by
    :func:`prettyflow.prompts.draw_template_indices` (Table 8's prompt success
    rate); the outputs then have a ``template_index`` column and the provenance
    records the templates and the seed. ``settings["templates_key"]`` (optional,
    e.g. ``analysis.prompt_success.templates``) is the config key errors name.

    The model runs on its backend (``settings["model"]["backend"]``, default
    ``hf``; :mod:`prettyflow.backends`). ``load_model(model_settings, device=,
    threads=)`` returns the loaded model (default: the backend's ``load``; a
    warm worker passes its already loaded model, see :mod:`prettyflow.workers`).

    Long because it is the decode job from start to end (inputs checked, model loaded
    once, batches, shards, provenance, atomic write), each step a call.
    """
    from prettyflow.backends import model_backend
    from prettyflow.cleaning import STOP_AFTER
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

    started = time.perf_counter()
    model = (load_model or model_backend(settings["model"]).load)(
        settings["model"],
        device=compute.get("device", "auto"),
        threads=int(compute.get("threads", 1)),
    )
    log.info(
        "loaded %s on %s (%s) in %.1f s",
        model.name,
        model.device,
        model.dtype,
        time.perf_counter() - started,
    )

    if settings["chat"]:
        # The SFT model gets the same instruction, wrapped in its chat template.
        prompts, prompt_ids = model.render_chat(prompts)
    else:
        prompt_ids = model.encode(prompts)

    started = time.perf_counter()
    generations = model.generate(
        prompt_ids,
        max_new_tokens=settings["max_new_tokens"],
        stop_strings=tuple(settings["stop"]),
        answer_prefixes=prior_texts,
        batch_size=int(compute.get("batch_size", 8)),
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
            "raw_output": [
                prior + g.text for prior, g in zip(priors_used, generations)
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
        "model": model.provenance(),
        "requested_model": dict(settings["model"]),
        "device": model.device,
        "dtype": model.dtype,
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
            "stop_after": STOP_AFTER,
        },
    }
    if templates is not None:
        # Only with a list, so that one-template decodes stay byte-identical.
        provenance["templates"] = templates
        provenance["template_seed"] = settings["template_seed"]
    write_parquet(outputs, output_path, shard_provenance(provenance, shard))
    return outputs


def gather_decode(
    data_path: str | Path,
    shard_paths: list[str | Path],
    output_path: str | Path,
    cleaning: Mapping[str, Any],
    log_path: str | Path | None = None,
) -> pd.DataFrame:
    """The decode table: the shards joined in data order, every answer cleaned.

    ``cleaning`` (``Plan.cleaning_settings``): ``rules``, applied in order to
    each ``raw_output`` (:mod:`prettyflow.cleaning`), and what they need
    (``stop``, ``target_language``, ``answer_words``). Beside ``raw_output`` the
    table gets ``output`` (the cleaned answer) and ``cleaned_by`` (the rules that
    changed it); the provenance gets ``cleaning``. Runs in the Snakemake process
    (a local rule): it writes one summary line to ``log_path``.
    """
    from prettyflow.cleaning import answer_context, clean_answers, cleaning_counts

    joined, provenance = join_shards(data_path, shard_paths)
    if "raw_output" not in joined.columns:
        raise InputError(
            "the decode shards have no raw_output: they were decoded before answers "
            "kept their raw output; delete them and decode again",
            path=shard_paths[0],
            field="raw_output",
        )
    rules = list(cleaning.get("rules") or [])
    cleaned, changed_by = clean_answers(
        list(joined["raw_output"]), rules, answer_context(cleaning)
    )
    position = list(joined.columns).index("raw_output") + 1
    joined.insert(position, "output", cleaned)
    joined.insert(position + 1, "cleaned_by", changed_by)
    provenance["cleaning"] = {
        "rules": rules,
        "model": cleaning.get("model"),
        "stop": list(cleaning.get("stop") or []),
        "target_language": cleaning.get("target_language"),
        "answer_words": list(cleaning.get("answer_words") or []),
    }
    write_parquet(joined, output_path, provenance)
    if log_path is not None:
        counts = cleaning_counts(rules, changed_by)
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        empty = sum(1 for text in cleaned if not text.strip())
        write_text(
            gather_summary(shard_paths, joined, output_path)
            + f"cleaned with {summary or 'no rules'}; {empty} empty answer(s)\n",
            log_path,
        )
    return joined
