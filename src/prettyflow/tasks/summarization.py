"""Cross-lingual summarization (CrossSum): article -> one-line summary in another language."""

from __future__ import annotations

from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.priors.keywords import lead_sentence
from prettyflow.priors.tokens import pseudo_prior_keyword_matches
from prettyflow.tasks.base import Task
from prettyflow.tasks.translation import text_fields

# What the refined model reads (option ``input``): the article or its lead sentence.
REFINED_INPUTS = ("source", "lead_sentence")


class Summarization(Task):
    name = "summarization"
    columns = ("id", "source", "reference", "source_lang", "target_lang")
    answer_words = ("Summary",)

    def prompt_fields(self, record, languages, row):
        return text_fields(record, languages, row)

    def decode_inputs(self, settings) -> dict[str, str]:
        # The constant one-shot demonstration (paper section 4.1).
        demonstration = settings.get("demonstration")
        return {"demonstration": demonstration} if demonstration else {}

    def refined_inputs(self, frame: pd.DataFrame, options) -> list[str]:
        text_input = options.get("input", "source")
        if text_input not in REFINED_INPUTS:
            raise InputError(
                f"unknown input {text_input!r}; expected one of {', '.join(REFINED_INPUTS)}",
                field="priors.refined.options.input",
            )
        texts = list(frame["source"])
        if text_input == "lead_sentence":
            texts = [lead_sentence(text) for text in texts]
        return texts

    def pseudo_upstream(
        self, paths: Any, benchmark: str, subset: str
    ) -> dict[str, str]:
        # Pseudo prior: KeyBERT keywords, translated word by word.
        return {
            "keywords": paths.path(
                "keywords", task=self.name, benchmark=benchmark, subset=subset
            )
        }

    def pseudo_matches(self, frame, lexicon, upstream, source_lang):
        from prettyflow.frames import aligned

        keywords = aligned(frame, upstream["keywords"], "the keyword table")
        return pseudo_prior_keyword_matches(
            [list(words) for words in keywords["keywords"]], lexicon, source_lang
        )
