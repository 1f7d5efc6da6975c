"""Control priors (paper section 5.2, Table 5): seeded random words of a given kind."""

from __future__ import annotations

import importlib.util
import json
import random
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from tiny_models import build_tiny_causal_lm, train_byte_level_tokenizer
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.io import read_parquet, read_provenance, write_parquet
from prettyflow.priors import control as control_priors
from prettyflow.priors.control import (
    LANGUAGE_SCRIPTS,
    CandidateList,
    draw_words,
    is_script_word,
    read_word_file,
    vocabulary_candidates,
    word_candidates,
)
from prettyflow.priors.sources import PRIOR_SOURCES, PriorContext

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_LISTS = REPO_ROOT / "resources" / "demo" / "control-priors"
IDS = [f"flores-{index}" for index in range(60)]
SCRIPT_NAME_START = {"Latin": "LATIN ", "Cyrillic": "CYRILLIC ", "Han": "CJK "}

# Sentences in four scripts, repeated so that whole words become tokens.
CORPUS = [
    "O gato está sentado na cama. Ação é necessária hoje.",
    "The cat sat on the bed and the dog runs in the park.",
    "Кошка сидит на кровати. Собака бежит в парке.",
    "Кіт сидить на ліжку. Їжак і пес біжать у парку.",
    "猫坐在床上。狗在公园里跑。我们可以明天去公园。",
] * 30


@pytest.fixture(scope="module")
def byte_level_tokenizer() -> PreTrainedTokenizerFast:
    """GPT-2/Llama-3-like byte-level BPE; "MASK" is a special token made of letters."""
    return train_byte_level_tokenizer(CORPUS, vocab_size=600, special_tokens=["MASK"])


@pytest.fixture(scope="module")
def metaspace_tokenizer() -> PreTrainedTokenizerFast:
    """Llama-2-like SentencePiece: word starts carry "▁", unknown characters <unk>."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="▁", prepend_scheme="first"
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.UnigramTrainer(
        vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>",
        show_progress=False,
    )  # fmt: skip
    tokenizer.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


@pytest.fixture(scope="module")
def jieba_lexicon() -> dict[str, set[str]]:
    """jieba's dict.txt read here independently: word -> its tags."""
    spec = importlib.util.find_spec("jieba")
    if spec is None:
        pytest.skip("jieba is not installed (pip install jieba==0.42.1)")
    path = Path(next(iter(spec.submodule_search_locations))) / "dict.txt"
    lexicon: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, tag = line.split()
        lexicon.setdefault(word, set()).add(tag)
    return lexicon


def settings(source: str, options: dict, target_lang: str = "pt", seed: int = 7):
    return {
        "task": "translation",
        "source": source,
        "k": 1,
        "source_lang": "en",
        "target_lang": target_lang,
        "seed": seed,
        "options": options,
    }


WORDS = ["pode", "deve", "precisa", "quer", "consegue", "sabe", "podem", "devem"]


# --------------------------------------------------------------------------- #
# The draw
# --------------------------------------------------------------------------- #


def test_the_draw_is_reproducible_and_independent_of_row_order_and_other_rows():
    candidates = CandidateList(tuple(WORDS), "config list")
    words = draw_words(IDS, candidates, 7, "modal")
    assert words == draw_words(IDS, candidates, 7, "modal")
    assert set(words) <= set(WORDS)
    assert len(set(words)) > 1  # not one word for every sample
    by_id = dict(zip(IDS, words))
    shuffled = random.Random(0).sample(IDS, len(IDS))
    assert draw_words(shuffled, candidates, 7, "modal") == [by_id[i] for i in shuffled]
    assert draw_words(IDS[40:45], candidates, 7, "modal") == words[40:45]


def test_another_seed_or_source_draws_other_words():
    candidates = CandidateList(tuple(WORDS), "config list")
    words = draw_words(IDS, candidates, 7, "modal")
    assert draw_words(IDS, candidates, 8, "modal") != words
    assert draw_words(IDS, candidates, 7, "adverb") != words


def test_source_answers_record_the_draw():
    frame = pd.DataFrame({"id": IDS, "source": ["The cat sat."] * len(IDS)})
    modal = PRIOR_SOURCES.get("modal")
    table, extra = modal.answers(frame, {}, settings("modal", {"words": {"pt": WORDS}}))
    assert list(table["id"]) == IDS
    assert list(table["output"]) == list(table["control_word"])
    assert set(table["output"]) <= set(WORDS)
    record = extra["control_draw"]
    assert record["seed"] == 7 and record["target_lang"] == "pt"
    assert record["origin"] == "config list" and record["candidates"] == len(WORDS)
    assert record["candidates_sha256"] == CandidateList(tuple(WORDS), "").digest()
    # Reversed rows: every sample keeps its word.
    reversed_table, _ = modal.answers(
        frame.iloc[::-1], {}, settings("modal", {"words": {"pt": WORDS}})
    )
    assert dict(zip(reversed_table["id"], reversed_table["output"])) == dict(
        zip(table["id"], table["output"])
    )
    with pytest.raises(InputError, match="integer seed"):
        modal.answers(frame, {}, {**settings("modal", {}), "seed": None})


