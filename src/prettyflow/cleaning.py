"""Answer cleaning (paper section 4.2): a model's raw output -> the answer that is scored.

"To ensure the integrity of the output data from all models, we standardized the
output by cleaning it in accordance with the specific output style of each model."

A rule is a function ``(text, context) -> text`` registered by name in
:data:`CLEANING_RULES`; ``models.<name>.cleaning`` lists the rules of a model, in
the order they apply, and every system of the model (with or without a prior,
any template) is cleaned with the same list. Without that key a model gets
:data:`DEFAULT_CLEANING`: ``base`` for a foundation model, ``chat`` for an SFT
model (one listed in a family's ``sft``). An empty list scores the raw output.

The rules:

``strip_leading_blank``
    drop the blank lines and whitespace an answer opens with;
``cut_at_stop``
    cut the answer at the first of the task's stop strings that follows its
    first non-blank text (:func:`stop_position`, the rule the decoding loop
    stops by); the answer ends at its last non-blank character before the cut
    (or at its end, when it holds no stop string: EOS or length);
``drop_chat_preamble``
    drop a chat model's announcement of its answer on the answer's line
    ("Sure! Here is the Portuguese translation: ..."): an opener (sure,
    certainly, of course, okay, here), then within the line a word naming the
    answer (the target language, the task's answer word, translat..., summar...)
    and a colon;
``drop_target_label``
    drop a label the answer opens with: the target language's name, alone or
    with the task's answer word, or that word alone, and a colon
    ("Portuguese:", "Portuguese Translation:", "Summary:"). A POS answer (a
    JSON array) opens with ``[`` and is never touched by it.

Cleaning runs when the decode shards are joined (``steps.decode.gather_decode``),
not in the decode jobs: the decode table keeps the raw output (``raw_output``:
the prior and every generated character, the stop string included) beside the
cleaned one (``output``, which the scores, the SFT prior and the analyses read)
and the rules that changed each answer (``cleaned_by``), so changing a model's
rules re-cleans and re-scores its decodes without decoding again. Adding a rule
is a function here and one ``CLEANING_RULES.register`` entry (and its name in
the schema's enum of ``models.<name>.cleaning``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prettyflow.registry import Registry

# The rules of a model without models.<name>.cleaning, by its role.
DEFAULT_CLEANING: dict[str, tuple[str, ...]] = {
    # A foundation model continues the prompt: it may open with a blank line or
    # echo the label its prompt ends with ("Portuguese:").
    "base": ("strip_leading_blank", "cut_at_stop", "drop_target_label"),
    # An SFT (chat) model answers the instruction: it may also announce its answer.
    "chat": (
        "strip_leading_blank",
        "cut_at_stop",
        "drop_chat_preamble",
        "drop_target_label",
    ),
}


# When a stop string ends an answer (:func:`stop_position`). Part of every decode's
# settings (plan.decode.settings) and provenance: decodes made when any stop string
# ended an answer (a leading newline too) are made again.
STOP_AFTER = "the answer's first non-blank text"


def stop_position(text: str, stops: Sequence[str], started: bool = False) -> int | None:
    """Where in ``text`` (an answer) the stop string that ends it starts; None: none does.

    A stop string counts only once the answer has non-blank text: it must end
    after the first non-blank character of ``text``, so that an answer opening
    with a blank line ("\\nO gato ...") is not over before it starts. With
    ``started`` the answer had text before ``text`` (a prior in the prompt) and
    every stop string counts. The earliest counting match wins.
    """
    start = 0 if started else len(text) - len(text.lstrip())
    best: int | None = None
    for stop in stops:
        # The first match that ends after ``start``: it starts at start - len + 1 or later.
        position = text.find(stop, max(0, start - len(stop) + 1))
        if position >= 0 and (best is None or position < best):
            best = position
    return best


@dataclass(frozen=True)
class AnswerContext:
    """What the rules know of an answer besides its text (the same for a whole decode)."""

    # The task's stop strings (tasks.<task>.stop).
    stop: tuple[str, ...] = ()
    # The target language's name, as the prompts write it ("Portuguese").
    target_language: str | None = None
    # The task's word for an answer, as a label would write it ("Translation").
    answer_words: tuple[str, ...] = ()


CleaningRule = Callable[[str, AnswerContext], str]
CLEANING_RULES: Registry[CleaningRule] = Registry("cleaning rule")


@CLEANING_RULES.register("strip_leading_blank")
def strip_leading_blank(text: str, context: AnswerContext) -> str:
    return text.lstrip()


@CLEANING_RULES.register("cut_at_stop")
def cut_at_stop(text: str, context: AnswerContext) -> str:
    position = stop_position(text, context.stop)
    return (text if position is None else text[:position]).rstrip()


def _alternatives(words: Sequence[str]) -> str:
    # Longest first, so that "Portuguese Translation" wins over "Portuguese".
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


def _label_pattern(context: AnswerContext) -> re.Pattern[str] | None:
    names = [context.target_language] if context.target_language else []
    words = [word for word in context.answer_words if word]
    labels = [f"{name} {word}" for name in names for word in words] + names + words
    if not labels:
        return None
    # The words of a label may be separated by any spaces.
    alternatives = _alternatives(labels).replace(r"\ ", r"[ \t]+")
    return re.compile(rf"(\s*)(?:{alternatives})[ \t]*:\s*", re.IGNORECASE)


@CLEANING_RULES.register("drop_target_label")
def drop_target_label(text: str, context: AnswerContext) -> str:
    pattern = _label_pattern(context)
    match = pattern.match(text) if pattern else None
    return text if match is None else match.group(1) + text[match.end() :]


# How a chat model opens an announcement of its answer.
_PREAMBLE_OPENERS = r"sure|certainly|of course|okay|ok|here"


def _preamble_pattern(context: AnswerContext) -> re.Pattern[str]:
    words = [context.target_language or "", *context.answer_words]
    named = _alternatives([word for word in words if word])
    names = rf"{named}|translat\w*|summar\w*" if named else r"translat\w*|summar\w*"
    return re.compile(
        rf"(\s*)(?:{_PREAMBLE_OPENERS})\b[^\n:]{{0,100}}?\b(?:{names})\b[^\n:]{{0,60}}:[ \t]*",
        re.IGNORECASE,
    )


@CLEANING_RULES.register("drop_chat_preamble")
def drop_chat_preamble(text: str, context: AnswerContext) -> str:
    match = _preamble_pattern(context).match(text)
    return text if match is None else match.group(1) + text[match.end() :]


def answer_context(settings: Mapping[str, Any]) -> AnswerContext:
    """The context of a decode's answers from its cleaning settings (``plan.decode.cleaning_settings``)."""
    return AnswerContext(
        stop=tuple(settings.get("stop") or ()),
        target_language=settings.get("target_language"),
        answer_words=tuple(settings.get("answer_words") or ()),
    )


def clean_answers(
    answers: Sequence[Any], rules: Sequence[str], context: AnswerContext
) -> tuple[list[str], list[list[str]]]:
    """Each answer cleaned by ``rules`` in order, and the rules that changed it.

    A missing answer (None, NaN) is an empty one. A rule changed an answer when
    its text after the rule differs from its text before.
    """
    functions = [(name, CLEANING_RULES.get(name)) for name in rules]
    cleaned: list[str] = []
    changed_by: list[list[str]] = []
    for answer in answers:
        text = answer if isinstance(answer, str) else ""
        changed = []
        for name, rule in functions:
            result = rule(text, context)
            if result != text:
                changed.append(name)
            text = result
        cleaned.append(text)
        changed_by.append(changed)
    return cleaned, changed_by


def cleaning_counts(
    rules: Sequence[str], changed_by: Sequence[Sequence[str]]
) -> dict[str, int]:
    """How many answers each rule changed (every rule named, 0 included)."""
    counts = dict.fromkeys(rules, 0)
    for changed in changed_by:
        for name in changed:
            counts[name] = counts.get(name, 0) + 1
    return counts
