"""Prompt templates (appendix C.2 of the paper) and prompt + prior joining.

Templates are Python ``str.format`` strings with named placeholders only:

``{source_language}``, ``{target_language}``
    language names (from a code -> name mapping, e.g. ``"pt" -> "Portuguese"``);
``{source_text}``
    the input text (translation and summarization);
``{tags}``
    the UPOS label set, comma separated (POS tagging);
``{words}``
    the POS input word list as a JSON array (``["Le", "chat"]``);
``{demonstration}``
    the constant one-shot demonstration block for summarization (may be empty).

Literal braces are written ``{{`` and ``}}``.

Where the answer starts
-----------------------
Every template ends at the answer slot, so that the prior text is appended to
the rendered prompt and *starts the answer*. The join rule (``"auto"``):

* an empty prior leaves the prompt unchanged (no dangling space);
* if the prompt ends with whitespace (``"...\\n"``) or the prior already starts
  with whitespace, the two are concatenated as they are;
* otherwise one space goes between them, so ``"... Translation:"`` + ``"O gato"``
  gives ``"... Translation: O gato"``: the space a model writes after a colon
  belongs to the boundary, and the prior (stripped of leading whitespace by
  :func:`prettyflow.priors.first_k_tokens`) stays the exact start of the answer.

``"none"`` always concatenates as is (for templates whose answer slot is glued
to the prompt). The "normal" translation template ends with ``"\\n"``: the answer
is the line after the source text.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from typing import Literal

import pandas as pd

from prettyflow.errors import InputError

PROMPT_FIELDS: tuple[str, ...] = (
    "source_language",
    "target_language",
    "source_text",
    "tags",
    "words",
    "demonstration",
)

TASKS: tuple[str, ...] = ("translation", "summarization", "pos")

SeparatorPolicy = Literal["auto", "none"]
SEPARATOR_POLICIES: tuple[str, ...] = ("auto", "none")

# The 17 Universal Dependencies POS labels, the label set of XGLUE's POS task.
UPOS_TAGS: tuple[str, ...] = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)  # fmt: skip

# Names of the languages the paper uses; callers may pass their own mapping.
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "pt": "Portuguese",
    "ru": "Russian",
    "uk": "Ukrainian",
    "zh": "Chinese",
}

PAPER_TEMPLATES: dict[str, str] = {
    # C.2 "Normal": the answer is the line after the source text.
    "translation_normal": (
        "Translate the following sentences from {source_language} to "
        "{target_language}. {source_text}\n"
    ),
    # C.2 "Prompting" (Llama2-7B_PROMPTING).
    "translation_prompting": (
        "{source_language}: {source_text}\n{target_language} Translation:"
    ),
    # C.2 cross-lingual summary, with the constant one-shot demonstration first.
    "summarization": (
        "{demonstration}"
        "Please write a concise summary of the text, return your responses with "
        "one line that cover the key points of the text.\n"
        "Input: {source_text}\n"
        "Output: {target_language} Summary:"
    ),
    # C.2 POS tagging; the answer is a JSON array of {"word": w, "tag": t}.
    "pos": (
        "Please provide the POS tags for each word in the input sentence. The input "
        "will be a list of words from the sentence. The output format should be a "
        "JSON array, where each key-value pair includes a word from the input list "
        "and its corresponding POS tag from the set of labels: [{tags}]\n"
        "Note: Your response should include only a JSON array, presented in the "
        "order that the words appear in the input sentence. Each key-value pair "
        "should contain the word and its POS label.\n"
        "Input: {words}\n"
        "Output:"
    ),
}


def template_fields(template: str, template_name: str = "template") -> list[str]:
    """The placeholder names ``template`` uses, in order of first appearance.

    Raises :class:`InputError` (field = ``template_name``) for a malformed
    template, a positional/indexed/attribute placeholder, or an unknown name.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise InputError(
            f"malformed template ({error}); write literal braces as {{{{ and }}}}",
            field=template_name,
        ) from None
    names: list[str] = []
    for _literal, name, _spec, _conversion in parsed:
        if name is None:
            continue
        if name not in PROMPT_FIELDS:
            raise InputError(
                f"unknown placeholder {{{name}}}; expected named placeholders among "
                f"{', '.join('{' + field + '}' for field in PROMPT_FIELDS)}",
                field=template_name,
            )
        if name not in names:
            names.append(name)
    return names


def render_prompt(
    template: str, *, template_name: str = "template", **fields: str
) -> str:
    """Fill ``template``; fields it does not use are ignored.

    ``template_name`` (e.g. the config key ``prompts.translation``) is named in
    the :class:`InputError` raised for an unknown placeholder or for a placeholder
    this task gives no value (``None`` counts as no value).
    """
    unexpected = sorted(set(fields) - set(PROMPT_FIELDS))
    if unexpected:
        raise TypeError(f"render_prompt() got unknown fields: {', '.join(unexpected)}")
    values: dict[str, str] = {}
    for name in template_fields(template, template_name):
        value = fields.get(name)
        if value is None:
            raise InputError(
                f"placeholder {{{name}}} has no value for this task; available here: "
                f"{', '.join('{' + key + '}' for key, val in fields.items() if val is not None)}",
                field=template_name,
            )
        values[name] = value
    return template.format(**values)


