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
  :func:`prettyflow.priors.tokens.first_k_tokens`) stays the exact start of the answer.

``"none"`` always concatenates as is (for templates whose answer slot is glued
to the prompt). The "normal" translation template ends with ``"\\n"``: the answer
is the line after the source text.

One template per sample
-----------------------
Table 8 (appendix C.3) prompts each sentence with one of several templates drawn
at random. :func:`draw_template_indices` draws each sample's template from a
generator seeded by ``(seed, sample id)`` alone, so a sample keeps its template
whatever the order or the subset of the other rows; :func:`build_prompts` takes
the list of templates and those indices.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
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


def placeholder_names(
    template: str, allowed: Sequence[str], template_name: str = "template"
) -> list[str]:
    """The named placeholders of a ``str.format`` template, in order of first appearance.

    Raises :class:`InputError` (field = ``template_name``) for a malformed
    template, a positional, indexed or attribute placeholder, a format spec or
    conversion (``{source_text:d}``, ``{source_text!r}``: the values are plain
    text) or a name not in ``allowed``. Shared by the prompt templates and the
    refined-prior options, so that a bad template fails at start-up, not when
    the job that fills it runs.
    """
    if not isinstance(template, str):
        raise InputError(
            f"expected a template string, got {type(template).__name__}",
            field=template_name,
        )
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise InputError(
            f"malformed template ({error}); write literal braces as {{{{ and }}}}",
            field=template_name,
        ) from None
    expected = ", ".join("{" + name + "}" for name in allowed) or "none"
    names: list[str] = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed:
            shown = "{" + name + "}" if name else "{}"
            raise InputError(
                f"unknown placeholder {shown}; expected named placeholders among "
                f"{expected} (write literal braces as {{{{ and }}}})",
                field=template_name,
            )
        if spec or conversion:
            written = "{" + name + (f"!{conversion}" if conversion else "")
            written += (f":{spec}" if spec else "") + "}"
            raise InputError(
                f"placeholder {written} has a format spec or conversion; write "
                f"{{{name}}}: the value is inserted as plain text",
                field=template_name,
            )
        if name not in names:
            names.append(name)
    return names


def template_fields(template: str, template_name: str = "template") -> list[str]:
    """The placeholder names ``template`` uses, in order of first appearance.

    Raises :class:`InputError` (field = ``template_name``) for a malformed
    template, a positional/indexed/attribute placeholder, a format spec or
    conversion, or an unknown name (see :func:`placeholder_names`).
    """
    return placeholder_names(template, PROMPT_FIELDS, template_name)


def task_template_fields(task: str) -> tuple[str, ...]:
    """The placeholders a template of ``task`` may use (for checks at start-up).

    They are the fields the task fills from a data row
    (:meth:`prettyflow.tasks.Task.prompt_fields`, asked about a sample row made
    of its columns), plus ``{demonstration}`` when the task reads one.
    """
    from prettyflow.tasks import TASKS

    task_impl = TASKS.get(task)
    sample_values = {"tokens": ["word"], "tags": ["X"]}
    record = {
        column: sample_values.get(
            column, "xx" if column == "lang" or column.endswith("_lang") else "text"
        )
        for column in task_impl.columns
    }
    fields = list(task_impl.prompt_fields(record, {"xx": "Language"}, 1))
    if "demonstration" in task_impl.decode_inputs({"demonstration": "sample"}):
        fields.append("demonstration")
    return tuple(name for name in PROMPT_FIELDS if name in fields)


# The placeholders that carry a sample's input; a task template needs its task's.
SAMPLE_FIELDS: tuple[str, ...] = ("source_text", "words")


