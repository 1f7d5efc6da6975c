"""LoRA supervised fine-tuning on Alpaca-format instructions (paper §2.2, appendix C.1).

The paper fine-tunes the foundation Llama2-7B on Alpaca with LoRA (Table 7) to get
its SFT model. This module does the same for any causal LM that
:mod:`prettyflow.models` loads:

* :func:`read_instructions` reads Alpaca-format records (``instruction``, ``input``,
  ``output``) from JSON (a list) or JSON Lines, with errors naming file, line and
  field;
* every record becomes Alpaca's prompt (:data:`ALPACA_PROMPTS`, the ``PROMPT_DICT``
  of tatsu-lab/stanford_alpaca ``train.py``) + the output + EOS, and only the
  response tokens (output + EOS) carry a loss (the prompt's labels are -100);
* :func:`train_lora` trains a PEFT LoRA adapter with AdamW, a cosine schedule with
  warm-up and gradient accumulation (:class:`TrainingSettings`, Table 7's values by
  default, in :mod:`prettyflow.training_settings`, which the config check uses too)
  and writes the adapter folder atomically.

Training is Hugging Face's by design (transformers and peft, loaded with
:func:`prettyflow.models.load_pretrained`), whatever the base model's
``backend``: the model backends (:mod:`prettyflow.backends`) load and run
models for decoding and teacher forcing, not for training. The adapter trained
here is then decoded by the trained model's backend.

Tokenization. The prompt (with the tokenizer's special tokens, e.g. BOS) and the
output (without) are tokenized separately and their ids concatenated, then EOS is
appended. The prompt's tokens are then exactly those a decoder sees when it
encodes the prompt alone and continues it; Alpaca tokenizes the joined text and
masks as many tokens as the prompt alone has, which differs only when a token
would straddle the prompt/response boundary. ``max_length`` truncates the joined
sequence at the end (the response loses its tail, and its EOS); an example whose
prompt alone fills ``max_length`` has no response token left and is dropped. Both
are counted in ``training.json``.

Loss. One optimizer step takes ``batch_size`` examples (the last step of an epoch
may take fewer), split into micro-batches of ``micro_batch_size`` (right padding,
an attention mask; the step's examples are sorted by length first, which only
reduces padding). The loss is the mean cross-entropy (fp32) over every response
token of the whole step, as the Hugging Face Trainer computes it with gradient
accumulation, so ``micro_batch_size`` changes speed and memory, not the result
(up to float rounding).

Speed. A large vocabulary makes the output layer the most expensive part of a
step on a CPU (Gemma 3: 262,144 x 640). :func:`response_only_loss` runs the
transformer body, gathers the hidden states at the positions whose next token is
a response label and applies the output layer (and Gemma's final logit
softcapping) only there. Before training, :func:`train_lora` checks on one
example that it reproduces ``model(input_ids, labels=labels).loss``; if it does
not (an architecture with other post-processing of the logits), it falls back to
full logits and says so in the log and in ``training.json``.

Determinism. The LoRA initialisation and dropout draw from torch's RNG seeded with
``seed`` (in a forked RNG state: the caller's RNG is left as it was); the example
order is a permutation per epoch from a generator seeded with ``seed``; on a CPU,
``torch.use_deterministic_algorithms`` is on during training. The same seed, data,
settings, thread count and software give byte-identical adapter weights.

The output folder holds the adapter (``adapter_config.json``,
``adapter_model.safetensors``), ``training_log.csv`` (one row per optimizer
step), ``training.json`` (settings, base-model provenance, the instruction file's
sha256, versions, counts, wall time), ``loss_curve.png`` and
``alpaca_chat_template.jinja``: a chat template that renders a user message in
Alpaca's prompt, for decoding the fine-tuned model with the workflow's "normal"
instruction (``ModelSpec(adapter=..., chat_template=<that file>)``).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import platform
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from prettyflow.decode import is_out_of_memory
from prettyflow.errors import InputError, MissingResourceError
from prettyflow.io import atomic_path, parse_json_text, read_lines, write_json
from prettyflow.paths import CHAT_TEMPLATE_FILE, TRAINING_RECORD_FILE
from prettyflow.training_settings import TrainingSettings, settings_not_table7

LOGGER = logging.getLogger("prettyflow")

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

ADAPTER_FILES: tuple[str, ...] = ("adapter_config.json", "adapter_model.safetensors")
LOG_FILE = "training_log.csv"
RECORD_FILE = TRAINING_RECORD_FILE
PLOT_FILE = "loss_curve.png"
LOG_COLUMNS: tuple[str, ...] = ("step", "epoch", "loss", "learning_rate", "tokens")


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


def training_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a training, from its ``training.json`` (for a model's provenance).

    The base model (name, path, revision, GGUF sha256), the instruction file
    (path, sha256, records), the settings that differ from Table 7, the number
    of optimizer steps, and where and with which peft version it ran.
    """
    base = record.get("base_model") or {}
    data = record.get("instructions") or {}
    return {
        "base_model": {
            key: base.get(key)
            for key in (
                "name",
                "path",
                "revision",
                "gguf_sha256",
                "converted_from_gguf",
            )
            if base.get(key) is not None
        },
        "instructions": {
            key: data.get(key) for key in ("path", "sha256", "records", "examples")
        },
        "settings_not_table7": settings_not_table7(record.get("settings") or {}),
        "steps": (record.get("steps") or {}).get("total"),
        "device": record.get("device"),
        "dtype": record.get("dtype"),
        "peft": (record.get("versions") or {}).get("peft"),
    }


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


