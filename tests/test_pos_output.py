"""Reading tagging answers: a corpus of malformed model outputs, alignment, never raising."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import pytest

from prettyflow.pos.output import (
    ParsedTagging,
    align_words,
    normalize_tag,
    parse_tagging_output,
)

SENTENCE = ["Le", "chat", "dort"]
GOOD = '[{"word": "Le", "tag": "DET"}, {"word": "chat", "tag": "NOUN"}, {"word": "dort", "tag": "VERB"}]'
GOOD_PAIRS = [("Le", "DET"), ("chat", "NOUN"), ("dort", "VERB")]
GOOD_TAGS = ["DET", "NOUN", "VERB"]


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    pairs: list[tuple[str, str]]
    aligned: list[str | None]
    words: tuple[str, ...] = tuple(SENTENCE)
    truncated: bool = False
    error: str | None = None  # expected substring of the error when nothing can be read


NOTHING = [None, None, None]

CASES = [
    Case("valid JSON", GOOD, GOOD_PAIRS, GOOD_TAGS),
    Case(
        "prose before and after",
        f"Sure! Here are the POS tags for your sentence:\n{GOOD}\nLet me know if you need anything else.",
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case("json code fence", f"```json\n{GOOD}\n```", GOOD_PAIRS, GOOD_TAGS),
    Case(
        "bare code fence and prose",
        f"Output:\n```\n{GOOD}\n```\nDone.",
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "truncated inside the third object",
        '[{"word": "Le", "tag": "DET"}, {"word": "chat", "tag": "NOUN"}, {"word": "do',
        GOOD_PAIRS[:2],
        ["DET", "NOUN", None],
        truncated=True,
    ),
    Case(
        "truncated inside a tag string",
        '[{"word": "Le", "tag": "DET"}, {"word": "chat", "tag": "NO',
        GOOD_PAIRS[:1],
        ["DET", None, None],
        truncated=True,
    ),
    Case(
        "truncated after the last tag, before the brace",
        '[{"word": "Le", "tag": "DET"}, {"word": "chat", "tag": "NOUN"}, {"word": "dort", "tag": "VERB"',
        GOOD_PAIRS,
        GOOD_TAGS,
        truncated=True,
    ),
    Case(
        "truncated on an unquoted tag",
        "[{word: Le, tag: DET}, {word: chat, tag: NOU",
        GOOD_PAIRS[:1],
        ["DET", None, None],
        truncated=True,
    ),
    Case(
        "single quotes",
        "[{'word': 'Le', 'tag': 'DET'}, {'word': 'chat', 'tag': 'NOUN'}, {'word': 'dort', 'tag': 'VERB'}]",
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "single quotes around a word with an apostrophe",
        "[{'word': 'l'', 'tag': 'DET'}, {'word': 'origine', 'tag': 'NOUN'}]",
        [("l'", "DET"), ("origine", "NOUN")],
        ["DET", "NOUN"],
        words=("l'", "origine"),
    ),
    Case(
        "trailing and doubled commas",
        '[{"word": "Le", "tag": "DET",}, , {"word": "chat", "tag": "NOUN"}, {"word": "dort", "tag": "VERB"},]',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "word -> tag objects",
        '[{"Le": "DET"}, {"chat": "NOUN"}, {"dort": "VERB"}]',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "one object instead of a list",
        '{"Le": "DET", "chat": "NOUN", "dort": "VERB"}',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "other key names and cases",
        '[{"Word": "Le", "POS": "DET"}, {"token": "chat", "label": "NOUN"}, {"form": "dort", "UPOS": "VERB"}]',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "lowercase tags",
        '[{"word": "Le", "tag": "det"}, {"word": "chat", "tag": "Noun"}, {"word": "dort", "tag": " verb "}]',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "aliases and full names",
        '[{"word": "et", "tag": "CONJ"}, {"word": "Paris", "tag": "Proper Noun"}, {"word": "beau", "tag": "adjective"}]',
        [("et", "CCONJ"), ("Paris", "PROPN"), ("beau", "ADJ")],
        ["CCONJ", "PROPN", "ADJ"],
        words=("et", "Paris", "beau"),
    ),
    Case(
        "tags outside UPOS are kept as written",
        '[{"word": "Le", "tag": "DT"}, {"word": "chat", "tag": "NN"}, {"word": "dort", "tag": "VERB"}]',
        [("Le", "DT"), ("chat", "NN"), ("dort", "VERB")],
        ["DT", "NN", "VERB"],
    ),
    Case(
        "nested lists",
        '[["Le", "DET"], ["chat", "NOUN"], ["dort", "VERB"]]',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "python tuples",
        "[('Le', 'DET'), ('chat', 'NOUN'), ('dort', 'VERB')]",
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case("empty string", "", [], NOTHING, error="empty output"),
    Case("whitespace only", " \n\t ", [], NOTHING, error="empty output"),
    Case(
        "only prose",
        "Le is a determiner, chat is a noun and dort is a verb.",
        [],
        NOTHING,
        error="no JSON array or object found",
    ),
    Case(
        "echo of the input words",
        '["Le", "chat", "dort"]',
        [],
        NOTHING,
        error="no word/tag pairs",
    ),
    Case(
        "objects without tags",
        '[{"word": "Le", "id": "1"}, {"word": "chat", "id": "2"}]',
        [],
        NOTHING,
        error="no word/tag pairs",
    ),
    Case(
        "unbalanced brackets only", "[[[[{{{{", [], NOTHING, error="no word/tag pairs"
    ),
    Case(
        "Chinese words and full-width punctuation",
        '[{"word": "然而", "tag": "ADV"}, {"word": "，", "tag": "PUNCT"}, {"word": "这样", "tag": "PRON"}]',
        [("然而", "ADV"), ("，", "PUNCT"), ("这样", "PRON")],
        ["ADV", "PUNCT", "PRON"],
        words=("然而", "，", "这样"),
    ),
    Case(
        "unicode escapes",
        '[{"word": "\\u7136\\u800c", "tag": "ADV"}, {"word": "\\uff0c", "tag": "PUNCT"}]',
        [("然而", "ADV"), ("，", "PUNCT")],
        ["ADV", "PUNCT", None],
        words=("然而", "，", "这样"),
    ),
    Case(
        "full-width JSON punctuation",
        '［{"word"："然而"，"tag"："ADV"}，{"word"："这样"，"tag"："PRON"}］',
        [("然而", "ADV"), ("这样", "PRON")],
        ["ADV", None, "PRON"],
        words=("然而", "，", "这样"),
    ),
    Case(
        "curly double quotes",
        "[{\u201cword\u201d: \u201cLe\u201d, \u201ctag\u201d: \u201cDET\u201d}]",
        [("Le", "DET")],
        ["DET", None, None],
    ),
    Case(
        "duplicate words in order",
        '[["le", "DET"], ["chat", "NOUN"], ["le", "DET"], ["chien", "NOUN"]]',
        [("le", "DET"), ("chat", "NOUN"), ("le", "DET"), ("chien", "NOUN")],
        ["DET", "NOUN", "DET", "NOUN"],
        words=("le", "chat", "le", "chien"),
    ),
    Case(
        "duplicate word, one occurrence missing: the earliest gold word is taken",
        '[["le", "PRON"], ["chien", "NOUN"]]',
        [("le", "PRON"), ("chien", "NOUN")],
        ["PRON", None, None, "NOUN"],
        words=("le", "chat", "le", "chien"),
    ),
    Case(
        "extra predicted words",
        '[["Le", "DET"], ["gros", "ADJ"], ["chat", "NOUN"], ["dort", "VERB"], [".", "PUNCT"]]',
        [
            ("Le", "DET"),
            ("gros", "ADJ"),
            ("chat", "NOUN"),
            ("dort", "VERB"),
            (".", "PUNCT"),
        ],
        GOOD_TAGS,
    ),
    Case(
        "missing words",
        '[["Le", "DET"], ["dort", "VERB"]]',
        [("Le", "DET"), ("dort", "VERB")],
        ["DET", None, "VERB"],
    ),
    Case(
        "words out of order: the longest in-order matching wins",
        '[["dort", "VERB"], ["Le", "DET"], ["chat", "NOUN"]]',
        [("dort", "VERB"), ("Le", "DET"), ("chat", "NOUN")],
        ["DET", "NOUN", None],
    ),
    Case(
        "garbage after the array, second array ignored",
        f'{GOOD} }}]] ### and again: [{{"word": "Le", "tag": "NOUN"}}]',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "answer split into arrays after a prior closed the first one",
        '[{"word": "Le", "tag": "DET"}], [{"word": "chat", "tag": "NOUN"}], [{"word": "dort", "tag": "VERB"}]',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "split arrays end at the first thing that is not an array",
        '[{"word": "Le", "tag": "DET"}]\n[{"word": "chat", "tag": "NOUN"}] Note: [{"word": "dort", "tag": "VERB"}]',
        GOOD_PAIRS[:2],
        GOOD_TAGS[:2] + [None],
    ),
    Case(
        "a truncated array after split arrays",
        '[{"word": "Le", "tag": "DET"}], [{"word": "chat", "tag": "NOUN"}, {"word": "do',
        GOOD_PAIRS[:2],
        GOOD_TAGS[:2] + [None],
        truncated=True,
    ),
    Case(
        "brackets in the prose before the answer",
        f"Tags [as requested] {{see below}}: {GOOD}",
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "case and Unicode normalisation when aligning",
        '[{"word": "LE", "tag": "DET"}, {"word": " e\u0301te\u0301 ", "tag": "NOUN"}]',
        [("LE", "DET"), ("e\u0301te\u0301", "NOUN")],
        ["DET", "NOUN"],
        words=("le", "\u00e9t\u00e9"),
    ),
    Case(
        "objects one per line without brackets",
        '{"word": "Le", "tag": "DET"}\n{"word": "chat", "tag": "NOUN"},\n{"word": "dort", "tag": "VERB"}\nThat is all.',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "parallel word and tag lists",
        '{"words": ["Le", "chat", "dort"], "tags": ["DET", "NOUN", "VERB"]}',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case("answer wrapped in an object", f'{{"result": {GOOD}}}', GOOD_PAIRS, GOOD_TAGS),
    Case(
        "unquoted words and tags",
        "[{word: Le, tag: DET}, {word: chat, tag: NOUN}, {word: dort, tag: VERB}]",
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "missing commas between objects",
        '[{"word": "Le" "tag": "DET"} {"word": "chat", "tag": "NOUN"}\n{"word": "dort", "tag": "VERB"}]',
        GOOD_PAIRS,
        GOOD_TAGS,
    ),
    Case(
        "null tag and extra fields",
        '[{"word": "Le", "lemma": "le", "tag": null}, {"word": "chat", "tag": "NOUN", "index": 2}]',
        [("Le", ""), ("chat", "NOUN")],
        ["", "NOUN", None],
    ),
    Case(
        "quote characters as words",
        '[{"word": """, "tag": "PUNCT"}, {"word": "\\"", "tag": "PUNCT"}, {"word": "it\'s", "tag": "X"}]',
        [('"', "PUNCT"), ('"', "PUNCT"), ("it's", "X")],
        ["PUNCT", "PUNCT", "X"],
        words=('"', '"', "it's"),
    ),
    Case(
        "brackets and braces as words",
        '[{"word": "[", "tag": "PUNCT"}, {"word": "}", "tag": "PUNCT"}, {"word": "x", "tag": "X"}]',
        [("[", "PUNCT"), ("}", "PUNCT"), ("x", "X")],
        ["PUNCT", "PUNCT", "X"],
        words=("[", "}", "x"),
    ),
]


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_malformed_outputs(case: Case) -> None:
    parsed = parse_tagging_output(case.text, list(case.words))
    assert isinstance(parsed, ParsedTagging)
    assert parsed.pairs == case.pairs
    assert parsed.aligned_tags == case.aligned
    assert len(parsed.aligned_tags) == len(case.words)
    if case.error is None:
        assert parsed.parse_ok and parsed.error is None
        assert parsed.truncated == case.truncated
    else:
        assert not parsed.parse_ok
        assert parsed.error is not None and case.error in parsed.error


