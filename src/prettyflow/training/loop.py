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
  default, in :mod:`prettyflow.training.settings`, which the config check uses too)
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

import logging
import math
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from prettyflow.decode import is_out_of_memory
from prettyflow.errors import InputError
from prettyflow.io import atomic_path, write_json
from prettyflow.models import (
    load_pretrained,
    model_provenance,
    peft_wrapping_warnings_silenced,
    resolve_device,
    resolve_dtype,
    sha256_file,
)
from prettyflow.paths import CHAT_TEMPLATE_FILE, TRAINING_RECORD_FILE
from prettyflow.training.data import (
    ALPACA_PROMPTS,
    Example,
    alpaca_chat_template,
    collate,
    read_instructions,
    step_batches,
    tokenize_examples,
)
from prettyflow.training.log import _require_matplotlib, _write_log, plot_loss_curve
from prettyflow.training.loss import LOSS_FUNCTIONS, _choose_loss_head
from prettyflow.training.settings import (
    TrainingSettings,
    out_of_memory_message,
    settings_not_table7,
)

LOGGER = logging.getLogger("prettyflow")


ADAPTER_FILES: tuple[str, ...] = ("adapter_config.json", "adapter_model.safetensors")
LOG_FILE = "training_log.csv"
RECORD_FILE = TRAINING_RECORD_FILE
PLOT_FILE = "loss_curve.png"


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


# ---------------------------------------------------------------------- training


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


def apply_lora(model: Any, settings: TrainingSettings) -> Any:
    """``model`` wrapped by PEFT with the LoRA layers of ``settings`` (new, trainable)."""
    from peft import LoraConfig, get_peft_model

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

    Long because it is the training job from start to end (load, wrap with LoRA, train,
    write the adapter atomically) inside one try/finally that cleans up; its parts
    (data, loss, log, the loop) are in their own functions and modules.
    """
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
            for micro_batches in step_batches(
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
                            out_of_memory_message(
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