# --------------------------------------------------------------------------- loss


def _unwrap(model: Any) -> Any:
    """The transformers model inside a PEFT wrapper (LoRA layers included)."""
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if callable(get_base_model) else model


def _head_parts(model: Any) -> tuple[Any, Any, float | None]:
    """The decoder body, the output layer and the final logit softcap of ``model``."""
    base = _unwrap(model)
    body = base.base_model
    head = base.get_output_embeddings()
    if body is base or head is None:
        raise NotImplementedError(
            f"{type(base).__name__} has no separate decoder body and output layer"
        )
    config = getattr(base.config, "get_text_config", lambda: base.config)()
    softcap = getattr(config, "final_logit_softcapping", None)
    return body, head, softcap


def response_only_loss(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
) -> tuple[torch.Tensor, int]:
    """Summed fp32 cross-entropy over the response tokens, and their number.

    Runs the decoder body, then the output layer only at positions whose next
    token is a label (not -100): the same loss as the model's own with
    ``labels``, without a vocabulary-sized row for every prompt position.
    """
    body, head, softcap = _head_parts(model)
    hidden = body(
        input_ids=input_ids, attention_mask=attention_mask, use_cache=False
    ).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    logits = head(hidden[:, :-1][keep])
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    loss = F.cross_entropy(logits.float(), targets[keep], reduction="sum")
    return loss, int(keep.sum())


def full_logits_loss(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
) -> tuple[torch.Tensor, int]:
    """Like :func:`response_only_loss` from the model's ordinary forward (all logits)."""
    logits = model(
        input_ids=input_ids, attention_mask=attention_mask, use_cache=False
    ).logits
    targets = labels[:, 1:]
    loss = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return loss, int((targets != IGNORE_INDEX).sum())


LOSS_FUNCTIONS = {"response_only": response_only_loss, "full": full_logits_loss}


def _choose_loss_head(model: Any, batch: Mapping[str, torch.Tensor]) -> str:
    """``response_only`` if it reproduces the model's own loss on ``batch``, else ``full``."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            reference = float(model(**batch, use_cache=False).loss)
            try:
                total, count = response_only_loss(model, **batch)
                ours = float(total) / count
            except (NotImplementedError, AttributeError, TypeError) as error:
                LOGGER.warning(
                    "response-only loss unavailable (%s); using full logits", error
                )
                return "full"
    finally:
        model.train(was_training)
    dtype = next(model.parameters()).dtype
    tolerance = 1e-4 if dtype == torch.float32 else 2e-2
    if abs(ours - reference) > tolerance * max(1.0, abs(reference)):
        LOGGER.warning(
            "response-only loss %.6f differs from the model's loss %.6f; "
            "using full logits (slower)",
            ours,
            reference,
        )
        return "full"
    return "response_only"


# ---------------------------------------------------------------------- training


def _batches(
    order: list[int], batch_size: int, micro_batch_size: int, lengths: list[int]
) -> Iterator[list[list[int]]]:
    """Per optimizer step: its micro-batches (the step's examples sorted by length)."""
    for start in range(0, len(order), batch_size):
        step = sorted(order[start : start + batch_size], key=lambda i: (lengths[i], i))
        yield [
            step[index : index + micro_batch_size]
            for index in range(0, len(step), micro_batch_size)
        ]


def _scheduler(optimizer: Any, name: str, warmup: int, total: int) -> Any:
    from transformers import (
        get_constant_schedule_with_warmup,
        get_cosine_schedule_with_warmup,
        get_linear_schedule_with_warmup,
    )

    if name == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup, total)
    if name == "linear":
        return get_linear_schedule_with_warmup(optimizer, warmup, total)
    return get_constant_schedule_with_warmup(optimizer, warmup)


