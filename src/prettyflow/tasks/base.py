"""The task interface: what differs between translation, summarization and POS tagging.

A task knows its data columns, the fields its prompt templates are filled with,
what its refined model is given, how an upstream answer becomes a prior, and what
a pseudo prior is for it. Everything else (decoding, scoring through the metric
registry, tables) is shared. Nothing outside a task's own module branches on its
name: the plan and the steps ask the task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.priors.tokens import first_k_tokens


class Task:
    name: ClassVar[str]
    # The columns a data table of this task must have.
    columns: ClassVar[tuple[str, ...]]
    # What the refined model does: "generation" (text -> text) or "tagging".
    refined_kind: ClassVar[str] = "generation"
    # Whether the first unit of an answer can be checked against gold (Table 4).
    prior_accuracy: ClassVar[bool] = False
    # Whether a pseudo prior (bilingual dictionary) is defined for the task.
    pseudo_prior: ClassVar[bool] = True
    # Whether an answer can start with a free word of the target language, so that
    # the control priors (a random modal verb, adverb or token) make sense.
    word_priors: ClassVar[bool] = True
    # The largest k a prior can have (None: any number of tokens).
    max_prior_k: ClassVar[int | None] = None
    # What a label before an answer may call it besides the target language's name
    # ("Portuguese Translation:", "Summary:"), for prettyflow.cleaning's rules.
    answer_words: ClassVar[tuple[str, ...]] = ()

    # -------------------------------------------------------------- languages
    def languages(self, subset: str) -> tuple[str, str]:
        """(source, target) language codes of a subset (``en-pt`` -> en, pt)."""
        source, target = subset.split("-")
        return source, target

    # ----------------------------------------------------------------- prompts
    def check_columns(
        self, frame: pd.DataFrame, path: str | Path | None = None
    ) -> None:
        """``frame`` (read from ``path``, if given) has this task's columns."""
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise InputError(
                f"the {self.name} data has no column(s) {', '.join(missing)}; "
                f"columns found: {', '.join(map(str, frame.columns))}",
                path=path,
                field=missing[0],
            )

    def prompt_fields(
        self, record: Mapping[str, Any], languages: Mapping[str, str], row: int
    ) -> dict[str, str]:
        """Template fields of one data row (``row`` is 1-based, for errors)."""
        raise NotImplementedError

    def decode_inputs(self, settings: Mapping[str, Any]) -> dict[str, str]:
        """Extra files a decode of this task reads (``settings``: tasks.<name>)."""
        return {}

    # ----------------------------------------------------------------- priors
    def refined_inputs(self, frame: pd.DataFrame, options: Mapping[str, Any]) -> list:
        """What the refined model gets per sample (texts, or word lists to tag)."""
        raise NotImplementedError

    def refined_table(self, ids: Sequence[str], outputs: Sequence[Any]) -> pd.DataFrame:
        return pd.DataFrame({"id": list(ids), "output": list(outputs)})

    def prior_texts(
        self,
        frame: pd.DataFrame,
        upstream: pd.DataFrame,
        tokenizer: Any,
        k: int,
    ) -> tuple[list[str], list[list[int]], dict[str, list]]:
        """Prior text and token ids per sample from an upstream table aligned to ``frame``.

        ``upstream`` has an ``output`` column (an answer per sample; None = no
        prior) or, for taggers, ``tags``. Returns texts, ids and extra columns.
        """
        # A missing answer (None; NaN once in a table) is no prior.
        answers = [a if isinstance(a, str) else None for a in upstream["output"]]
        texts, token_ids = first_k_tokens(answers, tokenizer, k)
        return texts, token_ids, {}

    def pseudo_upstream(
        self, paths: Any, benchmark: str, subset: str
    ) -> dict[str, str]:
        """Files the pseudo prior reads besides the dictionary (e.g. keywords)."""
        return {}

    def pseudo_matches(
        self,
        frame: pd.DataFrame,
        lexicon: Mapping[str, str],
        upstream: Mapping[str, pd.DataFrame],
        source_lang: str,
    ) -> list[Any]:
        """Per sample, the :class:`prettyflow.priors.tokens.PseudoMatch` its pseudo prior
        starts with: the covered source word and its translation (None: uncovered)."""
        raise InputError(f"task {self.name!r} has no pseudo prior", field="priors")

    # ----------------------------------------------------------- sample pages
    def sample_texts(self, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
        """What a sample page shows of each data row: its source and its reference."""
        return _texts(frame["source"]), _texts(frame["reference"])

    # ---------------------------------------------------------------- scoring
    def diagnostics(self, scoring: Any) -> dict[str, Any]:
        """Task-specific diagnostics beside the scores (e.g. POS parse failures)."""
        return {}


def _texts(values: Any) -> list[str]:
    return [value if isinstance(value, str) else "" for value in values]
