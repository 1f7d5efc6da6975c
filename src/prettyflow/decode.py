"""Batched greedy decoding with stop strings, for Hugging Face causal LMs.

The ``hf`` model backend (:mod:`prettyflow.backends.hf`) decodes with
:func:`generate_greedy_ids` (:func:`generate_greedy` takes texts): prompts are
sorted by length and decoded in left-padded batches with a key/value cache; each
row stops at its first stop string or EOS and then leaves the batch, so the
remaining steps compute only the rows still running. Results come back in input
order, cut at the stop string. Greedy decoding (argmax, no sampling, no
penalties, none of the checkpoint's generation settings) makes a decode a
function of its prompt: the same tokens as ``model.generate(do_sample=False)``.

A stop string ends an answer only after the answer's first non-blank text
(:func:`prettyflow.cleaning.stop_position`): an answer that opens with a blank
line goes on to its text. The answer starts with the prompt's prior, if any
(``answer_prefixes``): after a prior with text, a leading stop string ends it.
"""

from __future__ import annotations

import gc
import inspect
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from tqdm import tqdm

from prettyflow.cleaning import stop_position
from prettyflow.errors import InputError

log = logging.getLogger("prettyflow")

# What an accelerator raises when an allocation fails. Recent torch has one class
# for every device (torch.cuda.OutOfMemoryError is an alias of it); older torch
# only has the CUDA one. (A CPU allocation failure is a plain RuntimeError.)
_OUT_OF_MEMORY_ERRORS: tuple[type[Exception], ...] = (torch.cuda.OutOfMemoryError,)
if hasattr(torch, "OutOfMemoryError"):
    _OUT_OF_MEMORY_ERRORS += (torch.OutOfMemoryError,)
