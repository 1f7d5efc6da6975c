"""The ``spacy`` refined backend: a spaCy pipeline's ``token.pos_`` on the given words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.priors.refined.base import REQUIRED, TAGGING, RefinedBackend


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


BACKEND = RefinedBackend(
    frozenset({TAGGING}), {"model": REQUIRED, "batch_size": 64}, _spacy_tags
)
