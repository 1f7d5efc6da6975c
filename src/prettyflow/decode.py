"""Batched greedy decoding with stop strings.

Every decode of the workflow goes through :func:`generate_greedy`: prompts are
sorted by length and decoded in left-padded batches (one ``generate`` call per
batch), each row stops at its first stop string or EOS, and the results come
back in input order, cut at the stop string. Greedy decoding with no sampling
and no penalties makes a decode a function of its prompt.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from tqdm import tqdm

from prettyflow.errors import InputError

# Real prompt tokens decoded in front of the new ones, so that the first new
# token keeps its leading space (SentencePiece decoders drop it at the start).
_CONTEXT_TOKENS = 4

StopReason = Literal["stop", "eos", "length"]


@dataclass(frozen=True)
class Generation:
    """One decode: the text after the prompt, cut before the first stop string."""

    continuation: str
    num_new_tokens: int
    stopped_by: StopReason


def _decode_continuation(
    tokenizer: Any, context_ids: list[int], new_ids: list[int]
) -> str:
    """Text of ``new_ids`` as it reads after the prompt (``context_ids`` are its last tokens)."""
    prefix = tokenizer.decode(context_ids, skip_special_tokens=True)
    full = tokenizer.decode(context_ids + new_ids, skip_special_tokens=True)
    if full.startswith(prefix):
        return full[len(prefix) :]
    # The context ended inside a multi-byte character: decode the new tokens alone.
    return tokenizer.decode(new_ids, skip_special_tokens=True)


def _first_stop(text: str, stop_strings: Sequence[str]) -> int | None:
    positions = [text.find(stop) for stop in stop_strings]
    found = [position for position in positions if position >= 0]
    return min(found) if found else None


class _StopStringCriteria:
    """Marks a row finished once its decoded continuation contains a stop string.

    Decoding text (rather than matching token strings) finds stop strings that
    span tokens or sit inside a longer token, whatever the tokenizer. Rows that
    emitted EOS are left to generate's own EOS handling.
    """

    def __init__(
        self,
        tokenizer: Any,
        stop_strings: Sequence[str],
        prompt_width: int,
        contexts: list[list[int]],
        eos_ids: set[int],
    ):
        self.tokenizer = tokenizer
        self.stop_strings = stop_strings
        self.prompt_width = prompt_width
        self.contexts = contexts
        self.eos_ids = eos_ids
        # row -> number of new tokens when its stop string completed
        self.stopped_at: dict[int, int] = {}

    def __call__(
        self, input_ids: torch.LongTensor, scores: Any = None, **kwargs: Any
    ) -> torch.BoolTensor:
        new_tokens = input_ids[:, self.prompt_width :].tolist()
        done = torch.zeros(
            input_ids.shape[0], dtype=torch.bool, device=input_ids.device
        )
        for row, tokens in enumerate(new_tokens):
            if row in self.stopped_at:
                done[row] = True
                continue
            if not self.stop_strings or any(token in self.eos_ids for token in tokens):
                continue
            text = _decode_continuation(self.tokenizer, self.contexts[row], tokens)
            if _first_stop(text, self.stop_strings) is not None:
                self.stopped_at[row] = len(tokens)
                done[row] = True
        return done


def _eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: set[int] = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured is not None:
        ids.update(configured)
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


def _greedy_config(
    model: Any, max_new_tokens: int, pad_id: int, eos_ids: list[int]
) -> Any:
    """A generation config holding only what greedy decoding needs.

    Checkpoints ship sampling settings (temperature, top_k, repetition
    penalties, ...) in their generation_config; none of them is carried over.
    """
    from transformers import GenerationConfig

    return GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        eos_token_id=eos_ids,
        pad_token_id=pad_id,
        bos_token_id=getattr(model.generation_config, "bos_token_id", None),
    )


def _left_pad(
    rows: list[list[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        input_ids[index, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        attention_mask[index, width - len(row) :] = 1
    return input_ids.to(device), attention_mask.to(device)


def generate_greedy(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    stop_strings: Sequence[str] = ("\n",),
    batch_size: int = 16,
    add_special_tokens: bool = True,
    progress: bool = True,
    desc: str | None = None,
) -> list[Generation]:
    """Greedy continuations of ``prompts`` (in input order), cut before the first stop string.

    Prompts are decoded longest first (so running out of memory shows at once)
    in left-padded batches of ``batch_size``; a batch ends when every row has
    produced a stop string or EOS, or after ``max_new_tokens``.
    """
    from transformers import StoppingCriteriaList

    if max_new_tokens < 1:
        raise InputError(
            f"max_new_tokens must be >= 1, got {max_new_tokens}", field="max_new_tokens"
        )
    if batch_size < 1:
        raise InputError(
            f"batch_size must be >= 1, got {batch_size}", field="batch_size"
        )
    if isinstance(stop_strings, str):
        stop_strings = (stop_strings,)
    if any(not stop for stop in stop_strings):
        raise InputError("stop strings must be non-empty", field="stop_strings")
    prompts = list(prompts)
    if not prompts:
        return []
    encoded: list[list[int]] = tokenizer(
        prompts, add_special_tokens=add_special_tokens
    )["input_ids"]
    for index, ids in enumerate(encoded):
        if not ids:
            raise InputError(
                f"prompt {index} encodes to no tokens: nothing to continue",
                field="prompt",
            )
    pad_id = (
        tokenizer.pad_token_id
        if tokenizer.pad_token_id is not None
        else tokenizer.eos_token_id
    )
    if pad_id is None:
        raise InputError(
            "the tokenizer has neither a pad nor an EOS token to pad batches with"
        )
    eos_ids = _eos_token_ids(model, tokenizer)
    greedy = _greedy_config(model, max_new_tokens, pad_id, eos_ids)
    order = sorted(range(len(prompts)), key=lambda index: (-len(encoded[index]), index))
    results: list[Generation | None] = [None] * len(prompts)

    saved_config = model.generation_config
    # generate() fills unset values from model.generation_config: swap in the
    # greedy one so that no sampling setting of the checkpoint leaks in.
    model.generation_config = greedy
    try:
        with (
            torch.inference_mode(),
            tqdm(
                total=len(prompts),
                desc=desc or "decoding",
                unit="prompt",
                file=sys.stderr,
                disable=not progress,
            ) as bar,
        ):
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                rows = [encoded[index] for index in batch]
                input_ids, attention_mask = _left_pad(rows, pad_id, model.device)
                contexts = [row[-_CONTEXT_TOKENS:] for row in rows]
                criterion = _StopStringCriteria(
                    tokenizer, stop_strings, input_ids.shape[1], contexts, set(eos_ids)
                )
                output = model.generate(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    generation_config=greedy,
                    stopping_criteria=StoppingCriteriaList([criterion]),
                )
                new_tokens = output[:, input_ids.shape[1] :].tolist()
                for row, index in enumerate(batch):
                    results[index] = _finish_row(
                        tokenizer,
                        contexts[row],
                        new_tokens[row],
                        criterion.stopped_at.get(row),
                        stop_strings,
                        set(eos_ids),
                    )
                bar.update(len(batch))
    finally:
        model.generation_config = saved_config
    return [result for result in results if result is not None]


def _finish_row(
    tokenizer: Any,
    context: list[int],
    tokens: list[int],
    stopped_at: int | None,
    stop_strings: Sequence[str],
    eos_ids: set[int],
) -> Generation:
    if stopped_at is not None:
        text = _decode_continuation(tokenizer, context, tokens[:stopped_at])
        cut = _first_stop(text, stop_strings)
        return Generation(text[:cut], stopped_at, "stop")
    eos_at = next(
        (position for position, token in enumerate(tokens) if token in eos_ids), None
    )
    if eos_at is not None:
        text = _decode_continuation(tokenizer, context, tokens[:eos_at])
        return Generation(text, eos_at + 1, "eos")
    return Generation(
        _decode_continuation(tokenizer, context, tokens), len(tokens), "length"
    )


def render_chat_prompt(
    tokenizer: Any, user_message: str, system: str | None = None
) -> tuple[str, bool]:
    """The chat-formatted prompt for one user turn, opening the assistant's turn.

    Returns ``(text, add_special_tokens)``: the template already holds the
    special tokens (BOS, ...), so the text must be encoded without adding them.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(
            f"the tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no chat template: "
            "use a plain prompt for this model, or give the model spec a chat_template",
            field="chat_template",
        )
    messages = [] if system is None else [{"role": "system", "content": system}]
    messages.append({"role": "user", "content": user_message})
    try:
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
    except (
        Exception
    ) as error:  # jinja2 raises its own errors, e.g. a template without system role
        raise InputError(
            f"the chat template failed to render: {error}", field="chat_template"
        ) from error
    return text, False
