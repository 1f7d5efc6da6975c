from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from prettyflow.errors import InputError
from prettyflow.pos.data import UPOS_TAGS
from prettyflow.prompts import (
    PROMPT_FIELDS,
    build_prompts,
    check_templates,
    demonstration_block,
    join_prompt_and_prior,
    render_prompt,
    template_fields,
)
from prettyflow.tasks import TASKS

LANGUAGES = {"en": "English", "pt": "Portuguese", "fr": "French"}


@pytest.fixture(scope="module")
def templates(repo_root) -> dict[str, str]:
    """The paper's templates (appendix C.2) as shipped in config.yaml."""
    config = yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))
    tasks = config["tasks"]
    return {
        "translation_normal": tasks["translation"]["templates"]["normal"],
        "translation_prompting": tasks["translation"]["templates"]["prompting"],
        "summarization": tasks["summarization"]["templates"]["normal"],
        "pos": tasks["pos"]["templates"]["normal"],
    }


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


def test_paper_templates_use_only_known_fields(templates):
    for template in templates.values():
        assert set(template_fields(template)) <= set(PROMPT_FIELDS)
    assert template_fields(templates["translation_prompting"]) == [
        "source_language",
        "source_text",
        "target_language",
    ]
    assert template_fields(templates["summarization"])[0] == "demonstration"
    assert set(template_fields(templates["pos"])) == {"tags", "words"}
    assert templates["translation_normal"].endswith("{source_text}\n")


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


def test_render_prompt_missing_value_names_placeholder_and_key(templates):
    with pytest.raises(
        InputError, match=r"prompts.pos: placeholder \{words\} has no value"
    ):
        render_prompt(templates["pos"], template_name="prompts.pos", tags="NOUN")


def test_join_rule():
    assert join_prompt_and_prior("Translation:", "O gato") == "Translation: O gato"
    assert join_prompt_and_prior("sentence.\n", "O gato") == "sentence.\nO gato"
    assert join_prompt_and_prior("Translation:", "") == "Translation:"
    assert join_prompt_and_prior("Translation:", " O") == "Translation: O"
    assert join_prompt_and_prior("Translation: ", "O") == "Translation: O"
    assert join_prompt_and_prior("Output: [", "{", "none") == "Output: [{"
    with pytest.raises(InputError, match="separator policy"):
        join_prompt_and_prior("a", "b", "tab")  # type: ignore[arg-type]


def test_build_prompts_translation_prompting_puts_prior_at_answer_start(templates):
    prompts = build_prompts(
        "translation",
        translation_frame(),
        templates["translation_prompting"],
        LANGUAGES,
        ["O gato", None],
        "auto",
    )
    assert prompts == [
        "English: The cat sat on the bed.\nPortuguese Translation: O gato",
        "English: It rains.\nPortuguese Translation:",
    ]


def test_build_prompts_translation_normal_answer_on_next_line(templates):
    prompts = build_prompts(
        "translation", translation_frame(), templates["translation_normal"], LANGUAGES,
        ["O gato", ""], "auto",
    )  # fmt: skip
    assert prompts[0] == (
        "Translate the following sentences from English to Portuguese. "
        "The cat sat on the bed.\nO gato"
    )
    assert prompts[1].endswith("It rains.\n")


def test_build_prompts_reports_bad_rows_and_shapes(templates):
    frame = translation_frame()
    with pytest.raises(InputError, match="1 prior texts for 2 samples"):
        build_prompts("translation", frame, templates["translation_prompting"],
                      LANGUAGES, ["x"])  # fmt: skip
    bad_language = frame.assign(target_lang=["pt", "xx"])
    with pytest.raises(InputError) as caught:
        build_prompts(
            "translation",
            bad_language,
            templates["translation_prompting"],
            LANGUAGES,
        )
    assert caught.value.field == "target_lang"
    assert "row 2" in str(caught.value) and "'xx'" in str(caught.value)
    with pytest.raises(InputError) as caught:
        build_prompts(
            "translation", frame.drop(columns="source"), "{source_text}", LANGUAGES
        )
    assert caught.value.field == "source"
    with pytest.raises(InputError, match="unknown task 'qa'") as caught:
        build_prompts("qa", frame, "{source_text}", LANGUAGES)
    assert caught.value.field == "task"
    for task in TASKS:  # the registered tasks are listed
        assert task in str(caught.value)
    # A translation template cannot use the POS word list.
    with pytest.raises(InputError, match=r"prompts.mt: placeholder \{words\}"):
        build_prompts(
            "translation", frame, "{words}", LANGUAGES, template_name="prompts.mt"
        )