def test_control_sources_are_registered_after_the_paper_sources():
    assert PRIOR_SOURCES.names()[-3:] == ["modal", "adverb", "random"]
    titles = {name: PRIOR_SOURCES.get(name).title for name in PRIOR_SOURCES}
    assert titles["modal"] == "Modal Prior" and titles["random"] == "Random Prior"
    assert titles["adverb"] == "Adverb Prior"
    controls = [name for name, source in PRIOR_SOURCES.items() if source.control]
    assert controls == ["modal", "adverb", "random"]


def test_a_word_list_file_is_an_upstream_input_and_a_config_list_is_not():
    context = PriorContext("translation", "flores", "tiny", "en-pt", "tiny-sft")
    modal = PRIOR_SOURCES.get("modal")
    path = str(DEMO_LISTS / "pt-modal.txt")
    assert modal.upstream(None, context, {"words": {"pt": path}}) == {"word_list": path}
    assert modal.upstream(None, context, {"words": {"en": path}}) == {}
    assert modal.upstream(None, context, {"words": {"pt": WORDS}}) == {}
    assert modal.upstream(None, context) == {}
    assert PRIOR_SOURCES.get("random").upstream(None, context, {}) == {}
    with pytest.raises(InputError, match=r"sources\.modal\.wordlist"):
        modal.upstream(None, context, {"wordlist": {"pt": path}})


# --------------------------------------------------------------------------- #
# Word lists
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "name", ["pt-modal.txt", "pt-adverb.txt", "en-modal.txt", "en-adverb.txt"]
)
def test_demo_word_lists_load(name):
    words = read_word_file(DEMO_LISTS / name)
    assert 20 <= len(words) <= 40 and len(set(words)) == len(words)
    assert DEMO_LISTS.joinpath(name).read_text(encoding="utf-8").startswith("# ")


def test_word_file_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "pt-modal.txt"
    decomposed = unicodedata.normalize("NFD", "poderá")
    path.write_text(
        f"# modal verbs\n\npode\n  deve  # inline comment\n{decomposed}\n",
        encoding="utf-8",
    )
    assert read_word_file(path) == ["pode", "deve", "poderá"]  # NFC


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"pode\ndeve\npode\n", 3, "listed twice"),
        (b"pode\n\npode mais\n", 3, "one word"),
        (b"pode\n\xff\xfe\n", 2, "UTF-8"),
    ],
)
def test_word_file_errors_name_file_and_line(tmp_path, content, line, message):
    path = tmp_path / "list.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as error:
        read_word_file(path)
    assert (error.value.path, error.value.line) == (str(path), line)
    assert str(error.value).startswith(f"{path}:{line}: ")


def test_candidates_from_a_file_and_from_the_jobs_tracked_input(tmp_path):
    path = tmp_path / "pt.txt"
    path.write_text("pode\ndeve\n", encoding="utf-8")
    options = {"words": {"pt": "does/not/exist.txt"}}
    candidates = word_candidates("modal", options, "pt", word_file=path)
    assert candidates.words == ("pode", "deve")
    assert candidates.origin == f"file {path}"
    with pytest.raises(InputError, match="not found") as error:
        word_candidates("modal", options, "pt")
    assert error.value.path == "does/not/exist.txt"


def test_a_regional_language_code_falls_back_to_its_language():
    candidates = word_candidates("modal", {"words": {"zh": ["能", "会"]}}, "zh-Hans")
    assert candidates.words == ("能", "会")


def test_empty_candidate_lists_are_errors_naming_source_and_language(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"modal source has no candidate.*'pt'"):
        word_candidates("modal", {"words": {"pt": str(empty)}}, "pt")
    with pytest.raises(InputError, match=r"adverb source has no candidate.*'pt'"):
        word_candidates("adverb", {"words": {"pt": []}}, "pt")
    with pytest.raises(InputError, match=r"no adverb words for target language 'ru'"):
        word_candidates("adverb", {"words": {"pt": WORDS}}, "ru")
    with pytest.raises(InputError, match=r"words\.pt\[1\]"):
        word_candidates("adverb", {"words": {"pt": ["já", 3]}}, "pt")