def test_not_a_string_is_a_parse_failure() -> None:
    parsed = parse_tagging_output(None, SENTENCE)  # type: ignore[arg-type]
    assert not parsed.parse_ok and "not a string" in (parsed.error or "")
    assert parsed.aligned_tags == NOTHING


def test_normalize_tag() -> None:
    assert normalize_tag("noun") == "NOUN"
    assert normalize_tag(" Propn. ") == "PROPN"
    assert normalize_tag("CONJ") == "CCONJ"
    assert normalize_tag("coordinating-conjunction") == "CCONJ"
    assert normalize_tag("Subordinating_Conjunction") == "SCONJ"
    assert (
        normalize_tag("conjunction") == "conjunction"
    )  # ambiguous: left as written, counts as wrong
    assert normalize_tag(" NN ") == "NN"
    assert normalize_tag(None) == ""


def test_align_words() -> None:
    assert align_words([], ["a"]) == [None]
    assert align_words(["a"], []) == []
    assert align_words(["a", "b", "c"], ["a", "b", "c"]) == [0, 1, 2]
    # A greedy "next equal word" walk would send the first "b" to gold 1 and lose "a" and "c".
    assert align_words(["x", "b", "a", "b", "c"], ["a", "b", "c"]) == [2, 3, 4]
    assert align_words(["b", "a"], ["a", "b", "a"]) == [None, 0, 1]
    assert align_words(["Été"], ["e\u0301te\u0301"]) == [0]