def test_build_prompts_with_one_template_per_row(templates):
    listed = [templates["translation_normal"], templates["translation_prompting"]]
    prompts = build_prompts(
        "translation",
        translation_frame(),
        listed,
        LANGUAGES,
        ["O gato", None],
        template_indices=[1, 0],
    )
    assert prompts == [
        "English: The cat sat on the bed.\nPortuguese Translation: O gato",
        "Translate the following sentences from English to Portuguese. It rains.\n",
    ]
    # Each template's own demonstration block goes before its rows.
    with_demonstrations = build_prompts(
        "translation",
        translation_frame(),
        ["{demonstration}A {source_text}", "{demonstration}B {source_text}"],
        LANGUAGES,
        demonstration=["a-demo\n", "b-demo\n"],
        template_indices=[1, 0],
    )
    assert with_demonstrations == [
        "b-demo\nB The cat sat on the bed.",
        "a-demo\nA It rains.",
    ]


def test_build_prompts_checks_the_template_list_before_any_row(templates):
    frame = translation_frame()
    good, other = templates["translation_prompting"], templates["translation_normal"]
    with pytest.raises(InputError, match=r"prompts\.t\[1\]: unknown placeholder"):
        build_prompts("translation", frame, [good, "{text}"], LANGUAGES,
                      template_name="prompts.t", template_indices=[0, 0])  # fmt: skip
    with pytest.raises(InputError, match="1 template indices for 2 samples"):
        build_prompts("translation", frame, [good], LANGUAGES, template_indices=[0])
    with pytest.raises(InputError, match="row 2: template index 2 is not in 0..1"):
        build_prompts("translation", frame, [good, other], LANGUAGES,
                      template_indices=[0, 2])  # fmt: skip
    with pytest.raises(InputError, match="1 demonstration blocks for 2 templates"):
        build_prompts("translation", frame, [good, other], LANGUAGES,
                      demonstration=["x"], template_indices=[0, 1])  # fmt: skip
    with pytest.raises(TypeError, match="template_indices needs a list"):
        build_prompts("translation", frame, good, LANGUAGES, template_indices=[0, 0])


@pytest.mark.parametrize(
    ("templates", "field", "message"),
    [
        ("{source_text}", "ts", "expected a list of templates"),
        ([], "ts", "at least one template"),
        (["{source_text}", " "], "ts[1]", "non-empty template string"),
        (["{source_text}", 3], "ts[1]", "non-empty template string"),
        (["{source_text", "x"], "ts[0]", "malformed template"),
        (["{source_text}", "{source_text}"], "ts[1]", r"the same template as ts\[0\]"),
    ],
)
def test_check_templates_names_the_bad_entry(templates, field, message):
    with pytest.raises(InputError, match=message) as caught:
        check_templates(templates, "ts")
    assert caught.value.field == field


def test_summarization_demonstration_block_precedes_the_task(templates):
    template = templates["summarization"]
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


