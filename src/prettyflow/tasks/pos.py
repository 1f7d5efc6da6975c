"""POS tagging (UD v2.5 / XGLUE): a word list -> a JSON array of word/tag pairs."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.pos.data import UPOS_TAGS
from prettyflow.pos.output import parse_tagging_output
from prettyflow.tasks.base import Task
from prettyflow.tasks.translation import language_name

# The first label (k = 1) written as the start of the JSON answer.
POS_PRIOR_TEMPLATE = '[{{"word": {word_json}, "tag": "{tag}"}}'


def pos_prior_text(
    first_word: str, first_tag: str | None, template: str = POS_PRIOR_TEMPLATE
) -> str:
    """The first label written as the start of the JSON answer.

    With the default template: ``[{"word": "Le", "tag": "DET"}``. ``template``
    is a ``str.format`` string with ``{word_json}`` (the word as a JSON string)
    and ``{tag}``. No tag (``None``/``""``) gives ``""``: no prior.
    """
    if not first_tag:
        return ""
    if not isinstance(first_tag, str):
        raise InputError(f"expected a tag string, got {first_tag!r}", field="tag")
    try:
        return template.format(
            word_json=json.dumps(first_word, ensure_ascii=False), tag=first_tag
        )
    except (KeyError, IndexError, ValueError) as error:
        raise InputError(
            f"bad POS prior template ({error!r}); placeholders are {{word_json}} and "
            "{tag}, literal braces are {{ and }}",
            field="pos_prior_template",
        ) from None


def first_tag_from_output(output: str, words: list[str]) -> str | None:
    """The tag a model's POS answer gives the first input word (``None`` if none)."""
    tags = parse_tagging_output(output, list(words)).aligned_tags
    return tags[0] if tags else None


class PosTagging(Task):
    name = "pos"
    columns = ("id", "tokens", "tags", "lang")
    refined_kind = "tagging"
    prior_accuracy = True
    pseudo_prior = False
    word_priors = False  # the answer starts with a JSON tag list, not a word
    max_prior_k = 1  # the prior is the first label, written as the answer's start
    # The answer is a JSON array ("[{..."): no answer word, so the label rule only
    # drops a language name before it ("French: [...").
    answer_words = ()

    def languages(self, subset: str) -> tuple[str, str]:
        return subset, subset  # monolingual: the subset is the language

    def prompt_fields(self, record, languages, row):
        tokens = record["tokens"]
        if tokens is None or len(tokens) == 0:
            raise InputError(f"row {row}: empty word list", field="tokens")
        language = language_name(languages, record["lang"], row, "lang")
        return {
            "source_language": language,
            "target_language": language,
            "words": json.dumps([str(token) for token in tokens], ensure_ascii=False),
            "tags": ", ".join(UPOS_TAGS),
        }

    def refined_inputs(self, frame: pd.DataFrame, options) -> list[list[str]]:
        return [list(tokens) for tokens in frame["tokens"]]

    def refined_table(self, ids, outputs) -> pd.DataFrame:
        return pd.DataFrame({"id": list(ids), "tags": [list(t) for t in outputs]})

    def prior_texts(self, frame, upstream, tokenizer, k):
        # k = 1 label: the first tag, from a tagger's tags or a model's answer.
        if "tags" in upstream.columns:
            first_tags = [
                list(tags)[0] if len(tags) else None for tags in upstream["tags"]
            ]
        else:
            first_tags = [
                first_tag_from_output(output if isinstance(output, str) else "", tokens)
                for output, tokens in zip(upstream["output"], frame["tokens"])
            ]
        texts = [
            pos_prior_text(tokens[0], tag)
            for tokens, tag in zip(frame["tokens"], first_tags)
        ]
        token_ids = [
            list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []
            for text in texts
        ]
        return texts, token_ids, {"prior_tag": first_tags}

    def sample_texts(self, frame):
        # The words, and the gold tags as word/TAG.
        words = [[str(word) for word in tokens] for tokens in frame["tokens"]]
        gold = [
            " ".join(f"{word}/{tag}" for word, tag in zip(sentence, tags))
            for sentence, tags in zip(words, frame["tags"])
        ]
        return [" ".join(sentence) for sentence in words], gold

    def diagnostics(self, scoring: Any) -> dict[str, Any]:
        from prettyflow.metrics.pos import pos_scores

        corpus = pos_scores(scoring)[1]
        return {
            "parse_failure_rate": corpus["parse_failure_rate"],
            "unparsed": corpus["n_unparsed"],
        }
