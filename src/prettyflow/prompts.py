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

SeparatorPolicy = Literal["auto", "none"]
SEPARATOR_POLICIES: tuple[str, ...] = ("auto", "none")


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


def build_prompts(
    task: str,
    frame: pd.DataFrame,
    template: str,
    languages: Mapping[str, str],
    prior_texts: Sequence[str | None] | None = None,
    separator_policy: SeparatorPolicy = "auto",
    *,
    demonstration: str = "",
    template_name: str = "template",
) -> list[str]:
    """One prompt per row of ``frame``, each followed by its prior text.

    ``task`` names a registered task, which says which template fields a row
    gives (:meth:`prettyflow.tasks.Task.prompt_fields`). ``languages`` maps codes
    to names. ``prior_texts`` (aligned with the rows; ``None`` or ``""`` = no
    prior) is joined by :func:`join_prompt_and_prior`.
    """
    from prettyflow.tasks import TASKS

    task_impl = TASKS.get(task)
    if prior_texts is not None and len(prior_texts) != len(frame):
        raise InputError(
            f"{len(prior_texts)} prior texts for {len(frame)} samples",
            field="prior_text",
        )
    task_impl.check_columns(frame)
    template_fields(template, template_name)  # fail on a bad template before any row

    prompts: list[str] = []
    for position, record in enumerate(frame.to_dict("records")):
        fields = task_impl.prompt_fields(record, languages, position + 1)
        fields["demonstration"] = demonstration
        prompt = render_prompt(template, template_name=template_name, **fields)
        prior = prior_texts[position] if prior_texts is not None else None
        # None (or a missing value read back from Parquet) means "no prior".
        prior = prior if isinstance(prior, str) else ""
        prompts.append(join_prompt_and_prior(prompt, prior, separator_policy))
    return prompts