def test_build_prompts_pos_lists_tags_and_words_and_prior(templates):
    frame = pd.DataFrame(
        {"id": ["p1"], "tokens": [["Le", "chat", "dîne", "."]],
         "tags": [["DET", "NOUN", "VERB", "PUNCT"]], "lang": ["fr"]}
    )  # fmt: skip
    prior = '[{"word": "Le", "tag": "DET"}'
    (prompt,) = build_prompts("pos", frame, templates["pos"], LANGUAGES, [prior])
    assert "labels: [" + ", ".join(UPOS_TAGS) + "]" in prompt
    words_line = prompt.split("\nInput: ")[1].split("\n")[0]
    assert json.loads(words_line) == ["Le", "chat", "dîne", "."]
    assert "dîne" in words_line  # not \u-escaped
    assert prompt.endswith('\nOutput: [{"word": "Le", "tag": "DET"}')


def test_language_names_come_only_from_the_given_mapping(templates):
    frame = translation_frame()
    names = {"en": "Inglês", "pt": "Português"}
    (prompt, _) = build_prompts(
        "translation", frame, templates["translation_prompting"], names
    )
    assert prompt == "Inglês: The cat sat on the bed.\nPortuguês Translation:"
    with pytest.raises(TypeError):
        build_prompts("translation", frame, templates["translation_prompting"])  # type: ignore[call-arg]
    with pytest.raises(InputError) as caught:
        build_prompts("translation", frame, templates["translation_prompting"], {})
    assert caught.value.field == "source_lang" and "row 1" in str(caught.value)


def test_each_task_fills_its_own_fields(templates):
    # The task registry says which fields a row gives: POS has no source text,
    # translation no word list; {tags} is the UPOS set of prettyflow.pos.data.
    pos_frame = pd.DataFrame(
        {"id": ["p1"], "tokens": [["Le", "chat"]], "tags": [["DET", "NOUN"]],
         "lang": ["fr"]}
    )  # fmt: skip
    (tags,) = build_prompts("pos", pos_frame, "{tags}", LANGUAGES)
    assert tags.split(", ") == list(UPOS_TAGS)
    (languages,) = build_prompts(
        "pos", pos_frame, "{source_language}/{target_language}", LANGUAGES
    )
    assert languages == "French/French"
    with pytest.raises(InputError, match=r"placeholder \{source_text\} has no value"):
        build_prompts("pos", pos_frame, "{source_text}", LANGUAGES)
    with pytest.raises(InputError, match="empty word list") as caught:
        build_prompts("pos", pos_frame.assign(tokens=[[]]), "{words}", LANGUAGES)
    assert caught.value.field == "tokens"
    with pytest.raises(InputError) as caught:
        build_prompts("pos", pos_frame.drop(columns="lang"), "{words}", LANGUAGES)
    assert caught.value.field == "lang"
    with pytest.raises(InputError, match="empty source text") as caught:
        build_prompts(
            "summarization",
            translation_frame().assign(source=["  ", "x"]),
            templates["summarization"],
            LANGUAGES,
        )
    assert caught.value.field == "source"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{source_text:d}", r"\{source_text:d\} has a format spec"),
        ("{source_text!r}", r"\{source_text!r\} has a format spec or conversion"),
        ("{source_text:{tags}}", "format spec"),
        ("{}", r"unknown placeholder \{\}"),
        ("{0}", r"unknown placeholder \{0\}"),
        ("{source_text.upper}", "unknown placeholder"),
        ("{source_text", "malformed template"),
    ],
)
def test_templates_with_specs_conversions_or_positions_are_refused(template, expected):
    from prettyflow.prompts import template_fields

    with pytest.raises(InputError, match=expected) as caught:
        template_fields(template, "tasks.translation.templates.normal")
    assert caught.value.field == "tasks.translation.templates.normal"


def test_each_task_allows_only_the_fields_it_fills():
    from prettyflow.prompts import check_task_template, task_template_fields

    assert task_template_fields("translation") == (
        "source_language",
        "target_language",
        "source_text",
    )
    assert "demonstration" in task_template_fields("summarization")
    assert set(task_template_fields("pos")) >= {"words", "tags"}
    assert check_task_template("{words} {tags}", "pos", "t") == ["words", "tags"]
    with pytest.raises(InputError, match=r"unknown placeholder \{words\}"):
        check_task_template("{words}", "translation", "tasks.translation.templates.x")
