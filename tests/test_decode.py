from __future__ import annotations

import warnings

import pytest
import torch
from decode_setup import force_first_token, newline_token
from tiny_models import build_tiny_causal_lm

from prettyflow.cleaning import stop_position
from prettyflow.decode import (
    Generation,
    chat_prompts,
    generate_greedy,
    render_chat_prompt,
)
from prettyflow.errors import InputError
from prettyflow.models import ModelSpec, load_model_and_tokenizer

CORPUS = [
    "English: The cat sits on the bed.\nPortuguese: O gato está sentado na cama.",
    "English: Where is the station?\nPortuguese: Onde fica a estação?",
    "Translate the following sentence from English to Portuguese.",
    "The weather is nice today. O tempo está bom hoje.",
] * 4

PROMPTS = [
    "English: The cat sits on the bed.\nPortuguese:",
    "Hi",
    "English: Where is the station? Please tell me where the station is.\nPortuguese:",
    "The weather",
    "Translate the following sentence from English to Portuguese.",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = build_tiny_causal_lm(
        tmp_path_factory.mktemp("tiny-lm"), CORPUS, chat_template=True
    )
    return load_model_and_tokenizer(
        ModelSpec("tiny", str(directory)), torch.device("cpu"), torch.float32
    )


def unbounded(model, tokenizer, prompts, max_new_tokens=24, batch_size=16):
    return generate_greedy(
        model,
        tokenizer,
        prompts,
        max_new_tokens=max_new_tokens,
        stop_strings=(),
        batch_size=batch_size,
        progress=False,
    )


def test_empty_prompt_list_gives_empty_result(tiny):
    model, tokenizer = tiny
    assert generate_greedy(model, tokenizer, [], max_new_tokens=8) == []


def test_continuation_is_the_plain_generate_continuation_without_the_prompt(tiny):
    model, tokenizer = tiny
    results = unbounded(model, tokenizer, PROMPTS, max_new_tokens=12)
    for prompt, result in zip(PROMPTS, results):
        encoded = tokenizer(prompt, return_tensors="pt")
        output = model.generate(**encoded, max_new_tokens=12, do_sample=False)
        new_tokens = output[0, encoded.input_ids.shape[1] :].tolist()
        assert result.continuation == tokenizer.decode(
            new_tokens, skip_special_tokens=True
        )
        if tokenizer.eos_token_id in new_tokens:
            assert result.stopped_by == "eos"
            assert result.num_new_tokens == new_tokens.index(tokenizer.eos_token_id) + 1
        else:
            assert (result.stopped_by, result.num_new_tokens) == ("length", 12)
        assert not result.continuation.startswith(prompt)


def test_batching_and_sorting_keep_input_order_and_results(tiny):
    model, tokenizer = tiny
    one_by_one = unbounded(model, tokenizer, PROMPTS, batch_size=1)
    batched = unbounded(model, tokenizer, PROMPTS, batch_size=2)
    whole = unbounded(model, tokenizer, PROMPTS, batch_size=16)
    assert one_by_one == batched == whole
    # Not all the same: the order really is restored, not coincidentally constant.
    assert len({result.continuation for result in whole}) > 1


def test_stops_at_first_stop_string_and_cuts_it_off(tiny):
    model, tokenizer = tiny
    full = unbounded(model, tokenizer, PROMPTS[:1], max_new_tokens=24)[0].continuation
    # A stop string taken from the middle of the unbounded continuation.
    position = next(i for i in range(3, len(full)) if full[i] not in "\ufffd ")
    stop = full[position]
    expected = full[: full.index(stop)]
    [result] = generate_greedy(
        model,
        tokenizer,
        PROMPTS[:1],
        max_new_tokens=24,
        stop_strings=(stop, "never-generated"),
        progress=False,
    )
    assert result.stopped_by == "stop"
    assert result.continuation == expected
    assert stop not in result.continuation
    assert result.num_new_tokens < 24


def test_batch_stops_each_row_at_its_own_stop(tiny):
    model, tokenizer = tiny
    fulls = unbounded(model, tokenizer, PROMPTS, max_new_tokens=16)
    stop = fulls[0].continuation[2]
    separately = [
        generate_greedy(
            model,
            tokenizer,
            [p],
            max_new_tokens=16,
            stop_strings=(stop,),
            progress=False,
        )[0]
        for p in PROMPTS
    ]
    together = generate_greedy(
        model,
        tokenizer,
        PROMPTS,
        max_new_tokens=16,
        stop_strings=(stop,),
        progress=False,
    )
    assert together == separately
    for full, result in zip(fulls, together):
        cut = full.continuation.find(stop)
        if result.stopped_by == "stop":
            assert result.continuation == full.continuation[:cut]
        else:
            assert cut == -1 and result == full


@pytest.fixture
def opening_with_newline(tiny):
    """The tiny model, made to open every answer with "\n" (then its own tokens)."""
    model, tokenizer = tiny
    hook = force_first_token(model, newline_token(tokenizer))
    yield model, tokenizer
    hook.remove()


def test_a_stop_string_counts_only_after_the_answers_first_text():
    stops = ("\n",)
    assert stop_position("\nO gato.\nEnglish:", stops) == 8
    assert stop_position(" \n\t\n", stops) is None  # no text yet: not over
    assert stop_position("O gato.\n", stops) == 7
    # After a prior with text, a leading newline ends the answer.
    assert stop_position("\nO gato.", stops, started=True) == 0
    # A stop string that holds text counts where it starts, blank or not.
    assert stop_position("\nOutput: x", ("\nOutput",)) == 0
    assert stop_position("\n\n[1]\n\n", ("\n\n",)) == 5
    assert stop_position("a.b", ("b", "a")) == 0  # the earliest of several


def test_a_leading_newline_does_not_end_the_answer(opening_with_newline):
    model, tokenizer = opening_with_newline
    fulls = unbounded(model, tokenizer, PROMPTS, max_new_tokens=16)
    assert all(full.continuation.startswith("\n") for full in fulls)
    # A second stop string from the middle of the first answer, so that some
    # rows stop after their text and others run on.
    first = fulls[0].continuation
    stops = ("\n", next(c for c in first[3:] if c not in "\ufffd \n"))
    results = generate_greedy(
        model, tokenizer, PROMPTS, max_new_tokens=16, stop_strings=stops, progress=False
    )
    for full, result in zip(fulls, results):
        text = full.continuation
        start = len(text) - len(text.lstrip())  # the answer's first text
        # Every position, the slow way: the first stop string ending after ``start``.
        cut = next(
            (
                i
                for i in range(len(text))
                for stop in stops
                if text.startswith(stop, i) and i + len(stop) > start
            ),
            None,
        )
        if cut is not None:
            assert result.stopped_by == "stop"
            assert result.continuation == text[:cut]
            assert result.text.startswith(result.continuation)
        else:
            assert result == full
        assert result.continuation.startswith("\n") and result.continuation.strip()
    assert any(result.stopped_by == "stop" for result in results)
    # Before, "\n" ended every one of these answers at their first token, empty.


def test_the_prior_is_part_of_the_answer(opening_with_newline):
    model, tokenizer = opening_with_newline
    prompts = [f"{prompt} O gato" for prompt in PROMPTS]
    after_text = generate_greedy(
        model,
        tokenizer,
        prompts,
        max_new_tokens=16,
        answer_prefixes=["O gato"] * len(prompts),
        progress=False,
    )
    # The answer has text already: its first new token, "\n", ends it.
    assert all(
        (r.continuation, r.text, r.stopped_by, r.num_new_tokens)
        == ("", "\n", "stop", 1)
        for r in after_text
    )
    blank = generate_greedy(
        model,
        tokenizer,
        prompts,
        max_new_tokens=16,
        answer_prefixes=[" \n"] * len(prompts),
        progress=False,
    )
    assert blank == generate_greedy(
        model, tokenizer, prompts, max_new_tokens=16, progress=False
    )
    assert all(result.continuation.strip() for result in blank)
    with pytest.raises(InputError, match="1 answer prefixes for 5 prompts"):
        generate_greedy(
            model, tokenizer, prompts, max_new_tokens=2, answer_prefixes=["x"]
        )


def test_leading_newline_stops_do_not_depend_on_the_batch(opening_with_newline):
    model, tokenizer = opening_with_newline
    # Answers with and without text before their first new token, mixed in batches.
    prefixes = ["", "O", "", " ", "gato"]

    def run(prompts, answer_prefixes, batch_size):
        return generate_greedy(
            model,
            tokenizer,
            prompts,
            max_new_tokens=12,
            stop_strings=("\n", "en"),
            answer_prefixes=answer_prefixes,
            batch_size=batch_size,
            progress=False,
        )

    separately = [run([p], [a], 1)[0] for p, a in zip(PROMPTS, prefixes)]
    for batch_size in (1, 2, 16):
        assert run(PROMPTS, prefixes, batch_size) == separately
    assert {r.continuation == "" for r in separately} == {True, False}


def test_eos_stops_a_row(tiny):
    model, tokenizer = tiny
    encoded = tokenizer(PROMPTS[0], return_tensors="pt")
    new_tokens = model.generate(**encoded, max_new_tokens=16, do_sample=False)[
        0, encoded.input_ids.shape[1] :
    ]
    position = 3
    eos_candidate = int(new_tokens[position])
    position = new_tokens.tolist().index(eos_candidate)
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, eos_candidate]
    try:
        [result] = generate_greedy(
            model,
            tokenizer,
            PROMPTS[:1],
            max_new_tokens=16,
            stop_strings=(),
            progress=False,
        )
    finally:
        model.generation_config.eos_token_id = saved
    assert result.stopped_by == "eos"
    assert result.num_new_tokens == position + 1
    assert result.continuation == tokenizer.decode(
        new_tokens[:position].tolist(), skip_special_tokens=True
    )


