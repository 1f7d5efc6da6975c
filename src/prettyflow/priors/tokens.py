"""Prior tokens (paper sections 3.3 and 4.1): SFT, refined and pseudo priors.

* SFT and refined priors are the first ``k`` tokens (k = 2 for translation and
  summarization) of another model's answer, cut with the *foundation* model's
  tokenizer: :func:`first_k_tokens`.
* Pseudo priors (no labelled data): the target-side dictionary equivalent of the
  first source word the dictionary covers (translation, :func:`pseudo_prior_words`)
  or of the first covered word of the KeyBERT keywords (summarization,
  :func:`pseudo_prior_from_keywords`); then only its first token (k = 1, as in the
  paper): ``first_k_tokens(words, tokenizer, 1)``. An uncovered sample gets no
  prior (``None`` -> ``""``): it is decoded like the foundation model alone, and
  :func:`coverage_stats` counts how often that happens. Which source word (and
  keyword) the word came from is a :class:`PseudoMatch`
  (:func:`pseudo_prior_matches`), recorded in the prior file.
* POS priors are the first label (k = 1) written as the start of the JSON
  answer: :func:`prettyflow.tasks.pos.pos_prior_text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.text import normalize_word

# Languages written without spaces between words: their text is segmented by
# greedy longest match against the dictionary's source words.
SPACELESS_LANGUAGES = frozenset({"zh", "ja", "th"})

# Han, kana and Thai characters: the scripts of SPACELESS_LANGUAGES.
SPACELESS_CHARACTERS = (
    r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    r"\U00020000-\U0003134f]"
)
_SPACELESS = re.compile(SPACELESS_CHARACTERS)
# A word: a run of spaceless-script characters, or a run of other word characters,
# so that "iPhone手机" is "iphone" + "手机".
_WORD = re.compile(rf"{SPACELESS_CHARACTERS}+|(?:(?!{SPACELESS_CHARACTERS})\w)+")

_REPLACEMENT_CHARACTER = "\ufffd"


# --------------------------------------------------------------------------- #
# First k tokens of an answer
# --------------------------------------------------------------------------- #


def first_k_tokens(
    texts: Sequence[str | None], tokenizer: Any, k: int | None
) -> tuple[list[str], list[list[int]]]:
    """The first ``k`` tokens of each text, as text and as token ids.

    Each text is an answer: its leading whitespace is stripped (the prompt join
    supplies the boundary, see :mod:`prettyflow.prompts`), it is tokenized
    without special tokens, and the first ``k`` ids (all of them when ``k`` is
    None) are decoded. The prior text is made an exact prefix of the answer:

    * when the k-th token ends inside a character (byte-level BPE or byte
      fallback splitting "ã" or "猫" into bytes), the following tokens are added
      until the character is complete, so more than ``k`` ids may be returned;
      likewise while the prefix decodes to whitespace only (SentencePiece's lone
      "▁" before byte-fallback pieces);
    * when decoding does not give back a prefix (a normalizer, unknown tokens),
      the answer is cut at the character offset where the k-th token ends.

    ``None`` or empty texts give ``""`` and ``[]``. The ids are those of the
    answer tokenized alone; inside a prompt the boundary token may differ.
    """
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise InputError(f"expected a positive number of tokens, got {k!r}", field="k")
    prior_texts: list[str] = []
    prior_token_ids: list[list[int]] = []
    for position, text in enumerate(texts):
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise InputError(
                f"row {position + 1}: expected a text, got {type(text).__name__}",
                field="text",
            )
        answer = text.lstrip()
        ids = (
            list(tokenizer(answer, add_special_tokens=False)["input_ids"])
            if answer
            else []
        )
        if not ids:
            prior_texts.append("")
            prior_token_ids.append([])
            continue
        count = len(ids) if k is None else min(k, len(ids))
        decoded = _decode(tokenizer, ids[:count])
        # Complete a character split across tokens; a prefix that decodes to
        # nothing visible (a lone "▁" word-boundary piece) guides nothing.
        while count < len(ids) and (
            not decoded.strip()
            or (
                decoded.endswith(_REPLACEMENT_CHARACTER)
                and not answer.startswith(decoded)
            )
        ):
            count += 1
            decoded = _decode(tokenizer, ids[:count])
        prior_texts.append(_as_prefix(tokenizer, answer, decoded, count))
        prior_token_ids.append([int(token_id) for token_id in ids[:count]])
    return prior_texts, prior_token_ids


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(
        list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False
    )


def _as_prefix(tokenizer: Any, answer: str, decoded: str, count: int) -> str:
    """``decoded`` as an exact prefix of ``answer`` when that can be found."""
    if answer.startswith(decoded):
        return decoded
    # A tokenizer that adds a prefix space decodes "O" as " O".
    if decoded.lstrip() and answer.startswith(decoded.lstrip()):
        return decoded.lstrip()
    # The tokenizer changed the text (normalizer, unknown tokens): cut the answer
    # where the count-th token ends. Needs a fast tokenizer's offsets.
    try:
        offsets = tokenizer(
            answer, add_special_tokens=False, return_offsets_mapping=True
        )["offset_mapping"]
    except (NotImplementedError, KeyError, TypeError, ValueError):
        return decoded
    end = max((stop for _start, stop in offsets[:count]), default=0)
    return answer[:end] if end > 0 else decoded


# --------------------------------------------------------------------------- #
# Pseudo priors from a bilingual dictionary
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class PseudoMatch:
    """Where a pseudo prior word comes from.

    ``source_word``: the word of the source text (or keyword) the dictionary
    covers, as looked up (NFC, case-folded); ``lexicon_key``: the key of the
    lexicon mapping it matched (the dictionary's ``source_key``);
    ``target_word``: its translation, which the prior is cut from; ``keyword``:
    the keyword holding the word (summarization), None for a source text.
    """

    source_word: str
    lexicon_key: str
    target_word: str
    keyword: str | None = None


class _Lexicon:
    """Lookup view of a ``source key -> target word`` mapping."""

    def __init__(self, lexicon: Mapping[str, str]):
        self.entries: dict[str, str] = {}
        self.keys: dict[str, str] = {}  # normalized key -> the mapping's own key
        for source_word, target_word in lexicon.items():
            if not isinstance(source_word, str) or not isinstance(target_word, str):
                continue
            key, target = normalize_word(source_word.strip()), target_word.strip()
            # The mapping's order is its priority: keep the first translation.
            if key and target and key not in self.entries:
                self.entries[key] = target
                self.keys[key] = source_word
        # Longest spaceless key, bounding the greedy segmentation's window.
        self.max_spaceless_length = max(
            (len(key) for key in self.entries if _SPACELESS.search(key)), default=1
        )

    def words(self, text: str, spaceless: bool) -> Iterator[str]:
        """The words of ``text`` (normalized) in order."""
        for match in _WORD.finditer(normalize_word(text)):
            run = match.group()
            if spaceless and _SPACELESS.match(run):
                yield from self._segment(run)
            else:
                yield run

    def _segment(self, run: str) -> Iterator[str]:
        """Greedy longest-match segmentation; uncovered characters come out alone."""
        start = 0
        while start < len(run):
            for length in range(
                min(self.max_spaceless_length, len(run) - start), 0, -1
            ):
                candidate = run[start : start + length]
                if length == 1 or candidate in self.entries:
                    yield candidate
                    start += length
                    break

    def first_covered(
        self, texts: Sequence[str], spaceless: bool, keywords: bool = False
    ) -> PseudoMatch | None:
        """The first covered source word in ``texts``, in order (``keywords``: the
        texts are keywords, named in the match)."""
        for text in texts:
            for word in self.words(text, spaceless):
                target = self.entries.get(word)
                if target is not None:
                    return PseudoMatch(
                        word, self.keys[word], target, text if keywords else None
                    )
        return None


def _is_spaceless(source_lang: str | None) -> bool:
    if not source_lang:
        return False
    return re.split(r"[-_]", source_lang.strip().lower())[0] in SPACELESS_LANGUAGES


def pseudo_prior_matches(
    source_texts: Sequence[str | None], lexicon: Mapping[str, str], source_lang: str
) -> list[PseudoMatch | None]:
    """Translation pseudo prior: back-off to the first source word the dictionary covers.

    Words are Unicode ``\\w+`` runs, NFC and case-folded (so are the lexicon's
    keys); for zh, ja and th, runs of Han/kana/Thai characters are segmented by
    greedy longest match against the lexicon's keys. Returns the match (the word
    and its translation), or ``None`` when no word is covered (no prior for that
    sample). The prior itself is the first token of the translation:
    ``first_k_tokens(words, tokenizer, 1)``.
    """
    index = _Lexicon(lexicon)
    spaceless = _is_spaceless(source_lang)
    return [
        index.first_covered([text], spaceless) if isinstance(text, str) else None
        for text in source_texts
    ]


def pseudo_prior_keyword_matches(
    keyword_lists: Sequence[Sequence[str] | None],
    lexicon: Mapping[str, str],
    source_lang: str | None = None,
) -> list[PseudoMatch | None]:
    """Summarization pseudo prior: the first covered word of the keywords.

    Keywords come ordered by relevance (:func:`prettyflow.priors.keywords.extract_keywords`)
    and are translated word by word: the prior word is the target equivalent of
    the first word, in keyword order and then word order within a multi-word
    keyword, that the dictionary covers (the same back-off as translation).
    ``None`` when none is covered.
    """
    index = _Lexicon(lexicon)
    spaceless = _is_spaceless(source_lang)
    return [
        (
            index.first_covered(
                [keyword for keyword in keywords if isinstance(keyword, str)],
                spaceless,
                keywords=True,
            )
            if keywords is not None
            else None
        )
        for keywords in keyword_lists
    ]


def matched_words(matches: Sequence[PseudoMatch | None]) -> list[str | None]:
    """The target word of each match (the word a pseudo prior is cut from)."""
    return [None if match is None else match.target_word for match in matches]


def pseudo_prior_words(
    source_texts: Sequence[str | None], lexicon: Mapping[str, str], source_lang: str
) -> list[str | None]:
    """The target words of :func:`pseudo_prior_matches`."""
    return matched_words(pseudo_prior_matches(source_texts, lexicon, source_lang))


def pseudo_prior_from_keywords(
    keyword_lists: Sequence[Sequence[str] | None],
    lexicon: Mapping[str, str],
    source_lang: str | None = None,
) -> list[str | None]:
    """The target words of :func:`pseudo_prior_keyword_matches`."""
    return matched_words(
        pseudo_prior_keyword_matches(keyword_lists, lexicon, source_lang)
    )


def coverage_stats(prior_words: Sequence[str | None]) -> dict[str, int | float]:
    """How many samples got a pseudo prior word (``None``/``""`` = not covered)."""
    samples = len(prior_words)
    covered = sum(1 for word in prior_words if isinstance(word, str) and word)
    return {
        "samples": samples,
        "covered": covered,
        "uncovered": samples - covered,
        "coverage": covered / samples if samples else 0.0,
    }


# --------------------------------------------------------------------------- #
# Prior tables
# --------------------------------------------------------------------------- #


# What a pseudo prior file records about its dictionary match (None: uncovered).
PSEUDO_MATCH_COLUMNS = (
    "pseudo_source_word",  # the covered word of the source text (or keyword)
    "pseudo_keyword",  # summarization: the keyword holding it
    "dictionary_source_word",  # the dictionary entry, as the dictionary spells it
    "dictionary_target_word",
    "dictionary_origins",  # e.g. ["MUSE", "Wiktionary"]
    "dictionary_rank",  # 1 = the merged dictionary's first entry
)


def pseudo_match_columns(
    matches: Sequence[PseudoMatch | None], entries: Mapping[str, Any]
) -> dict[str, list]:
    """The :data:`PSEUDO_MATCH_COLUMNS` of each match, from the dictionary's
    entries (``source_key`` -> :class:`prettyflow.priors.dictionaries.DictionaryEntry`)."""
    columns: dict[str, list] = {name: [] for name in PSEUDO_MATCH_COLUMNS}
    for match in matches:
        entry = None if match is None else entries.get(match.lexicon_key)
        values = (
            (None,) * len(PSEUDO_MATCH_COLUMNS)
            if match is None
            else (
                match.source_word,
                match.keyword,
                None if entry is None else entry.source_word,
                match.target_word,
                None if entry is None else list(entry.origins),
                None if entry is None else entry.rank,
            )
        )
        for name, value in zip(PSEUDO_MATCH_COLUMNS, values):
            columns[name].append(value)
    columns["dictionary_rank"] = pd.array(columns["dictionary_rank"], dtype="Int64")
    return columns


def prior_answers(upstream: pd.DataFrame) -> list[str | None]:
    """What each prior was cut from, recorded as ``prior_answer``: the upstream
    answer (the SFT or refined model's output, a dictionary word, a drawn word),
    or a tagger's tags joined by spaces; None where there is none."""
    if "output" in upstream.columns:
        return [a if isinstance(a, str) else None for a in upstream["output"]]
    return [
        None if tags is None else " ".join(str(tag) for tag in tags)
        for tags in upstream["tags"]
    ]


def build_prior_table(
    ids: Sequence[str],
    prior_texts: Sequence[str | None],
    prior_token_ids: Sequence[Sequence[int]],
    source: str,
    k: int,
) -> pd.DataFrame:
    """The priors table: ``id``, ``prior_text``, ``prior_token_ids``, ``prior_source``, ``prior_k``.

    ``prior_text`` ``None`` becomes ``""`` (no prior). The source/k columns are
    named ``prior_*`` so that joining with a data table (which has ``source``)
    does not clash.
    """
    if not (len(ids) == len(prior_texts) == len(prior_token_ids)):
        raise InputError(
            f"{len(ids)} ids, {len(prior_texts)} prior texts and "
            f"{len(prior_token_ids)} token id lists: expected one of each per sample",
            field="prior_text",
        )
    if not isinstance(source, str) or not source:
        raise InputError(
            "expected a prior source name (sft, refined, pseudo)", field="source"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(
            f"expected a positive number of prior tokens, got {k!r}", field="k"
        )
    seen: set[str] = set()
    for position, sample_id in enumerate(ids):
        if not isinstance(sample_id, str) or not sample_id:
            raise InputError(f"row {position + 1}: expected a string id", field="id")
        if sample_id in seen:
            raise InputError(
                f"row {position + 1}: duplicate id {sample_id!r}", field="id"
            )
        seen.add(sample_id)
    texts = ["" if text is None else text for text in prior_texts]
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(
                f"row {position + 1}: expected a text, got {type(text).__name__}",
                field="prior_text",
            )
    return pd.DataFrame(
        {
            "id": list(ids),
            "prior_text": texts,
            "prior_token_ids": [
                [int(t) for t in token_ids] for token_ids in prior_token_ids
            ],
            "prior_source": source,
            "prior_k": k,
        }
    )


def prior_provenance(
    source: str,
    k: int,
    tokenizer: Any,
    upstream: str | Path | Sequence[str | Path] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Provenance for :func:`prettyflow.io.write_parquet` of a priors table.

    ``tokenizer`` is a tokenizer (its ``name_or_path`` is recorded) or a name;
    ``upstream`` the file(s) the priors were made from; ``extra`` e.g. the
    :func:`coverage_stats` of a pseudo prior.
    """
    if tokenizer is None or isinstance(tokenizer, (str, Path)):
        tokenizer_name = None if tokenizer is None else str(tokenizer)
    else:
        tokenizer_name = str(
            getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        )
    if upstream is None:
        upstream_list: list[str] = []
    elif isinstance(upstream, (str, Path)):
        upstream_list = [str(upstream)]
    else:
        upstream_list = [str(item) for item in upstream]
    return {
        "source": source,
        "k": k,
        "tokenizer": tokenizer_name,
        "upstream": upstream_list,
        **extra,
    }