def join_prompt_and_prior(
    prompt: str, prior_text: str, separator_policy: SeparatorPolicy = "auto"
) -> str:
    """Append ``prior_text`` so that it starts the answer (see the module docstring)."""
    if separator_policy not in SEPARATOR_POLICIES:
        raise InputError(
            f"unknown separator policy {separator_policy!r}; expected one of "
            f"{', '.join(SEPARATOR_POLICIES)}",
            field="separator_policy",
        )
    if not prior_text:
        return prompt
    if separator_policy == "none":
        return prompt + prior_text
    if not prompt or prompt[-1].isspace() or prior_text[0].isspace():
        return prompt + prior_text
    return f"{prompt} {prior_text}"


def demonstration_block(
    example: Mapping[str, str],
    template: str,
    *,
    source_language: str,
    target_language: str,
    separator_policy: SeparatorPolicy = "auto",
    template_name: str = "template",
) -> str:
    """The constant one-shot demonstration: the task prompt with its answer, then a blank line.

    ``example`` has ``source`` and ``reference`` (or CrossSum's ``text`` and
    ``summary``); it is rendered with the same ``template`` (with an empty
    ``{demonstration}``) and the reference joined like a prior, so the
    demonstration looks exactly like the task it precedes.
    """
    texts: list[str] = []
    for key, crosssum_key in (("source", "text"), ("reference", "summary")):
        name = key if key in example else crosssum_key
        value = example.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InputError(
                f"the demonstration needs a non-empty {key!r} (or {crosssum_key!r}) text",
                field=f"demonstration.{name}",
            )
        texts.append(value.strip())
    source, reference = texts
    prompt = render_prompt(
        template,
        template_name=template_name,
        source_language=source_language,
        target_language=target_language,
        source_text=source,
        demonstration="",
    )
    return join_prompt_and_prior(prompt, reference, separator_policy) + "\n\n"


def _language_name(
    languages: Mapping[str, str], code: object, row: int, column: str
) -> str:
    name = languages.get(code) if isinstance(code, str) else None
    if not name:
        raise InputError(
            f"row {row}: no language name for code {code!r}; known codes: "
            f"{', '.join(sorted(languages))}",
            field=column,
        )
    return name


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], task: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InputError(
            f"the {task} data has no column(s) {', '.join(missing)}; "
            f"columns found: {', '.join(map(str, frame.columns))}",
            field=missing[0],
        )


def build_prompts(
    task: str,
    frame: pd.DataFrame,
    template: str,
    languages: Mapping[str, str] | None = None,
    prior_texts: Sequence[str | None] | None = None,
    separator_policy: SeparatorPolicy = "auto",
    *,
    demonstration: str = "",
    pos_labels: Sequence[str] = UPOS_TAGS,
    template_name: str = "template",
) -> list[str]:
    """One prompt per row of ``frame``, each followed by its prior text.

    ``task`` is ``translation`` / ``summarization`` (columns ``source``,
    ``source_lang``, ``target_lang``) or ``pos`` (``tokens``, ``lang``; the
    language is both source and target). ``languages`` maps codes to names
    (default :data:`LANGUAGE_NAMES`). ``prior_texts`` (aligned with the rows;
    ``None`` or ``""`` = no prior) is joined by :func:`join_prompt_and_prior`.
    """
    if task not in TASKS:
        raise InputError(
            f"unknown task {task!r}; expected one of {', '.join(TASKS)}", field="task"
        )
    languages = LANGUAGE_NAMES if languages is None else languages
    if prior_texts is not None and len(prior_texts) != len(frame):
        raise InputError(
            f"{len(prior_texts)} prior texts for {len(frame)} samples",
            field="prior_text",
        )
    if task == "pos":
        _require_columns(frame, ("tokens", "lang"), task)
    else:
        _require_columns(frame, ("source", "source_lang", "target_lang"), task)
    template_fields(template, template_name)  # fail on a bad template before any row
    tags = ", ".join(pos_labels)

    prompts: list[str] = []
    for position, record in enumerate(frame.to_dict("records")):
        row = position + 1
        if task == "pos":
            tokens = record["tokens"]
            if tokens is None or len(tokens) == 0:
                raise InputError(f"row {row}: empty word list", field="tokens")
            language = _language_name(languages, record["lang"], row, "lang")
            fields = {
                "source_language": language,
                "target_language": language,
                "words": json.dumps(
                    [str(token) for token in tokens], ensure_ascii=False
                ),
                "tags": tags,
                "demonstration": demonstration,
            }
        else:
            source = record["source"]
            if not isinstance(source, str) or not source.strip():
                raise InputError(f"row {row}: empty source text", field="source")
            fields = {
                "source_language": _language_name(
                    languages, record["source_lang"], row, "source_lang"
                ),
                "target_language": _language_name(
                    languages, record["target_lang"], row, "target_lang"
                ),
                "source_text": source,
                "demonstration": demonstration,
            }
        prompt = render_prompt(template, template_name=template_name, **fields)
        prior = prior_texts[position] if prior_texts is not None else None
        # None (or a missing value read back from Parquet) means "no prior".
        prior = prior if isinstance(prior, str) else ""
        prompts.append(join_prompt_and_prior(prompt, prior, separator_policy))
    return prompts