def test_sampling_settings_of_the_checkpoint_are_ignored(tiny):
    model, tokenizer = tiny
    baseline = unbounded(model, tokenizer, PROMPTS)
    config = model.generation_config
    config.do_sample, config.temperature, config.top_k, config.repetition_penalty = (
        True,
        5.0,
        3,
        3.0,
    )
    try:
        torch.manual_seed(123)
        first = unbounded(model, tokenizer, PROMPTS)
        torch.manual_seed(456)
        second = unbounded(model, tokenizer, PROMPTS)
        assert model.generation_config is config  # restored after decoding
    finally:
        (
            config.do_sample,
            config.temperature,
            config.top_k,
            config.repetition_penalty,
        ) = False, 1.0, 50, 1.0
    assert first == second == baseline


def test_decoding_uses_no_deprecated_transformers_api(tiny):
    # E.g. passing the cache as past_key_values (a FutureWarning until 5.40).
    model, tokenizer = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        results = unbounded(model, tokenizer, PROMPTS, max_new_tokens=4, batch_size=2)
    assert len(results) == len(PROMPTS)


def test_progress_bar_goes_to_stderr(tiny, capsys):
    model, tokenizer = tiny
    generate_greedy(
        model, tokenizer, PROMPTS, max_new_tokens=2, desc="tiny-decode", batch_size=2
    )
    captured = capsys.readouterr()
    assert "tiny-decode" in captured.err
    assert captured.out == ""


