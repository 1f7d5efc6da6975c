"""Control priors (paper section 5.2, Table 5): a random word of a given kind.

The paper asks whether *any* target-language token elicits cross-lingual
generation and answers no: a randomly drawn modal verb, adverb or vocabulary
token as the first token does not help. The control sources (``modal``,
``adverb``, ``random`` in :mod:`prettyflow.priors.sources`) draw one word per
sample; the task then cuts it into the prior like any other answer.

The draw
    Per sample, index = SHA-256(seed, source name, sample id) modulo the number of
    candidates. It depends on nothing else, so it is the same whatever the row
    order, whichever other samples are present, and for every k (the priors for
    k = 1, 2, 3 are prefixes of one word); another seed gives another draw.

Options (config ``analysis.control_priors.sources.<source>``), keyed by the
target language code (``pt``; a regional code such as ``zh-Hans`` falls back to
``zh``):

``words``  (``modal``, ``adverb``)
    ``{<lang>: <file> | [<word>, ...]}``. A file has one word per line, UTF-8;
    ``#`` starts a comment; blank lines are skipped. Words are NFC-normalised,
    contain no whitespace and appear once.
``lexicon``  (``modal``, ``adverb``)
    ``{<lang>: {kind: jieba, tags: [<tag>, ...]}}``: a part-of-speech lexicon of
    ``word freq tag`` lines (``kind: jieba`` is the ``dict.txt`` of the PyPI
    package ``jieba``, ICTCLAS tags: ``d`` adverb, ``v`` verb, ...).
    Without ``words`` the candidates are the lexicon's words carrying one of
    ``tags`` (``tags`` is then required). With ``words`` the lexicon filters
    them: a word stays if the lexicon has it (with one of ``tags`` when given),
    e.g. modal verbs listed in the config and checked against jieba, where they
    are tagged ``v``, ``c`` or ``d`` like other words.
``scripts``  (all sources)
    ``{<lang>: [<Unicode script>, ...]}`` overrides :data:`LANGUAGE_SCRIPTS`;
    script names are Unicode's (Latin, Cyrillic, Han, Hiragana, ...). The words
    of ``words`` and ``lexicon`` must be written in the language's script(s)
    (checked at start-up: a Chinese lexicon given for ``pt`` would make Chinese
    "Portuguese adverbs"); ``random`` draws only tokens written in them.
``allow_marks``  (``random``, default true)
    Whether a token may contain combining marks after its first letter (needed
    for Devanagari or Thai vowel signs, harmless elsewhere).

The candidates of ``random`` are the foundation tokenizer's non-special tokens
whose decoded text, with the word-boundary marker and surrounding space
stripped, is made only of letters of the language's script(s), in token-id
order, each distinct text once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.io import read_lines
from prettyflow.priors.scripts import (
    LANGUAGE_SCRIPTS,
    is_script_word,
    is_written_in,
)

OPTIONS_FIELD = "analysis.control_priors.sources"
WORD_LIST_OPTIONS = ("words", "lexicon", "scripts")
RANDOM_TOKEN_OPTIONS = ("scripts", "allow_marks")
# The default of random's allow_marks. Here, not as a schema default: a source's
# options reach its prior job whole, and a filled-in default would change them.
ALLOW_MARKS = True
# Lexicon kind -> the scripts its words are written in (jieba's dict.txt is Chinese).
LEXICON_SCRIPTS: dict[str, tuple[str, ...]] = {"jieba": ("Han",)}
LEXICON_KINDS = tuple(LEXICON_SCRIPTS)
DRAW_METHOD = "sha256(json([seed, source, sample id])) mod number of candidates"

# SentencePiece's word-boundary marker "▁", which a decoder may leave on a lone
# token (byte-level BPE's "Ġ" is decoded to a space, stripped anyway).
BOUNDARY_MARKERS = "\u2581"


@dataclass(frozen=True)
class CandidateList:
    """The words a control source draws from, and where they came from."""

    words: tuple[str, ...]
    origin: str  # e.g. "file resources/demo/control-priors/pt-modal.txt"

    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.words).encode("utf-8")).hexdigest()

    def provenance(self, seed: int, source: str, target_lang: str) -> dict[str, Any]:
        return {
            "source": source,
            "target_lang": target_lang,
            "seed": seed,
            "method": DRAW_METHOD,
            "origin": self.origin,
            "candidates": len(self.words),
            "candidates_sha256": self.digest(),
        }


# --------------------------------------------------------------------------- #
# The draw
# --------------------------------------------------------------------------- #


def draw_index(seed: int, source: str, sample_id: Any, candidates: int) -> int:
    """The candidate index of one sample: a function of (seed, source, id) alone.

    A hash instead of a stateful generator keeps the draw independent of row
    order and stable across Python and numpy versions (modulo bias < n / 2**256).
    """
    if candidates < 1:
        raise ValueError("cannot draw from an empty candidate list")
    key = json.dumps([int(seed), source, str(sample_id)], ensure_ascii=False)
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % candidates


def draw_words(
    sample_ids: Iterable[Any], candidates: CandidateList, seed: int, source: str
) -> list[str]:
    """One word per sample id (in the given order)."""
    words = candidates.words
    return [
        words[draw_index(seed, source, sample_id, len(words))]
        for sample_id in sample_ids
    ]


# --------------------------------------------------------------------------- #
# Options
# --------------------------------------------------------------------------- #


def check_options(
    source: str, options: Mapping[str, Any] | None, allowed: Sequence[str]
) -> dict[str, Any]:
    """The source's options as a dict; an unknown key is an error naming the field."""
    options = dict(options or {})
    for key in options:
        if key not in allowed:
            raise InputError(
                f"unknown option {key!r}; the {source} source takes "
                f"{', '.join(allowed)}",
                field=f"{OPTIONS_FIELD}.{source}.{key}",
            )
    for key in ("words", "lexicon", "scripts"):
        if key in options and not isinstance(options[key], Mapping):
            raise InputError(
                "expected a mapping from language code to "
                + {
                    "words": "a file or a list of words",
                    "lexicon": "a lexicon",
                    "scripts": "a list of Unicode script names",
                }[key],
                field=f"{OPTIONS_FIELD}.{source}.{key}",
            )
    return options