# --------------------------------------------------------------------------- #
# jieba's lexicon
# --------------------------------------------------------------------------- #


def test_jieba_adverbs_are_the_words_tagged_d(jieba_lexicon):
    options = {"lexicon": {"zh": {"kind": "jieba", "tags": ["d"]}}}
    candidates = word_candidates("adverb", options, "zh")
    expected = sorted(word for word, tags in jieba_lexicon.items() if "d" in tags)
    assert list(candidates.words) == expected
    assert {"不", "也", "就", "都", "还"} <= set(candidates.words)
    assert candidates.origin == "jieba dict.txt tags d"
    frame = pd.DataFrame({"id": IDS})
    table, extra = PRIOR_SOURCES.get("adverb").answers(
        frame, {}, settings("adverb", options, "zh")
    )
    assert all("d" in jieba_lexicon[word] for word in table["output"])
    assert extra["control_draw"]["candidates"] == len(expected)


# The paper's modal verbs, as a researcher would list them; "能干" (capable) is a
# word but no modal, "未收录词" is not in the lexicon at all.
CHINESE_MODALS = ["能", "会", "可以", "应该", "必须", "要", "可能", "愿意", "敢"]


def test_a_config_list_is_filtered_by_the_lexicon(jieba_lexicon):
    words = [*CHINESE_MODALS, "未收录词"]
    options = {"words": {"zh": words}, "lexicon": {"zh": {"kind": "jieba"}}}
    candidates = word_candidates("modal", options, "zh")
    assert list(candidates.words) == CHINESE_MODALS
    assert candidates.origin == "config list, filtered by jieba dict.txt"
    # With tags, only the words jieba tags so: 可以 is a conjunction (c) there,
    # 必须 an adverb (d).
    options["lexicon"]["zh"]["tags"] = ["v"]
    verbs = word_candidates("modal", options, "zh").words
    assert all("v" in jieba_lexicon[word] for word in verbs)
    assert "能" in verbs and "可以" not in verbs and "必须" not in verbs
    options["words"]["zh"] = ["未收录词"]
    with pytest.raises(InputError, match=r"no candidate words for target language"):
        word_candidates("modal", options, "zh")


def test_lexicon_options_are_checked(jieba_lexicon):
    with pytest.raises(InputError, match=r"lexicon\.zh\.tags"):
        word_candidates("adverb", {"lexicon": {"zh": {"kind": "jieba"}}}, "zh")
    with pytest.raises(InputError, match=r"lexicon\.zh\.kind"):
        word_candidates("adverb", {"lexicon": {"zh": {"kind": "hownet"}}}, "zh")


def test_a_missing_jieba_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(control_priors.importlib.util, "find_spec", lambda name: None)
    options = {"lexicon": {"zh": {"kind": "jieba", "tags": ["d"]}}}
    with pytest.raises(MissingResourceError, match="pip install jieba"):
        word_candidates("adverb", options, "zh")


# --------------------------------------------------------------------------- #
# Random vocabulary tokens in the target script
# --------------------------------------------------------------------------- #


def written_in(word: str, script: str) -> bool:
    return all(
        unicodedata.name(character).startswith(SCRIPT_NAME_START[script])
        for character in word
    )


@pytest.mark.parametrize(
    ("language", "script"), [("pt", "Latin"), ("ru", "Cyrillic"), ("uk", "Cyrillic"),
                             ("zh", "Han")],
)  # fmt: skip
@pytest.mark.parametrize("kind", ["byte_level", "metaspace"])
def test_random_draws_are_vocabulary_tokens_in_the_target_script(
    request, kind, language, script
):
    tokenizer = request.getfixturevalue(f"{kind}_tokenizer")
    candidates = vocabulary_candidates("random", tokenizer, {}, language)
    assert len(candidates.words) >= 5
    assert all(written_in(word, script) for word in candidates.words), candidates
    assert len(set(candidates.words)) == len(candidates.words)
    vocabulary = {
        tokenizer.decode([token_id]).strip().strip("▁")
        for token_id in range(len(tokenizer))
    }
    assert set(candidates.words) <= vocabulary
    frame = pd.DataFrame({"id": IDS})
    table, extra = PRIOR_SOURCES.get("random").answers(
        frame, {}, settings("random", {}, language), tokenizer=tokenizer
    )
    assert all(written_in(word, script) for word in table["output"])
    assert extra["control_draw"]["candidates"] == len(candidates.words)
    again, _ = PRIOR_SOURCES.get("random").answers(
        frame, {}, settings("random", {}, language), tokenizer=tokenizer
    )
    assert list(again["output"]) == list(table["output"])


