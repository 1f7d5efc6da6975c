"""The Hugging Face refined backends: ``hf_seq2seq``, ``hf_causal`` (through the
model backend ``hf``) and ``hf_token_classification``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prettyflow.backends import MODEL_BACKENDS
from prettyflow.backends.base import SEQ2SEQ
from prettyflow.errors import InputError
from prettyflow.priors.refined.base import GENERATION, REQUIRED, TAGGING, RefinedBackend
from prettyflow.prompts import placeholder_names

_SEQ2SEQ_OPTIONS: dict[str, Any] = {
    "model": REQUIRED,
    "revision": None,
    "language_codes": {},
    "target_code_as": "forced_bos",
    "source_prefix": "",
    "batch_size": 16,
    "max_new_tokens": 256,
    "num_beams": 1,
    "device": "auto",
    "dtype": "auto",
}
_CAUSAL_OPTIONS: dict[str, Any] = {
    "model": REQUIRED,
    "revision": None,
    "gguf_file": None,
    "prompt_template": REQUIRED,
    "chat": False,
    "system": None,
    "stop_strings": ["\n"],
    "batch_size": 16,
    "max_new_tokens": 256,
    "device": "auto",
    "dtype": "auto",
}
_TOKEN_CLASSIFICATION_OPTIONS: dict[str, Any] = {
    "model": REQUIRED,
    "revision": None,
    "label_map": None,
    "batch_size": 32,
    "device": "auto",
    "dtype": "auto",
}

# The model backend (prettyflow.backends) of hf_causal and hf_seq2seq.
HF_MODEL_BACKEND = "hf"


def _model_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """A refined backend's options as the model settings a model backend loads."""
    return {"name": str(options["model"]), **options}


def _hf_seq2seq(
    options: Mapping[str, Any],
    texts: list[str],
    ids,
    *,
    source_lang: str,
    target_lang: str,
    **_: Any,
) -> list[str]:
    model = MODEL_BACKENDS.get(HF_MODEL_BACKEND).load(
        _model_settings(options), device=options["device"], architecture=SEQ2SEQ
    )
    return model.generate_seq2seq(
        [options["source_prefix"] + text for text in texts],
        max_new_tokens=int(options["max_new_tokens"]),
        num_beams=int(options["num_beams"]),
        batch_size=int(options["batch_size"]),
        language_codes=options["language_codes"] or {},
        source_lang=source_lang,
        target_lang=target_lang,
        target_code_as=options["target_code_as"],
    )


# ----------------------------------------------------------------------------- hf_causal


# The placeholders of the hf_causal backend's prompt_template.
PROMPT_TEMPLATE_FIELDS = (
    "source",
    "source_lang",
    "target_lang",
    "source_language",
    "target_language",
)


def render_prompt_template(
    template: str,
    source: str,
    source_lang: str,
    target_lang: str,
    languages: Mapping[str, str],
) -> str:
    """Fill ``{source}``, ``{source_lang}``, ``{target_lang}``, ``{source_language}``, ``{target_language}``."""
    placeholder_names(template, PROMPT_TEMPLATE_FIELDS, "options.prompt_template")
    fields = {
        "source": source,
        "source_lang": source_lang,
        "target_lang": target_lang,
        "source_language": languages.get(source_lang, source_lang),
        "target_language": languages.get(target_lang, target_lang),
    }
    return template.format_map(fields)


def _hf_causal(
    options: Mapping[str, Any],
    texts: list[str],
    ids,
    *,
    source_lang: str,
    target_lang: str,
    languages: Mapping[str, str],
    **_: Any,
) -> list[str]:
    model = MODEL_BACKENDS.get(HF_MODEL_BACKEND).load(
        _model_settings(options), device=options["device"]
    )
    prompts = [
        render_prompt_template(
            options["prompt_template"], text, source_lang, target_lang, languages
        )
        for text in texts
    ]
    if options["chat"]:
        prompt_ids = model.render_chat(prompts, system=options["system"]).token_ids
    else:
        prompt_ids = model.encode(prompts)
    generations = model.generate(
        prompt_ids,
        max_new_tokens=int(options["max_new_tokens"]),
        stop_strings=tuple(options["stop_strings"]),
        batch_size=int(options["batch_size"]),
        desc="refined prior",
    )
    return [generation.continuation.strip() for generation in generations]


def _token_classification_tags(
    options: Mapping[str, Any], sentences: list[list[str]], ids, **_: Any
) -> list[list[str]]:
    """Each word gets the label predicted for its first sub-token (words with none get ``X``)."""
    import torch
    from transformers import AutoModelForTokenClassification

    from prettyflow.models import (
        load_pretrained,
        resolve_device,
        resolve_dtype,
        spec_from_settings,
    )

    device = resolve_device(options["device"])
    model, tokenizer = load_pretrained(
        AutoModelForTokenClassification,
        spec_from_settings(_model_settings(options)),
        device,
        resolve_dtype(options["dtype"], device),
    )
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(
            f"{options['model']}: word alignment needs a fast tokenizer (tokenizer.json)",
            field="options.model",
        )
    tokenizer.padding_side = "right"
    id2label = model.config.id2label
    label_map = options["label_map"]
    results: list[list[str]] = [[] for _ in sentences]
    batch_size = int(options["batch_size"])
    nonempty = [index for index, words in enumerate(sentences) if words]
    with torch.inference_mode():
        for start in range(0, len(nonempty), batch_size):
            batch = nonempty[start : start + batch_size]
            encoded = tokenizer(
                [sentences[index] for index in batch],
                is_split_into_words=True,
                truncation=True,
                padding=True,
                return_tensors="pt",
            )
            predictions = model(**encoded.to(device)).logits.argmax(dim=-1).tolist()
            for row, index in enumerate(batch):
                first_label: dict[int, str] = {}
                for position, word_index in enumerate(encoded.word_ids(row)):
                    if word_index is not None and word_index not in first_label:
                        first_label[word_index] = id2label[predictions[row][position]]
                labels = [
                    first_label.get(word_index, "X")
                    for word_index in range(len(sentences[index]))
                ]
                results[index] = [_map_label(label, label_map) for label in labels]
    return results


def _map_label(label: str, label_map: Mapping[str, str] | None) -> str:
    if label_map is None or (label == "X" and label not in label_map):
        return label
    if label not in label_map:
        raise InputError(
            f"model label {label!r} is missing from label_map (known: {sorted(label_map)})",
            field="options.label_map",
        )
    return label_map[label]


SEQ2SEQ_BACKEND = RefinedBackend(frozenset({GENERATION}), _SEQ2SEQ_OPTIONS, _hf_seq2seq)
CAUSAL_BACKEND = RefinedBackend(frozenset({GENERATION}), _CAUSAL_OPTIONS, _hf_causal)
TOKEN_CLASSIFICATION_BACKEND = RefinedBackend(
    frozenset({TAGGING}), _TOKEN_CLASSIFICATION_OPTIONS, _token_classification_tags
)