def test_never_raises_on_random_text() -> None:
    rng = random.Random(20240531)
    alphabet = list("[]{}(),:\"'“”\\ \n\tabcNOUNVERB中，：［］｛｝-_=u0123")
    fragments = [
        GOOD,
        GOOD[:37],
        '{"word": ',
        "'tag'",
        "\\u12",
        "\\ud83d",
        "null",
        "```json",
    ]
    for _ in range(3000):
        pieces = [
            (
                rng.choice(fragments)
                if rng.random() < 0.2
                else "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
            )
            for _ in range(rng.randint(0, 6))
        ]
        text = "".join(pieces)
        parsed = parse_tagging_output(text, SENTENCE)
        assert len(parsed.aligned_tags) == len(SENTENCE)
        assert parsed.parse_ok == bool(parsed.pairs)
        assert (parsed.error is None) == parsed.parse_ok
        assert all(
            isinstance(word, str) and isinstance(tag, str) for word, tag in parsed.pairs
        )


@pytest.mark.parametrize(
    "text",
    [
        "[" * 20000,
        "{" * 20000,
        '[{"word": ' * 5000,
        "[" + "a, " * 20000,
        '"' * 20000,
        "x" * 50000,
        "[{" * 10000 + "}]" * 10000,
        GOOD * 300,
    ],
    ids=[
        "brackets",
        "braces",
        "open objects",
        "long list",
        "quotes",
        "letters",
        "deep nesting",
        "repeated",
    ],
)
def test_pathological_outputs_are_fast(text: str) -> None:
    started = time.perf_counter()
    parsed = parse_tagging_output(text, SENTENCE)
    assert time.perf_counter() - started < 5.0
    assert len(parsed.aligned_tags) == len(SENTENCE)