def test_chat_prompt_opens_the_assistant_turn_without_a_second_bos(tiny):
    model, tokenizer = tiny
    text, add_special_tokens = render_chat_prompt(
        tokenizer, "Translate: the cat", system="Be brief."
    )
    assert add_special_tokens is False
    assert text.startswith("<s><|system|>\nBe brief.")
    assert text.endswith("<|user|>\nTranslate: the cat</s>\n<|assistant|>\n")
    ids = tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
    assert ids.count(tokenizer.bos_token_id) == 1
    [result] = generate_greedy(
        model,
        tokenizer,
        [text],
        max_new_tokens=4,
        add_special_tokens=add_special_tokens,
        progress=False,
    )
    assert isinstance(result, Generation)
    assert list(result.prompt_token_ids) == ids


def test_chat_prompt_without_template_is_a_clear_error(tmp_path):
    directory = build_tiny_causal_lm(tmp_path / "plain", CORPUS, chat_template=False)
    _, tokenizer = load_model_and_tokenizer(
        ModelSpec("plain", str(directory)), torch.device("cpu"), torch.float32
    )
    with pytest.raises(InputError, match="no chat template"):
        render_chat_prompt(tokenizer, "hello")


def test_chat_prompts_render_each_prompt_as_one_user_turn(tiny):
    _, tokenizer = tiny
    # The plain template's answer slot (a final newline) is left to the chat template.
    prompts = ["Translate: the cat\n", "Translate: the dog  "]
    texts, add_special_tokens = chat_prompts(tokenizer, prompts)
    assert add_special_tokens is False
    assert texts == [
        render_chat_prompt(tokenizer, prompt.rstrip())[0] for prompt in prompts
    ]
    assert texts[0].endswith("<|user|>\nTranslate: the cat</s>\n<|assistant|>\n")
    assert "<|system|>" not in texts[0]
    with_system, _ = chat_prompts(tokenizer, prompts[:1], system="Be brief.")
    assert with_system == [
        render_chat_prompt(tokenizer, "Translate: the cat", system="Be brief.")[0]
    ]
    assert chat_prompts(tokenizer, []) == ([], False)