def _out_of_memory_message(
    step: int, shape: Any, device: Any, settings: TrainingSettings
) -> str:
    """What to change when a training step runs out of memory."""
    return (
        f"out of memory on {device} in training step {step} (a micro batch of "
        f"{shape[0]} examples, {shape[1]} tokens each): lower train.settings."
        f"micro_batch_size (now {settings.micro_batch_size}; batch_size stays, by "
        "gradient accumulation), set gradient_checkpointing: true"
        + (" (it is on)" if settings.gradient_checkpointing else "")
        + f", lower max_length (now {settings.max_length}) or lora_rank, or train "
        "the base model in bfloat16 (models.<base>.dtype); other processes on the "
        "GPU also take its memory"
    )


def apply_lora(model: Any, settings: TrainingSettings) -> Any:
    """``model`` wrapped by PEFT with the LoRA layers of ``settings`` (new, trainable)."""
    from peft import LoraConfig, get_peft_model

    from prettyflow.models import peft_wrapping_warnings_silenced

    config = LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=list(settings.target_modules),
        layers_to_transform=(
            None
            if settings.layers_to_transform is None
            else list(settings.layers_to_transform)
        ),
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        with peft_wrapping_warnings_silenced():
            return get_peft_model(model, config)
    except ValueError as error:
        raise InputError(
            f"LoRA cannot be applied to {type(model).__name__}: "
            f"{str(error).splitlines()[0]}",
            field="target_modules",
        ) from error