@pytest.mark.parametrize(
    "text",
    [
        '[{"' * 2000,
        "{" * 8000,
        '["' * 4000,
        '{"a":' * 1600,
        '[{"word": "x", "tag": ' * 400,
        "[" + '"word": "NOUN", ' * 500,
        "[a " * 2700,
        "[[[[" * 2000,
        "\uff3b\uff5b" * 4000,
        "[" * 4000 + "]" * 4000,
    ],
    ids=[
        "open objects and quotes",
        "braces",
        "open strings",
        "nested keys",
        "open word objects",
        "unclosed pairs",
        "bare words and brackets",
        "brackets",
        "full-width",
        "balanced brackets",
    ],
)
def test_degenerate_8kb_answers_are_read_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    parsed = parse_tagging_output(text, SENTENCE)
    assert time.perf_counter() - started < 0.5
    assert not parsed.parse_ok and parsed.error


def test_a_long_real_answer_after_degenerate_prose_is_still_read() -> None:
    words = [f"w{index}" for index in range(300)]
    answer = "[" + ", ".join(f'{{"word": "{w}", "tag": "NOUN"}}' for w in words) + "]"
    prose = "Tags [see below] {as asked} " * 100
    started = time.perf_counter()
    parsed = parse_tagging_output(prose + answer, words)
    assert time.perf_counter() - started < 1.0
    assert parsed.aligned_tags == ["NOUN"] * len(words)