def check_task_template(template: str, task: str, template_name: str) -> list[str]:
    """The placeholders of a ``task`` template; any other one is an :class:`InputError`.

    So is a template without the placeholder of the sample's input
    (``{source_text}``, POS ``{words}``): every sample would get the same prompt.
    """
    allowed = task_template_fields(task)
    names = placeholder_names(template, allowed, template_name)
    inputs = [name for name in SAMPLE_FIELDS if name in allowed]
    if inputs and not set(inputs) & set(names):
        raise InputError(
            f"the template has no {' or '.join('{' + name + '}' for name in inputs)}: "
            "every sample would get the same prompt",
            field=template_name,
        )
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
    path: str | Path | None = None,
) -> str:
    """The constant one-shot demonstration: the task prompt with its answer, then a blank line.

    ``example`` (the JSON object read from ``path``, named in errors) has
    ``source`` and ``reference`` (or CrossSum's ``text`` and ``summary``); it is
    rendered with the same ``template`` (with an empty ``{demonstration}``) and
    the reference joined like a prior, so the demonstration looks exactly like
    the task it precedes.
    """
    if not isinstance(example, Mapping):
        raise InputError(
            f"the demonstration is a JSON {type(example).__name__}; expected an object "
            'with "source" and "reference" (or "text" and "summary")',
            path=path,
            field="demonstration",
        )
    texts: list[str] = []
    for key, crosssum_key in (("source", "text"), ("reference", "summary")):
        name = key if key in example else crosssum_key
        value = example.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InputError(
                f"the demonstration needs a non-empty {key!r} (or {crosssum_key!r}) text",
                path=path,
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


def check_templates(
    templates: Sequence[str], template_name: str = "templates"
) -> list[str]:
    """A non-empty list of valid templates (each checked like a single one).

    Errors name the entry, e.g. ``analysis.prompt_success.templates[3]``.
    """
    if isinstance(templates, str) or not isinstance(templates, Sequence):
        raise InputError(
            f"expected a list of templates, got {type(templates).__name__}",
            field=template_name,
        )
    if not templates:
        raise InputError("expected at least one template", field=template_name)
    checked: list[str] = []
    for index, template in enumerate(templates):
        entry_name = f"{template_name}[{index}]"
        if not isinstance(template, str) or not template.strip():
            raise InputError(
                f"expected a non-empty template string, got {template!r}",
                field=entry_name,
            )
        template_fields(template, entry_name)
        if template in checked:
            # Drawn twice as often as the others, and two rows of one prompt in Table 8.
            raise InputError(
                f"the same template as {template_name}[{checked.index(template)}]; "
                "list each template once",
                field=entry_name,
            )
        checked.append(template)
    return checked


def draw_template_indices(
    sample_ids: Sequence[object], template_count: int, seed: int
) -> list[int]:
    """Each sample's template index in ``range(template_count)``, drawn per sample.

    The generator of a sample is seeded by ``f"{seed}:{sample_id}"`` (Python's
    string seeding hashes it with SHA-512, stable across runs and versions), so a
    sample's draw does not depend on the other rows or their order. Only
    ``random()`` is used, whose sequence Python guarantees for a given seed.
    """
    if isinstance(template_count, bool) or not isinstance(template_count, int):
        raise InputError(
            f"expected a whole number of templates, got {template_count!r}",
            field="templates",
        )
    if template_count < 1:
        raise InputError("expected at least one template", field="templates")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(
            f"expected an integer seed, got {seed!r}", field="template_seed"
        )
    indices = []
    for sample_id in sample_ids:
        generator = random.Random(f"{seed}:{sample_id}")
        indices.append(
            min(int(generator.random() * template_count), template_count - 1)
        )
    return indices


def build_prompts(
    task: str,
    frame: pd.DataFrame,
    template: str | Sequence[str],
    languages: Mapping[str, str],
    prior_texts: Sequence[str | None] | None = None,
    separator_policy: SeparatorPolicy = "auto",
    *,
    demonstration: str | Sequence[str] = "",
    template_name: str = "template",
    template_indices: Sequence[int] | None = None,
) -> list[str]:
    """One prompt per row of ``frame``, each followed by its prior text.

    ``task`` names a registered task, which says which template fields a row
    gives (:meth:`prettyflow.tasks.Task.prompt_fields`). ``languages`` maps codes
    to names. ``prior_texts`` (aligned with the rows; ``None`` or ``""`` = no
    prior) is joined by :func:`join_prompt_and_prior`.

    ``template`` is one template, or a list of templates; then
    ``template_indices`` gives each row's (one index per row, e.g. from
    :func:`draw_template_indices`) and ``demonstration`` may be a list with one
    block per template.
    """
    from prettyflow.tasks import TASKS

    task_impl = TASKS.get(task)
    if prior_texts is not None and len(prior_texts) != len(frame):
        raise InputError(
            f"{len(prior_texts)} prior texts for {len(frame)} samples",
            field="prior_text",
        )
    task_impl.check_columns(frame)
    row_templates, row_names, row_demonstrations = _per_row_templates(
        template, demonstration, template_name, template_indices, len(frame)
    )

    prompts: list[str] = []
    for position, record in enumerate(frame.to_dict("records")):
        fields = task_impl.prompt_fields(record, languages, position + 1)
        fields["demonstration"] = row_demonstrations[position]
        prompt = render_prompt(
            row_templates[position], template_name=row_names[position], **fields
        )
        prior = prior_texts[position] if prior_texts is not None else None
        # None (or a missing value read back from Parquet) means "no prior".
        prior = prior if isinstance(prior, str) else ""
        prompts.append(join_prompt_and_prior(prompt, prior, separator_policy))
    return prompts


def _per_row_templates(
    template: str | Sequence[str],
    demonstration: str | Sequence[str],
    template_name: str,
    template_indices: Sequence[int] | None,
    row_count: int,
) -> tuple[list[str], list[str], list[str]]:
    """Each row's template, its name for errors, and its demonstration block.

    Every template is checked before any row is rendered, so that a bad template
    is reported as such rather than as a bad row.
    """
    if isinstance(template, str):
        if template_indices is not None:
            raise TypeError("template_indices needs a list of templates")
        if not isinstance(demonstration, str):
            raise TypeError("one template takes one demonstration block")
        template_fields(template, template_name)
        return (
            [template] * row_count,
            [template_name] * row_count,
            [demonstration] * row_count,
        )
    templates = check_templates(template, template_name)
    if template_indices is None or len(template_indices) != row_count:
        raise InputError(
            f"{0 if template_indices is None else len(template_indices)} template "
            f"indices for {row_count} samples",
            field="template_index",
        )
    if isinstance(demonstration, str):
        demonstrations = [demonstration] * len(templates)
    elif len(demonstration) == len(templates):
        demonstrations = list(demonstration)
    else:
        raise InputError(
            f"{len(demonstration)} demonstration blocks for {len(templates)} templates",
            field="demonstration",
        )
    for row, index in enumerate(template_indices, start=1):
        if isinstance(index, bool) or not 0 <= int(index) < len(templates):
            raise InputError(
                f"row {row}: template index {index!r} is not in 0..{len(templates) - 1}",
                field="template_index",
            )
    return (
        [templates[int(index)] for index in template_indices],
        [f"{template_name}[{int(index)}]" for index in template_indices],
        [demonstrations[int(index)] for index in template_indices],
    )