def _write_log(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise MissingResourceError(
            "the loss-curve plot needs matplotlib: pip install matplotlib"
        ) from error


def plot_loss_curve(
    rows: Sequence[Mapping[str, Any]], path: str | Path, title: str, note: str
) -> None:
    """A PNG of the training loss per optimizer step (``rows`` as in the CSV log)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    steps = [row["step"] for row in rows]
    losses = [row["loss"] for row in rows]
    axes.plot(steps, losses, marker="o" if len(rows) <= 60 else None, markersize=3)
    axes.set_title(title)
    axes.set_xlabel("optimizer step")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("training loss (mean CE per response token)")
    axes.grid(alpha=0.3)
    axes.text(
        0.98,
        0.95,
        note,
        transform=axes.transAxes,
        ha="right",
        va="top",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})


def _versions() -> dict[str, str]:
    import peft
    import transformers

    return {
        "peft": peft.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def train_lora(
    spec: Any,
    instructions_path: str | Path,
    output_dir: str | Path,
    settings: TrainingSettings | None = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    *,
    loaded: tuple[Any, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune a LoRA adapter on Alpaca-format instructions; write it to ``output_dir``.

    ``spec`` (a :class:`prettyflow.models.ModelSpec`, without an ``adapter``) names
    the base causal LM, loaded with :func:`prettyflow.models.load_pretrained` on
    ``device`` in ``dtype`` (``auto`` = bf16 on a CUDA GPU, fp32 on a CPU). A
    caller that already holds the model passes ``loaded=(model, tokenizer)``;
    ``spec`` then only feeds the provenance, and the model gets LoRA layers
    injected (do not reuse it afterwards). Returns the record written to
    ``training.json``. ``output_dir`` appears complete or not at all.
    """
    from prettyflow.models import (
        load_pretrained,
        model_provenance,
        resolve_device,
        resolve_dtype,
        sha256_file,
    )

    settings = TrainingSettings() if settings is None else settings
    if getattr(spec, "adapter", None) is not None:
        raise InputError(
            "train from a base model: the model spec already has an adapter",
            field="adapter",
        )
    instructions_path = Path(instructions_path)
    output_dir = Path(output_dir)
    _require_matplotlib()
    records = read_instructions(instructions_path)
    started = time.perf_counter()

    device = device if isinstance(device, torch.device) else resolve_device(device)
    if loaded is None:
        from transformers import AutoModelForCausalLM

        dtype = (
            dtype if isinstance(dtype, torch.dtype) else resolve_dtype(dtype, device)
        )
        model, tokenizer = load_pretrained(AutoModelForCausalLM, spec, device, dtype)
    else:
        model, tokenizer = loaded
        model.to(device)
    model_dtype = next(model.parameters()).dtype

    examples, dropped = tokenize_examples(records, tokenizer, settings.max_length)
    if dropped:
        LOGGER.warning(
            "%d of %d examples dropped: the prompt alone fills max_length=%d",
            dropped,
            len(records),
            settings.max_length,
        )
    if not examples:
        raise InputError(
            f"no example has a response token within max_length={settings.max_length}",
            path=instructions_path,
            field="max_length",
        )
    truncated = sum(example.truncated for example in examples)
    if truncated:
        LOGGER.warning(
            "%d examples truncated to max_length=%d", truncated, settings.max_length
        )
    pad_id = tokenizer.pad_token_id
    pad_id = tokenizer.eos_token_id if pad_id is None else pad_id
    lengths = [len(example.input_ids) for example in examples]

    steps_per_epoch = math.ceil(len(examples) / settings.batch_size)
    total_steps = settings.epochs * steps_per_epoch
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)
    warmup_steps = math.ceil(settings.warmup_ratio * total_steps)

    rng_devices = [device] if device.type == "cuda" else []
    deterministic_before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    rows: list[dict[str, Any]] = []
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(settings.seed)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            model = apply_lora(model, settings)
            if settings.gradient_checkpointing:
                # Non-reentrant: the frozen base's inputs need no gradients.
                model.activation_checkpointing_enable(
                    activation_checkpointing_kwargs={"use_reentrant": False}
                )
            model.to(device)
            loss_head = _choose_loss_head(model, collate(examples[:1], pad_id, device))
            loss_function = LOSS_FUNCTIONS[loss_head]
            trainable = [p for p in model.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(
                trainable,
                lr=settings.learning_rate,
                weight_decay=settings.weight_decay,
            )
            scheduler = _scheduler(
                optimizer, settings.lr_scheduler, warmup_steps, total_steps
            )
            LOGGER.info(
                "LoRA SFT of %s: %d examples (%d truncated, %d dropped), %d epochs, "
                "%d optimizer steps of %d examples (%d x %d), %d warm-up steps, "
                "%d trainable parameters, %s head, %s on %s",
                getattr(spec, "name", "model"),
                len(examples),
                truncated,
                dropped,
                settings.epochs,
                total_steps,
                settings.batch_size,
                settings.gradient_accumulation_steps,
                settings.micro_batch_size,
                warmup_steps,
                sum(p.numel() for p in trainable),
                loss_head,
                str(model_dtype).removeprefix("torch."),
                device,
            )
            loop_started = time.perf_counter()
            rows = _train_loop(
                model,
                examples,
                lengths,
                pad_id,
                device,
                settings,
                optimizer,
                scheduler,
                loss_function,
                steps_per_epoch,
                total_steps,
                progress,
            )
        finally:
            torch.use_deterministic_algorithms(
                deterministic_before[0], warn_only=deterministic_before[1]
            )
    wall_time = time.perf_counter() - started
    loop_time = time.perf_counter() - loop_started

    record: dict[str, Any] = {
        "settings": settings.to_dict(),
        "base_model": model_provenance(spec, dtype=model_dtype),
        "instructions": {
            "path": str(instructions_path),
            "sha256": sha256_file(instructions_path),
            "records": len(records),
            "examples": len(examples),
            "with_input": sum(record["input"] != "" for record in records),
            "truncated": truncated,
            "dropped": dropped,
            "response_tokens": sum(example.response_tokens for example in examples),
        },
        "prompt_templates": ALPACA_PROMPTS,
        "steps": {
            "total": len(rows),
            "per_epoch": steps_per_epoch,
            "warmup": warmup_steps,
            "gradient_accumulation": settings.gradient_accumulation_steps,
        },
        "loss": {
            "head": loss_head,
            "first": rows[0]["loss"] if rows else None,
            "last": rows[-1]["loss"] if rows else None,
        },
        "trainable_parameters": sum(p.numel() for p in trainable),
        "device": str(device),
        "dtype": str(model_dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
        "versions": _versions(),
        "wall_time_seconds": round(wall_time, 3),
        "training_loop_seconds": round(loop_time, 3),
        "files": {
            "adapter": list(ADAPTER_FILES),
            "log": LOG_FILE,
            "plot": PLOT_FILE,
            "chat_template": CHAT_TEMPLATE_FILE,
        },
    }
    with atomic_path(output_dir, directory=True) as tmp:
        model.save_pretrained(tmp)
        _write_log(rows, tmp / LOG_FILE)
        write_json(record, tmp / RECORD_FILE)
        (tmp / CHAT_TEMPLATE_FILE).write_text(
            alpaca_chat_template(tokenizer), encoding="utf-8"
        )
        plot_loss_curve(
            rows,
            tmp / PLOT_FILE,
            title=f"LoRA SFT of {getattr(spec, 'name', 'model')}",
            note=(
                f"n = {len(examples)} examples, {len(rows)} steps, "
                f"{settings.epochs} epochs\nrank {settings.lora_rank}, "
                f"lr {settings.learning_rate:g}, batch {settings.batch_size}"
            ),
        )
    LOGGER.info(
        "adapter written to %s (%d steps, loss %.4f -> %.4f, %.0f s)",
        output_dir,
        len(rows),
        record["loss"]["first"],
        record["loss"]["last"],
        wall_time,
    )
    return {**record, "output_dir": str(output_dir)}


def _train_loop(
    model: Any,
    examples: list[Example],
    lengths: list[int],
    pad_id: int,
    device: torch.device,
    settings: TrainingSettings,
    optimizer: Any,
    scheduler: Any,
    loss_function: Any,
    steps_per_epoch: int,
    total_steps: int,
    progress: bool,
) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    model.train()
    generator = torch.Generator().manual_seed(settings.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    rows: list[dict[str, Any]] = []
    step = 0
    with tqdm(
        total=total_steps, desc="LoRA SFT", unit="step", disable=not progress
    ) as bar:
        for _epoch in range(settings.epochs):
            order = torch.randperm(len(examples), generator=generator).tolist()
            for micro_batches in _batches(
                order, settings.batch_size, settings.micro_batch_size, lengths
            ):
                if step == total_steps:
                    return rows
                tokens = sum(
                    examples[i].response_tokens
                    for batch in micro_batches
                    for i in batch
                )
                step_loss = 0.0
                for batch in micro_batches:
                    inputs = collate([examples[i] for i in batch], pad_id, device)
                    try:
                        loss_sum, _ = loss_function(model, **inputs)
                        (loss_sum / tokens).backward()
                    except Exception as error:
                        if not is_out_of_memory(error):
                            raise
                        raise type(error)(
                            _out_of_memory_message(
                                step + 1, inputs["input_ids"].shape, device, settings
                            )
                        ) from error
                    step_loss += float(loss_sum.detach())
                if settings.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
                learning_rate = scheduler.get_last_lr()[0]
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                row = {
                    "step": step,
                    "epoch": round(step / steps_per_epoch, 4),
                    "loss": round(step_loss / tokens, 6),
                    "learning_rate": learning_rate,
                    "tokens": tokens,
                }
                rows.append(row)
                LOGGER.info(
                    "step %d/%d epoch %.2f loss %.4f lr %.3g tokens %d",
                    step,
                    total_steps,
                    row["epoch"],
                    row["loss"],
                    learning_rate,
                    tokens,
                )
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                bar.update(1)
    return rows