def test_bad_arguments_are_rejected(tiny):
    model, tokenizer = tiny
    with pytest.raises(InputError, match="max_new_tokens"):
        generate_greedy(model, tokenizer, ["x"], max_new_tokens=0)
    with pytest.raises(InputError, match="batch_size"):
        generate_greedy(model, tokenizer, ["x"], max_new_tokens=1, batch_size=0)
    with pytest.raises(InputError, match="stop strings"):
        generate_greedy(model, tokenizer, ["x"], max_new_tokens=1, stop_strings=("",))


def test_finished_rows_leave_the_batch(tiny):
    model, tokenizer = tiny
    fulls = unbounded(model, tokenizer, PROMPTS, max_new_tokens=16)
    stop = fulls[0].continuation[2]
    batch_rows = []
    hook = model.register_forward_hook(
        lambda module, args, kwargs, output: batch_rows.append(
            kwargs["input_ids"].shape[0]
        ),
        with_kwargs=True,
    )
    try:
        together = generate_greedy(
            model,
            tokenizer,
            PROMPTS,
            max_new_tokens=16,
            stop_strings=(stop,),
            progress=False,
        )
    finally:
        hook.remove()
    finished_early = sorted(
        result.num_new_tokens for result in together if result.stopped_by == "stop"
    )
    assert finished_early, (
        "the stop string must end some rows early for this test to mean anything"
    )
    # One forward per step; after a row's last token the next forward has one row fewer.
    assert batch_rows[0] == len(PROMPTS)
    assert batch_rows == sorted(batch_rows, reverse=True)
    assert batch_rows[finished_early[0]] < len(PROMPTS)
    assert len(batch_rows) == max(result.num_new_tokens for result in together)


class _FailingForwards:
    """Raises the out-of-memory error that CUDA would, for the batches ``fails`` picks.

    A forward pre-hook, so the model's forward (and its signature, which decides
    how the cache is passed) stays the real one. Records each batch's rows at
    its first forward (the prompts) in ``prefill_rows``.
    """

    def __init__(self, fails):
        self.fails = fails
        self.prefill_rows: list[int] = []
        self.step = 0

    def __call__(self, module, args, kwargs):
        rows, width = kwargs["input_ids"].shape
        if width > 1:  # the prompts: a new batch starts
            self.prefill_rows.append(rows)
            self.step = 0
        self.step += 1
        if self.fails(rows, self.step):
            raise torch.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 2.00 GiB (injected)"
            )


def test_out_of_memory_halves_the_batch_and_keeps_the_outputs(tiny, caplog):
    model, tokenizer = tiny
    expected = unbounded(model, tokenizer, PROMPTS, batch_size=16)
    # Fails at the third step of a batch of more than 2 rows: the cache is already
    # filled, and the batch's first new tokens must be thrown away and redone.
    failing = _FailingForwards(lambda rows, step: rows > 2 and step == 3)
    hook = model.register_forward_pre_hook(failing, with_kwargs=True)
    try:
        with caplog.at_level("WARNING", logger="prettyflow"):
            results = unbounded(model, tokenizer, PROMPTS, batch_size=16)
    finally:
        hook.remove()
    assert results == expected
    # All 5 prompts fail once; then halves of 2, kept for the rest of the decode.
    assert failing.prefill_rows == [5, 2, 2, 1]
    [warning] = [r.getMessage() for r in caplog.records if r.name == "prettyflow"]
    assert "out of memory decoding 5 prompts" in warning
    assert "retrying in batches of 2" in warning
    assert "compute.batch_size" in warning


def test_out_of_memory_at_batch_size_one_says_what_to_change(tiny, caplog):
    model, tokenizer = tiny
    # The longest prompt comes first, alone, so the error names its length.
    prompt_tokens = max(len(tokenizer(p)["input_ids"]) for p in PROMPTS[:3])
    failing = _FailingForwards(lambda rows, step: True)
    hook = model.register_forward_pre_hook(failing, with_kwargs=True)
    try:
        with (
            caplog.at_level("WARNING", logger="prettyflow"),
            pytest.raises(torch.OutOfMemoryError) as error,
        ):
            unbounded(model, tokenizer, PROMPTS[:3], batch_size=4)
    finally:
        hook.remove()
    assert failing.prefill_rows == [3, 1]
    message = str(error.value)
    assert f"a single prompt of {prompt_tokens} tokens" in message
    assert model.name_or_path in message
    assert "compute.decode.mem_mb" in message and "bfloat16" in message
    assert "injected" in str(error.value.__cause__)
    assert [r.getMessage() for r in caplog.records if r.name == "prettyflow"] == [
        "out of memory decoding 3 prompts (the longest "
        f"{prompt_tokens} tokens) with {model.name_or_path}: retrying in batches "
        "of 1 for the rest of this decode (lower compute.batch_size to avoid the "
        "failed attempts)"
    ]
