"""Training data: the Alpaca instruction file read and checked, its prompts, tokenized
examples and padded micro-batches (see :mod:`prettyflow.training.loop`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.io import parse_json_text, read_lines

# tatsu-lab/stanford_alpaca train.py, PROMPT_DICT, verbatim.
ALPACA_PROMPTS: dict[str, str] = {
    "prompt_input": (
        "Below is an instruction that describes a task, paired with an input that "
        "provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
    ),
    "prompt_no_input": (
        "Below is an instruction that describes a task. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Response:"
    ),
}

# Labels of positions that carry no loss (the prompt, padding), as in Alpaca.
IGNORE_INDEX = -100

INSTRUCTION_FIELDS: tuple[str, ...] = ("instruction", "input", "output")


# --------------------------------------------------------------------------- data


def _check_record(record: Any, path: Path, line: int, label: str) -> dict[str, str]:
    """``record`` as ``{instruction, input, output}``; InputError at ``path:line``."""
    if not isinstance(record, dict):
        raise InputError(
            f"{label}: expected a JSON object with instruction, input and output, "
            f"found {type(record).__name__}",
            path=path,
            line=line,
        )
    clean: dict[str, str] = {}
    for field in INSTRUCTION_FIELDS:
        if field not in record:
            if field == "input":  # optional, as in Alpaca's train.py
                clean[field] = ""
                continue
            raise InputError(
                f"{label}: missing field {field!r} (Alpaca format: instruction, "
                "input, output)",
                path=path,
                line=line,
                field=field,
            )
        value = record[field]
        if not isinstance(value, str):
            raise InputError(
                f"{label}: {field} must be a string, found {type(value).__name__}",
                path=path,
                line=line,
                field=field,
            )
        if field != "input" and not value.strip():
            raise InputError(
                f"{label}: empty {field}", path=path, line=line, field=field
            )
        clean[field] = value
    return clean


def _jsonl_records(path: Path, lines: list[str]) -> list[dict[str, str]]:
    records = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        # Refuses lone surrogates, repeated keys and runaway nesting, naming the line.
        record = parse_json_text(text, path=path, line=number, expected="a record")
        records.append(
            _check_record(record, path, number, f"record {len(records) + 1}")
        )
    return records


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _json_records(path: Path, text: str) -> list[dict[str, str]]:
    """The records of a JSON list, each checked with the line where it starts."""

    def line_of(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    decoder = json.JSONDecoder()
    index = _WHITESPACE.match(text, 0).end()
    if not text.startswith("[", index):
        raise InputError(
            "expected a JSON list of Alpaca records ([{...}, ...]) or JSON Lines",
            path=path,
            line=line_of(index),
        )
    index = _WHITESPACE.match(text, index + 1).end()
    records: list[dict[str, str]] = []
    if text.startswith("]", index):
        index += 1
    else:
        while True:
            start = index
            try:
                _, index = decoder.raw_decode(text, index)
            except json.JSONDecodeError as error:
                raise InputError(
                    f"malformed JSON: {error.msg} (column {error.colno})",
                    path=path,
                    line=error.lineno,
                ) from None
            except RecursionError:
                raise InputError(
                    "JSON nested too deeply to read; expected an Alpaca record",
                    path=path,
                    line=line_of(start),
                ) from None
            # The record read again as every JSON input is: no repeated key, no
            # lone surrogate (raw_decode only found where it ends).
            record = parse_json_text(
                text[start:index], path=path, line=line_of(start), expected="a record"
            )
            records.append(
                _check_record(
                    record, path, line_of(start), f"record {len(records) + 1}"
                )
            )
            index = _WHITESPACE.match(text, index).end()
            if text.startswith(",", index):
                index = _WHITESPACE.match(text, index + 1).end()
            elif text.startswith("]", index):
                index += 1
                break
            else:
                raise InputError(
                    "malformed JSON: expected ',' or ']' after a record",
                    path=path,
                    line=line_of(index),
                )
    index = _WHITESPACE.match(text, index).end()
    if index < len(text):
        raise InputError(
            "malformed JSON: extra data after the list", path=path, line=line_of(index)
        )
    return records


def read_instructions(path: str | Path) -> list[dict[str, str]]:
    """Alpaca-format records ``{instruction, input, output}`` from JSON or JSON Lines.

    ``.jsonl``/``.ndjson`` files are JSON Lines (blank lines skipped); otherwise a
    file whose first character is ``[`` is a JSON list, and anything else is read
    as JSON Lines (``.json`` must be a list). ``input`` may be absent (= ``""``, as
    in Alpaca's ``train.py``); ``instruction`` and ``output`` must be non-empty
    strings. Bad data raises :class:`InputError` naming the file, the line (for a
    JSON list, the line where the record starts) and the field.
    """
    path = Path(path)
    lines = read_lines(path, what="instruction file")
    text = "\n".join(lines)
    stripped = text.lstrip(" \t\n\r")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson") and stripped.startswith("["):
        records = _json_records(path, text)
    elif suffix == ".json":
        records = _json_records(path, text)  # raises: not a list
    else:
        records = _jsonl_records(path, lines)
    if not records:
        raise InputError("no instruction records", path=path)
    return records


def format_prompt(record: Mapping[str, str]) -> str:
    """Alpaca's prompt for ``record`` (the variant with input when ``input`` is not empty)."""
    key = "prompt_input" if record.get("input", "") != "" else "prompt_no_input"
    return ALPACA_PROMPTS[key].format_map(record)


def _adds_bos(tokenizer: Any) -> bool:
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos


def _adds_eos(tokenizer: Any) -> bool:
    eos = getattr(tokenizer, "eos_token_id", None)
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return eos is not None and bool(ids) and ids[-1] == eos


def alpaca_chat_template(tokenizer: Any) -> str:
    """A Jinja chat template: the last user message as Alpaca's instruction (no input).

    With it, :func:`prettyflow.decode.render_chat_prompt` gives exactly the tokens
    the model was trained on (BOS included when the tokenizer adds one; the
    message is trimmed, so the "normal" template's trailing newline does not
    matter).
    """
    head, tail = ALPACA_PROMPTS["prompt_no_input"].split("{instruction}")
    bos = "{{ bos_token }}" if _adds_bos(tokenizer) else ""
    return f"{bos}{head}{{{{ messages[-1]['content'] | trim }}}}{tail}"


# ------------------------------------------------------------------ tokenization


@dataclass(frozen=True)
class Example:
    """One tokenized training example: ids and labels (-100 on the prompt)."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    truncated: bool = False

    @property
    def response_tokens(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def tokenize_examples(
    records: Sequence[Mapping[str, str]], tokenizer: Any, max_length: int
) -> tuple[list[Example], int]:
    """Examples for ``records`` and the number dropped for lack of response tokens.

    Each example is the prompt's ids (with the tokenizer's special tokens) + the
    output's ids (without) + EOS, cut at ``max_length``; see the module docstring.
    """
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise MissingResourceError(
            "the tokenizer has no EOS token: the fine-tuned model could not learn to "
            "stop; use a tokenizer with an eos_token"
        )
    prompts = [format_prompt(record) for record in records]
    prompt_ids = tokenizer(prompts, add_special_tokens=True)["input_ids"]
    if _adds_eos(tokenizer):  # the prompt must not end the sequence
        prompt_ids = [ids[:-1] if ids[-1:] == [eos] else ids for ids in prompt_ids]
    output_ids = tokenizer(
        [record["output"] for record in records], add_special_tokens=False
    )["input_ids"]
    examples: list[Example] = []
    dropped = 0
    for prompt, output in zip(prompt_ids, output_ids):
        response = [*output, eos]
        ids = [*prompt, *response][:max_length]
        labels = ([IGNORE_INDEX] * len(prompt) + response)[:max_length]
        if len(prompt) >= max_length:
            dropped += 1
            continue
        examples.append(
            Example(tuple(ids), tuple(labels), len(prompt) + len(response) > max_length)
        )
    return examples, dropped


def collate(
    examples: Sequence[Example], pad_token_id: int, device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on padding)."""
    width = max(len(example.input_ids) for example in examples)
    input_ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example.input_ids)
        input_ids[row, :length] = torch.tensor(example.input_ids)
        labels[row, :length] = torch.tensor(example.labels)
        attention_mask[row, :length] = 1
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": attention_mask.to(device),
        "labels": labels.to(device),
    }


def step_batches(
    order: list[int], batch_size: int, micro_batch_size: int, lengths: list[int]
) -> Iterator[list[list[int]]]:
    """Per optimizer step: its micro-batches (the step's examples sorted by length)."""
    for start in range(0, len(order), batch_size):
        step = sorted(order[start : start + batch_size], key=lambda i: (lengths[i], i))
        yield [
            step[index : index + micro_batch_size]
            for index in range(0, len(step), micro_batch_size)
        ]