def for_language(
    mapping: Mapping[str, Any] | None, language: str
) -> tuple[str, Any] | None:
    """``(key, value)`` of ``language`` (``zh-Hans`` falls back to ``zh``), or None."""
    if not mapping:
        return None
    for key in (language, language.split("-")[0].split("_")[0]):
        if key in mapping:
            return key, mapping[key]
    return None


def word_list_file(
    source: str, options: Mapping[str, Any] | None, language: str
) -> str | None:
    """The word-list file the source reads for ``language``, if its list is a file."""
    entry = for_language(
        check_options(source, options, WORD_LIST_OPTIONS).get("words"), language
    )
    return entry[1] if entry is not None and isinstance(entry[1], str) else None


# --------------------------------------------------------------------------- #
# Word lists: files, config lists, lexicons
# --------------------------------------------------------------------------- #


def checked_word(word: Any, where: Mapping[str, Any]) -> str:
    """``word`` NFC-normalised, or an error at ``where`` (InputError's keywords)."""
    if not isinstance(word, str):
        raise InputError(f"expected a word (a text), got {word!r}", **where)
    word = unicodedata.normalize("NFC", word.strip())
    if not word or any(character.isspace() for character in word):
        raise InputError(f"expected one word without spaces, got {word!r}", **where)
    return word


def add_unique(
    words: dict[str, str], word: str, place: str, where: Mapping[str, Any]
) -> None:
    if word in words:  # a repeated word would be drawn more often than the others
        raise InputError(f"{word!r} is listed twice (first at {words[word]})", **where)
    words[word] = place


def read_word_file(path: str | Path) -> list[str]:
    """Words of a file: one per line, UTF-8, ``#`` comments and blank lines skipped.

    Lines are read by :func:`prettyflow.io.read_lines` (UTF-8, an optional BOM,
    ``\\n`` or ``\\r\\n``).
    """
    path = Path(path)
    words: dict[str, str] = {}
    for number, line in enumerate(read_lines(path, "word list file"), start=1):
        where = {"path": path, "line": number}
        text = line.split("#", 1)[0].strip()
        if text:
            add_unique(words, checked_word(text, where), f"line {number}", where)
    return list(words)


