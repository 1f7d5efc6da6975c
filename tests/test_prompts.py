from __future__ import annotations

import json

import pandas as pd
import pytest

from prettyflow.errors import InputError
from prettyflow.prompts import (
    PAPER_TEMPLATES,
    UPOS_TAGS,
    build_prompts,
    demonstration_block,
    join_prompt_and_prior,
    render_prompt,
    template_fields,
)

LANGUAGES = {"en": "English", "pt": "Portuguese", "fr": "French"}


def translation_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["s1", "s2"],
            "source": ["The cat sat on the bed.", "It rains."],
            "reference": ["O gato sentou-se na cama.", "Chove."],
            "source_lang": ["en", "en"],
            "target_lang": ["pt", "pt"],
        }
    )


def test_paper_templates_use_only_known_fields():
    assert template_fields(PAPER_TEMPLATES["translation_prompting"]) == [
        "source_language",
        "source_text",
        "target_language",
    ]
    assert template_fields(PAPER_TEMPLATES["summarization"])[0] == "demonstration"
    assert set(template_fields(PAPER_TEMPLATES["pos"])) == {"tags", "words"}
    assert PAPER_TEMPLATES["translation_normal"].endswith("{source_text}\n")


def test_render_prompt_fills_fields_and_keeps_literal_braces():
    text = render_prompt(
        "{{x}} {source_language}: {source_text}",
        source_language="English",
        source_text="Hi",
    )
    assert text == "{x} English: Hi"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{source_lang}: {source_text}", "unknown placeholder {source_lang}"),
        ("{}: {source_text}", "unknown placeholder {}"),
        ("{source_text.upper}", "unknown placeholder {source_text.upper}"),
        ("{source_text", "malformed template"),
    ],
)
def test_render_prompt_rejects_bad_templates_naming_the_key(template, expected):
    with pytest.raises(InputError) as caught:
        render_prompt(template, template_name="prompts.translation", source_text="Hi")
    assert caught.value.field == "prompts.translation"
    assert expected in str(caught.value)
    assert str(caught.value).startswith("prompts.translation: ")


def test_render_prompt_missing_value_names_placeholder_and_key():
    with pytest.raises(
        InputError, match=r"prompts.pos: placeholder \{words\} has no value"
    ):
        render_prompt(PAPER_TEMPLATES["pos"], template_name="prompts.pos", tags="NOUN")


def test_join_rule():
    assert join_prompt_and_prior("Translation:", "O gato") == "Translation: O gato"
    assert join_prompt_and_prior("sentence.\n", "O gato") == "sentence.\nO gato"
    assert join_prompt_and_prior("Translation:", "") == "Translation:"
    assert join_prompt_and_prior("Translation:", " O") == "Translation: O"
    assert join_prompt_and_prior("Translation: ", "O") == "Translation: O"
    assert join_prompt_and_prior("Output: [", "{", "none") == "Output: [{"
    with pytest.raises(InputError, match="separator policy"):
        join_prompt_and_prior("a", "b", "tab")  # type: ignore[arg-type]


def test_build_prompts_translation_prompting_puts_prior_at_answer_start():
    prompts = build_prompts(
        "translation",
        translation_frame(),
        PAPER_TEMPLATES["translation_prompting"],
        LANGUAGES,
        ["O gato", None],
        "auto",
    )
    assert prompts == [
        "English: The cat sat on the bed.\nPortuguese Translation: O gato",
        "English: It rains.\nPortuguese Translation:",
    ]


def test_build_prompts_translation_normal_answer_on_next_line():
    prompts = build_prompts(
        "translation", translation_frame(), PAPER_TEMPLATES["translation_normal"], LANGUAGES,
        ["O gato", ""], "auto",
    )  # fmt: skip
    assert prompts[0] == (
        "Translate the following sentences from English to Portuguese. "
        "The cat sat on the bed.\nO gato"
    )
    assert prompts[1].endswith("It rains.\n")


def test_build_prompts_reports_bad_rows_and_shapes():
    frame = translation_frame()
    with pytest.raises(InputError, match="1 prior texts for 2 samples"):
        build_prompts("translation", frame, PAPER_TEMPLATES["translation_prompting"],
                      LANGUAGES, ["x"])  # fmt: skip
    bad_language = frame.assign(target_lang=["pt", "xx"])
    with pytest.raises(InputError) as caught:
        build_prompts(
            "translation",
            bad_language,
            PAPER_TEMPLATES["translation_prompting"],
            LANGUAGES,
        )
    assert caught.value.field == "target_lang"
    assert "row 2" in str(caught.value) and "'xx'" in str(caught.value)
    with pytest.raises(InputError) as caught:
        build_prompts(
            "translation", frame.drop(columns="source"), "{source_text}", LANGUAGES
        )
    assert caught.value.field == "source"
    with pytest.raises(InputError, match="task"):
        build_prompts("qa", frame, "{source_text}", LANGUAGES)
    # A translation template cannot use the POS word list.
    with pytest.raises(InputError, match=r"prompts.mt: placeholder \{words\}"):
        build_prompts(
            "translation", frame, "{words}", LANGUAGES, template_name="prompts.mt"
        )


def test_summarization_demonstration_block_precedes_the_task():
    template = PAPER_TEMPLATES["summarization"]
    demo = demonstration_block(
        {"source": "A storm hit the coast.", "reference": "Tempestade atinge a costa."},
        template,
        source_language="English",
        target_language="Portuguese",
    )
    assert demo.endswith("Output: Portuguese Summary: Tempestade atinge a costa.\n\n")
    assert demo.startswith("Please write a concise summary")
    frame = translation_frame()
    prompts = build_prompts(
        "summarization",
        frame,
        template,
        LANGUAGES,
        ["Um gato", None],
        demonstration=demo,
    )
    assert prompts[0].startswith(demo + "Please write a concise summary")
    assert prompts[0].endswith(
        "Input: The cat sat on the bed.\nOutput: Portuguese Summary: Um gato"
    )
    assert prompts[1].endswith("Summary:")
    crosssum = demonstration_block(
        {
            "text": "A storm hit the coast.",
            "summary": "Tempestade atinge a costa.",
            "url": "x",
        },
        template,
        source_language="English",
        target_language="Portuguese",
    )
    assert crosssum == demo
    with pytest.raises(InputError, match="demonstration.reference"):
        demonstration_block({"source": "x", "reference": ""}, template,
                            source_language="English", target_language="Portuguese")  # fmt: skip


def test_build_prompts_pos_lists_tags_and_words_and_prior():
    frame = pd.DataFrame(
        {"id": ["p1"], "tokens": [["Le", "chat", "dîne", "."]],
         "tags": [["DET", "NOUN", "VERB", "PUNCT"]], "lang": ["fr"]}
    )  # fmt: skip
    prior = '[{"word": "Le", "tag": "DET"}'
    (prompt,) = build_prompts("pos", frame, PAPER_TEMPLATES["pos"], LANGUAGES, [prior])
    assert "labels: [" + ", ".join(UPOS_TAGS) + "]" in prompt
    words_line = prompt.split("\nInput: ")[1].split("\n")[0]
    assert json.loads(words_line) == ["Le", "chat", "dîne", "."]
    assert "dîne" in words_line  # not \u-escaped
    assert prompt.endswith('\nOutput: [{"word": "Le", "tag": "DET"}')