def test_random_candidates_are_in_token_id_order_without_special_tokens(
    byte_level_tokenizer,
):
    tokenizer = byte_level_tokenizer
    candidates = vocabulary_candidates("random", tokenizer, {}, "pt")
    assert "MASK" not in candidates.words  # a special token, although all letters
    first_ids = [
        min(
            token_id
            for token_id in range(len(tokenizer))
            if tokenizer.decode([token_id]).strip() == word
        )
        for word in candidates.words
    ]
    assert first_ids == sorted(first_ids)


def test_the_script_table_can_be_overridden(byte_level_tokenizer):
    options = {"scripts": {"pt": ["Cyrillic"]}}
    candidates = vocabulary_candidates("random", byte_level_tokenizer, options, "pt")
    assert all(written_in(word, "Cyrillic") for word in candidates.words)
    assert candidates.origin.endswith("script Cyrillic")
    with pytest.raises(InputError, match=r"no candidate tokens.*Latn"):
        vocabulary_candidates(
            "random", byte_level_tokenizer, {"scripts": {"pt": ["Latn"]}}, "pt"
        )
    with pytest.raises(InputError, match=r"random\.scripts\.xx"):
        vocabulary_candidates("random", byte_level_tokenizer, {}, "xx")
    with pytest.raises(InputError, match=r"random\.words"):
        vocabulary_candidates("random", byte_level_tokenizer, {"words": {}}, "pt")


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("ação", "pt", True),
        ("açã\u0301o", "pt", True),  # a combining mark after a letter
        ("\u0301ação", "pt", False),  # not before it
        ("ａｂｃ", "en", True),  # fullwidth Latin
        ("gato1", "pt", False),
        ("can't", "en", False),
        ("gatoкот", "pt", False),
        ("кот", "ru", True),
        ("ліжку", "uk", True),
        ("公园", "zh", True),
        ("公园。", "zh", False),
        ("ひらがなカタカナ漢字々", "ja", True),
        ("コーヒー", "ja", True),  # the prolonged sound mark is kana
        ("नमस्ते", "hi", True),  # a virama and vowel signs are marks
        ("한국어", "ko", True),
        ("", "pt", False),
    ],
)
def test_script_words(text, language, expected):
    assert is_script_word(text, LANGUAGE_SCRIPTS[language]) is expected


def test_marks_can_be_disallowed():
    assert not is_script_word("नमस्ते", LANGUAGE_SCRIPTS["hi"], allow_marks=False)
    assert is_script_word("नमस", LANGUAGE_SCRIPTS["hi"], allow_marks=False)


# --------------------------------------------------------------------------- #
# The prior job end to end
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    """A tiny foundation model folder (the prior job loads only its tokenizer)."""
    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("tiny-base"), CORPUS, chat_template=False,
        vocab_size=600,
    )  # fmt: skip


@pytest.mark.parametrize("source", ["modal", "random"])
def test_build_prior_records_the_draw(tmp_path, tokenizer_dir, source):
    from prettyflow.steps.priors import build_prior

    data = tmp_path / "data.parquet"
    frame = pd.DataFrame({"id": IDS[:12], "source": ["The cat sat."] * 12})
    write_parquet(frame, data, {})
    word_file = str(DEMO_LISTS / "pt-modal.txt")
    options = {"words": {"pt": word_file}} if source == "modal" else {}
    job = {
        **settings(source, options),
        "k": 2,
        "tokenizer": {"name": "tiny-base", "path": str(tokenizer_dir)},
    }
    context = PriorContext("translation", "flores", "tiny", "en-pt", "tiny-sft")
    inputs = PRIOR_SOURCES.get(source).upstream(None, context, options)
    output = tmp_path / "prior.parquet"
    table = build_prior(data, output, job, inputs)

    back = read_parquet(output)
    assert list(back["id"]) == IDS[:12]
    assert list(back["control_word"]) == list(table["control_word"])
    for word, prior in zip(back["control_word"], back["prior_text"]):
        assert prior and word.startswith(prior)
    provenance = read_provenance(output)
    draw = provenance["control_draw"]
    assert (draw["seed"], draw["source"], draw["target_lang"]) == (7, source, "pt")
    if source == "modal":
        assert set(back["control_word"]) <= set(read_word_file(word_file))
        assert draw["origin"] == f"file {word_file}" and draw["candidates"] == 30
        assert provenance["upstream"] == [word_file]
    else:
        assert all(written_in(word, "Latin") for word in back["control_word"])
        assert draw["origin"] == f"vocabulary of {tokenizer_dir}, script Latin"
    json.dumps(provenance)  # plain JSON
    # The same job again draws the same words.
    again = build_prior(data, tmp_path / "again.parquet", job, inputs)
    assert list(again["control_word"]) == list(back["control_word"])