def config_word_list(values: Any, field: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InputError("expected a file path or a list of words", field=field)
    words: dict[str, str] = {}
    for position, value in enumerate(values):
        where = {"field": f"{field}[{position}]"}
        add_unique(words, checked_word(value, where), f"[{position}]", where)
    return list(words)


def jieba_dict_path() -> Path:
    """jieba's ``dict.txt``, found without importing jieba (slow to initialise)."""
    spec = importlib.util.find_spec("jieba")
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError(
            "the jieba lexicon needs the PyPI package jieba: pip install jieba==0.42.1"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "dict.txt"
    if not path.is_file():
        raise MissingResourceError(
            f"jieba is installed but has no dict.txt at {path}: reinstall it "
            "(pip install --force-reinstall jieba==0.42.1)"
        )
    return path


@lru_cache(maxsize=4)
def read_tagged_lexicon(path: str) -> dict[str, frozenset[str]]:
    """``word freq tag`` lines (jieba's dict.txt) -> word -> its tags."""
    tags: dict[str, set[str]] = {}
    for number, line in enumerate(read_lines(path, "lexicon"), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[1].isdigit():
            raise InputError(
                f"expected 'word frequency tag', got {line.strip()!r}",
                path=path,
                line=number,
            )
        tags.setdefault(unicodedata.normalize("NFC", parts[0]), set()).add(parts[2])
    return {word: frozenset(word_tags) for word, word_tags in tags.items()}


def lexicon_entries(
    spec: Any, field: str
) -> tuple[dict[str, frozenset[str]], tuple[str, ...], str]:
    """(word -> tags, the tags asked for, a description) of one ``lexicon`` entry."""
    if not isinstance(spec, Mapping):
        raise InputError("expected {kind: jieba, tags: [...]}", field=field)
    unknown = sorted(set(spec) - {"kind", "tags"})
    if unknown:
        raise InputError(
            f"unknown key(s) {', '.join(unknown)}; expected kind, tags", field=field
        )
    if spec.get("kind") not in LEXICON_KINDS:
        raise InputError(
            f"unknown lexicon kind {spec.get('kind')!r}; "
            f"known: {', '.join(LEXICON_KINDS)}",
            field=f"{field}.kind",
        )
    tags = spec.get("tags") or []
    if isinstance(tags, str) or not all(isinstance(tag, str) and tag for tag in tags):
        raise InputError(
            "expected a list of part-of-speech tags, e.g. [d]", field=f"{field}.tags"
        )
    path = jieba_dict_path()
    description = f"jieba {path.name}" + (f" tags {', '.join(tags)}" if tags else "")
    return read_tagged_lexicon(str(path)), tuple(tags), description


def word_candidates(
    source: str,
    options: Mapping[str, Any] | None,
    language: str,
    word_file: str | Path | None = None,
) -> CandidateList:
    """The words ``source`` (modal, adverb) draws from for ``language``.

    ``word_file`` is the tracked input of the job; it replaces the file named in
    ``options`` (the same path, resolved by the workflow).
    """
    options = check_options(source, options, WORD_LIST_OPTIONS)
    field = f"{OPTIONS_FIELD}.{source}"
    listed = for_language(options.get("words"), language)
    lexicon = for_language(options.get("lexicon"), language)
    if listed is None and lexicon is None:
        raise InputError(
            f"no {source} words for target language {language!r}: give "
            f"{field}.words.{language} (a file or a list) or "
            f"{field}.lexicon.{language}",
            field=field,
        )
    words: list[str] | None = None
    origins = []
    if listed is not None:
        key, value = listed
        if isinstance(value, str):
            path = Path(word_file) if word_file is not None else Path(value)
            words, origin = read_word_file(path), f"file {path}"
        else:
            words, origin = (
                config_word_list(value, f"{field}.words.{key}"),
                "config list",
            )
        origins.append(origin)
    if lexicon is not None:
        key, spec = lexicon
        entries, tags, description = lexicon_entries(spec, f"{field}.lexicon.{key}")
        wanted = set(tags)
        if words is None:
            if not tags:
                raise InputError(
                    "without words the lexicon needs tags to choose words, e.g. [d]",
                    field=f"{field}.lexicon.{key}.tags",
                )
            words = sorted(
                word for word, word_tags in entries.items() if word_tags & wanted
            )
            origins.append(description)
        else:
            words = [
                word
                for word in words
                if word in entries and (not wanted or entries[word] & wanted)
            ]
            origins.append(f"filtered by {description}")
    candidates = CandidateList(tuple(words or ()), ", ".join(origins))
    if not candidates.words:
        raise InputError(
            f"the {source} source has no candidate words for target language "
            f"{language!r} ({candidates.origin})",
            field=field,
        )
    return candidates


# --------------------------------------------------------------------------- #
# Vocabulary tokens of a script
# --------------------------------------------------------------------------- #


def language_scripts(
    source: str, options: Mapping[str, Any], language: str
) -> tuple[str, ...]:
    override = for_language(options.get("scripts"), language)
    if override is not None:
        key, scripts = override
        if isinstance(scripts, str):
            scripts = [scripts]
        if not scripts or not all(
            isinstance(script, str) and script for script in scripts
        ):
            raise InputError(
                "expected a list of Unicode script names, e.g. [Latin]",
                field=f"{OPTIONS_FIELD}.{source}.scripts.{key}",
            )
        return tuple(scripts)
    found = for_language(LANGUAGE_SCRIPTS, language)
    if found is None:
        raise InputError(
            f"no script known for target language {language!r}: give "
            f"{OPTIONS_FIELD}.{source}.scripts.{language}, e.g. [Latin]",
            field=f"{OPTIONS_FIELD}.{source}.scripts",
        )
    return found[1]


def check_word_list_scripts(
    source: str,
    options: Mapping[str, Any] | None,
    word_files: Mapping[str, str | Path] | None = None,
) -> None:
    """Every word list and lexicon of ``source`` is written in its language's script.

    ``word_files`` maps a language to its word-list file where that file should
    be read (default: the paths in ``options``); a file that does not exist is
    left to the job that reads it. Raises :class:`InputError` naming the key,
    with the count of words outside the script and examples.
    """
    options = check_options(source, options, WORD_LIST_OPTIONS)
    field = f"{OPTIONS_FIELD}.{source}"
    for language, value in (options.get("words") or {}).items():
        scripts = language_scripts(source, options, language)
        if isinstance(value, str):
            path = Path((word_files or {}).get(language, value))
            if not path.is_file():
                continue
            words, where = read_word_file(path), f"file {path}"
        else:
            words = config_word_list(value, f"{field}.words.{language}")
            where = "the list"
        outside = [word for word in words if not is_written_in(word, scripts)]
        if outside:
            examples = ", ".join(repr(word) for word in outside[:5])
            raise InputError(
                f"{len(outside)} of {len(words)} words of {where} are not written in "
                f"{'+'.join(scripts)}, the script of {language!r}: {examples}"
                + (" ..." if len(outside) > 5 else "")
                + f" (a list for another language? {field}.scripts.{language} "
                "overrides the script)",
                field=f"{field}.words.{language}",
            )
    for language, spec in (options.get("lexicon") or {}).items():
        kind = spec.get("kind") if isinstance(spec, Mapping) else None
        if kind not in LEXICON_SCRIPTS:
            continue  # lexicon_entries names an unknown kind
        scripts = language_scripts(source, options, language)
        if not set(LEXICON_SCRIPTS[kind]) & set(scripts):
            raise InputError(
                f"a {kind} lexicon is written in {'+'.join(LEXICON_SCRIPTS[kind])}, "
                f"not in {'+'.join(scripts)}, the script of {language!r}: its words "
                f"would be drawn as {language!r} words",
                field=f"{field}.lexicon.{language}",
            )


def token_text(decoded: str) -> str:
    return decoded.strip().strip(BOUNDARY_MARKERS).strip()


def vocabulary_candidates(
    source: str, tokenizer: Any, options: Mapping[str, Any] | None, language: str
) -> CandidateList:
    """Distinct texts of the tokenizer's tokens written in ``language``'s script(s)."""
    options = check_options(source, options, RANDOM_TOKEN_OPTIONS)
    scripts = language_scripts(source, options, language)
    allow_marks = options.get("allow_marks", ALLOW_MARKS)
    if not isinstance(allow_marks, bool):
        raise InputError(
            "expected true or false", field=f"{OPTIONS_FIELD}.{source}.allow_marks"
        )
    special = set(tokenizer.all_special_ids) | {
        token_id
        for token_id, added in getattr(tokenizer, "added_tokens_decoder", {}).items()
        if getattr(added, "special", False)
    }
    token_ids = [
        token_id for token_id in range(len(tokenizer)) if token_id not in special
    ]
    decoded = tokenizer.batch_decode(
        [[token_id] for token_id in token_ids],
        skip_special_tokens=False,
        clean_up_tokenization_spaces=False,
    )
    words: dict[str, None] = {}  # insertion order = token-id order
    for text in decoded:
        text = unicodedata.normalize("NFC", token_text(text))
        if is_script_word(text, scripts, allow_marks):
            words.setdefault(text)
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    origin = f"vocabulary of {name}, script {'+'.join(scripts)}"
    candidates = CandidateList(tuple(words), origin)
    if not candidates.words:
        raise InputError(
            f"the {source} source has no candidate tokens for target language "
            f"{language!r}: no token of {name} is written only in {'+'.join(scripts)} "
            "(script names are Unicode's: Latin, Cyrillic, Han, ...)",
            field=f"{OPTIONS_FIELD}.{source}.scripts",
        )
    return candidates