# ... and what CUDA libraries raise as a plain RuntimeError when theirs fails.
_OUT_OF_MEMORY_MESSAGES = ("CUDA out of memory", "CUBLAS_STATUS_ALLOC_FAILED")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an accelerator running out of memory, in any of its forms
    (``torch.OutOfMemoryError``; a ``RuntimeError`` saying "CUDA out of memory" or
    "CUBLAS_STATUS_ALLOC_FAILED"): a smaller batch may fit."""
    if isinstance(error, _OUT_OF_MEMORY_ERRORS):
        return True
    return isinstance(error, RuntimeError) and any(
        message in str(error) for message in _OUT_OF_MEMORY_MESSAGES
    )


# Real prompt tokens decoded in front of the new ones, so that the first new
# token keeps its leading space (SentencePiece decoders drop it at the start).
_CONTEXT_TOKENS = 4

StopReason = Literal["stop", "eos", "length"]


@dataclass(frozen=True)
class Generation:
    """One decode: the text after the prompt, cut before the stop string that ended it.

    ``text`` is everything the generated ids decode to (the stop string, and what
    its last token holds after it, included): the raw output beside the cut one.
    """

    continuation: str
    num_new_tokens: int
    stopped_by: StopReason
    # The generated ids, EOS excluded (what the text was decoded from).
    token_ids: tuple[int, ...] = ()
    # The prompt's ids exactly as the model read them (special tokens included).
    prompt_token_ids: tuple[int, ...] = ()
    # Everything generated, stop string included (``continuation`` is cut there).
    text: str = ""


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


def _eos_token_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured is not None:
        ids.update(configured)
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


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


class _Row:
    """The new tokens of one prompt, and why (and when) they ended.

    ``started``: the answer already has non-blank text before the new tokens (a
    prior in the prompt), so a stop string counts from the first new character.
    """

    def __init__(self, context: list[int], started: bool = False):
        self.context = context
        self.started = started
        self.tokens: list[int] = []
        self.stopped_by: StopReason = "length"

    def add(
        self, token: int, eos_ids: set[int], tokenizer: Any, stops: Sequence[str]
    ) -> bool:
        """Append ``token``; True when the row is finished (EOS or a stop string)."""
        self.tokens.append(token)
        if token in eos_ids:
            self.stopped_by = "eos"
            return True
        if stops:
            # The whole text again (not the new token's alone): a stop string may
            # span tokens, and a token's text may depend on the ones before it.
            text = _decode_continuation(tokenizer, self.context, self.tokens)
            if stop_position(text, stops, self.started) is not None:
                self.stopped_by = "stop"
                return True
        return False

    def generation(
        self, tokenizer: Any, stops: Sequence[str], prompt_ids: Sequence[int]
    ) -> Generation:
        ids = self.tokens[:-1] if self.stopped_by == "eos" else self.tokens
        text = _decode_continuation(tokenizer, self.context, ids)
        continuation = text
        if self.stopped_by == "stop":
            continuation = text[: stop_position(text, stops, self.started)]
        return Generation(
            continuation,
            len(self.tokens),
            self.stopped_by,
            tuple(ids),
            tuple(prompt_ids),
            text,
        )


def _forward_options(model: Any) -> tuple[bool, dict[str, Any], str]:
    """Whether ``model.forward`` takes position ids, the prefill-only options, and
    the name of its key/value cache (``cache`` from transformers 5.x, which
    deprecates ``past_key_values``; ``past_key_values`` before)."""
    # A PEFT wrapper (an adapter not merged) passes these on to the model it wraps.
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(inner.forward).parameters
    # Only the last position's logits are needed to pick the next token.
    prefill = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}
    cache_name = "cache" if "cache" in parameters else "past_key_values"
    return "position_ids" in parameters, prefill, cache_name


def _decode_batch(
    model: Any,
    tokenizer: Any,
    rows: list[list[int]],
    *,
    pad_id: int,
    eos_ids: set[int],
    max_new_tokens: int,
    stops: Sequence[str],
    started: Sequence[bool],
) -> list[_Row]:
    """Greedy continuations of one left-padded batch.

    A row leaves the batch (and the key/value cache) as soon as it finishes, so
    later steps only compute the rows still running. Positions come from the
    attention mask, as in ``generate``: a row's tokens are numbered from 0 after
    its padding, so its logits do not depend on the batch it is in. ``started``
    (per row): whether its answer already has text (see :class:`_Row`).
    """
    uses_positions, prefill, cache_name = _forward_options(model)
    input_ids, attention_mask = _left_pad(rows, pad_id, model.device)
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    states = [
        _Row(row[-_CONTEXT_TOKENS:], has_text) for row, has_text in zip(rows, started)
    ]
    running = list(range(len(rows)))  # index in ``rows`` of each batch row
    inputs: dict[str, Any] = {"input_ids": input_ids, **prefill}
    if uses_positions:
        inputs["position_ids"] = positions
    next_position = positions[:, -1:] + 1
    cache = None
    for step in range(max_new_tokens):
        output = model(
            **inputs,
            attention_mask=attention_mask,
            use_cache=True,
            **{cache_name: cache},
        )
        cache = output[cache_name]
        next_tokens = output.logits[:, -1, :].float().argmax(dim=-1)
        keep = [
            batch_row
            for batch_row, (index, token) in enumerate(
                zip(running, next_tokens.tolist())
            )
            if not states[index].add(token, eos_ids, tokenizer, stops)
        ]
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(running):
            selected = torch.tensor(keep, device=attention_mask.device)
            cache.batch_select_indices(selected)
            attention_mask = attention_mask[selected]
            next_position = next_position[selected]
            next_tokens = next_tokens[selected]
            running = [running[batch_row] for batch_row in keep]
        attention_mask = torch.cat(
            [attention_mask, attention_mask.new_ones((len(running), 1))], dim=-1
        )
        inputs = {"input_ids": next_tokens[:, None]}
        if uses_positions:
            inputs["position_ids"] = next_position
        next_position = next_position + 1
    return states


def generate_greedy(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    stop_strings: Sequence[str] = ("\n",),
    answer_prefixes: Sequence[str] | None = None,
    batch_size: int = 16,
    add_special_tokens: bool = True,
    progress: bool = True,
    desc: str | None = None,
) -> list[Generation]:
    """Greedy continuations of the text ``prompts``: :func:`generate_greedy_ids` of
    their tokens (with the tokenizer's special tokens unless ``add_special_tokens``
    is false)."""
    prompts = list(prompts)
    encoded: list[list[int]] = (
        tokenizer(prompts, add_special_tokens=add_special_tokens)["input_ids"]
        if prompts
        else []
    )
    return generate_greedy_ids(
        model,
        tokenizer,
        encoded,
        max_new_tokens=max_new_tokens,
        stop_strings=stop_strings,
        answer_prefixes=answer_prefixes,
        batch_size=batch_size,
        progress=progress,
        desc=desc,
    )


def generate_greedy_ids(
    model: Any,
    tokenizer: Any,
    prompt_ids: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    stop_strings: Sequence[str] = ("\n",),
    answer_prefixes: Sequence[str] | None = None,
    batch_size: int = 16,
    progress: bool = True,
    desc: str | None = None,
) -> list[Generation]:
    """Greedy continuations of the prompts ``prompt_ids`` (in input order), cut
    before their stop string.

    Prompts are decoded longest first (so running out of memory shows at once)
    in left-padded batches of ``batch_size``; a row ends at its first stop
    string after the answer's first non-blank text, or EOS, or after
    ``max_new_tokens``, and stops costing compute then. ``answer_prefixes``
    (one per prompt, e.g. the prior each prompt ends with) are the start of each
    answer: after one with text, a stop string counts from the first new token.
    When a batch runs out of (GPU) memory it is retried in halves, down to one
    prompt, and the decode goes on at the smaller size (logged as a warning);
    the results do not depend on the batch size.

    Long because the greedy loop (KV cache, stop strings, finished rows) is one state
    machine; splitting it would cost a call per generated token.
    """
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
    encoded = [list(ids) for ids in prompt_ids]
    if answer_prefixes is not None and len(answer_prefixes) != len(encoded):
        raise InputError(
            f"{len(answer_prefixes)} answer prefixes for {len(encoded)} prompts",
            field="answer_prefixes",
        )
    # Whether each answer has text before its first new token.
    started = [bool(prefix and prefix.strip()) for prefix in answer_prefixes or ()]
    started = started or [False] * len(encoded)
    if not encoded:
        return []
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
    order = sorted(range(len(encoded)), key=lambda index: (-len(encoded[index]), index))
    results: list[Generation | None] = [None] * len(encoded)
    with (
        torch.inference_mode(),
        tqdm(
            total=len(encoded),
            desc=desc or "decoding",
            unit="prompt",
            file=sys.stderr,
            disable=not progress,
        ) as bar,
    ):
        start = 0
        while start < len(order):
            batch = order[start : start + batch_size]
            try:
                rows = _decode_batch(
                    model,
                    tokenizer,
                    [encoded[index] for index in batch],
                    pad_id=pad_id,
                    eos_ids=eos_ids,
                    max_new_tokens=max_new_tokens,
                    stops=tuple(stop_strings),
                    started=[started[index] for index in batch],
                )
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                if len(batch) == 1:
                    raise type(error)(
                        _out_of_memory_message(
                            model, len(encoded[batch[0]]), max_new_tokens
                        )
                    ) from error
                rows = None
            if rows is None:
                # Leaving the except clause dropped the traceback, and with it the
                # failed batch's tensors: give their memory back before retrying.
                release_cached_memory(model.device)
                # Retry the same prompts in halves, and keep the smaller size for
                # the rest of the decode: prompts come longest first, so later
                # batches need no less memory per row than this one would have
                # fitted, and every new failure throws away a batch's work (often
                # at its last, most memory-hungry step).
                batch_size = len(batch) // 2
                log.warning(
                    "out of memory decoding %d prompts (the longest %d tokens) with %s: "
                    "retrying in batches of %d for the rest of this decode "
                    "(lower compute.batch_size to avoid the failed attempts)",
                    len(batch),
                    len(encoded[batch[0]]),
                    _model_name(model),
                    batch_size,
                )
                continue
            for index, row in zip(batch, rows):
                results[index] = row.generation(tokenizer, stop_strings, encoded[index])
            bar.update(len(batch))
            start += len(batch)
    return [result for result in results if result is not None]


def _model_name(model: Any) -> str:
    return getattr(model, "name_or_path", "") or type(model).__name__


def _out_of_memory_message(model: Any, prompt_tokens: int, max_new_tokens: int) -> str:
    return (
        f"out of memory on {model.device} decoding a single prompt of {prompt_tokens} "
        f"tokens (+ up to {max_new_tokens} new ones) with {_model_name(model)}: "
        "batching is already down to 1. Give the decode more memory (a larger GPU, "
        "or compute.device: cpu with more compute.decode.mem_mb), a smaller dtype "
        "(the model's dtype: bfloat16), shorter prompts or fewer max_new_tokens; "
        "other processes on the same GPU also take its memory"
    )


def release_cached_memory(device: torch.device) -> None:
    """Free what the failed batch held, and hand the allocator's cached blocks back."""
    gc.collect()  # in case a reference cycle still holds some of its tensors
    backend = getattr(torch, device.type, None)
    if device.type != "cpu" and hasattr(backend, "empty_cache"):
        backend.empty_cache()  # torch.cuda.empty_cache(), or mps/xpu's


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


def chat_prompts(
    tokenizer: Any, prompts: Sequence[str], system: str | None = None
) -> tuple[list[str], bool]:
    """Each prompt as one user turn in the model's chat template.

    Trailing whitespace (the plain template's answer slot, e.g. a final newline)
    is dropped: the chat template opens the answer itself. Returns the texts and
    ``add_special_tokens`` (False: the template already holds BOS and the like).
    """
    texts = [
        render_chat_prompt(tokenizer, prompt.rstrip(), system)[0] for prompt in prompts
    ]
    return texts, False
