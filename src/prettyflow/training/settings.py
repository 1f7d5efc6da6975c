"""LoRA SFT settings (paper Table 7): one checked object for the config check and the job.

:class:`TrainingSettings` holds the defaults (Table 7's values) and every bound;
the config check (:func:`prettyflow.config.validate_config`) builds it from
``models.<name>.train.settings`` with :meth:`TrainingSettings.from_mapping`, as
the training job does, so what the check accepts the job accepts. Light (no
torch): the check runs at the workflow's start-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prettyflow.errors import InputError, is_integer, is_number

LR_SCHEDULERS: tuple[str, ...] = ("cosine", "linear", "constant")

# Table 7's trainable modules (the attention and MLP projections of Llama).
TABLE7_TARGET_MODULES: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)


@dataclass(frozen=True)
class TrainingSettings:
    """LoRA SFT hyper-parameters; the defaults are the paper's Table 7.

    ``batch_size`` is the cumulative batch (examples per optimizer step);
    ``micro_batch_size`` examples go through the model at once, so gradient
    accumulation = ``batch_size / micro_batch_size`` (must divide). Not in
    Table 7: ``micro_batch_size``, ``max_length`` (Alpaca's ``model_max_length``
    512), ``max_steps`` (an optional cap on optimizer steps), ``max_grad_norm``
    (the Hugging Face Trainer's default 1.0, which Alpaca used),
    ``layers_to_transform`` (LoRA on these decoder layers only; ``None`` = all)
    and ``gradient_checkpointing`` (activations recomputed in the backward pass).
    """

    learning_rate: float = 2e-5
    lr_scheduler: str = "cosine"
    epochs: int = 3
    seed: int = 42
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    batch_size: int = 64
    micro_batch_size: int = 4
    lora_alpha: float = 64
    lora_rank: int = 128
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = TABLE7_TARGET_MODULES
    max_length: int = 512
    max_steps: int | None = None
    max_grad_norm: float | None = 1.0
    layers_to_transform: tuple[int, ...] | None = None
    # Recompute activations in the backward pass: less memory for about a third
    # more compute (what to turn on when a training step runs out of GPU memory).
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        def fail(field: str, message: str) -> None:
            value = getattr(self, field)
            value = list(value) if isinstance(value, tuple) else value  # as written
            raise InputError(f"{message}, got {value!r}", field=field)

        if not is_number(self.learning_rate) or not self.learning_rate > 0:
            fail("learning_rate", "must be a number > 0")
        if self.lr_scheduler not in LR_SCHEDULERS:
            fail("lr_scheduler", f"must be one of {', '.join(LR_SCHEDULERS)}")
        if not is_integer(self.epochs) or self.epochs < 1:
            fail("epochs", "must be an integer >= 1")
        if not is_integer(self.seed):
            fail("seed", "must be an integer")
        if not is_number(self.warmup_ratio) or not 0 <= self.warmup_ratio < 1:
            fail("warmup_ratio", "must be a number in [0, 1)")
        if not is_number(self.weight_decay) or self.weight_decay < 0:
            fail("weight_decay", "must be a number >= 0")
        if not is_integer(self.batch_size) or self.batch_size < 1:
            fail("batch_size", "must be an integer >= 1")
        if not is_integer(self.micro_batch_size) or self.micro_batch_size < 1:
            fail("micro_batch_size", "must be an integer >= 1")
        if self.batch_size % self.micro_batch_size:
            fail(
                "micro_batch_size",
                f"must divide batch_size ({self.batch_size}) for gradient accumulation",
            )
        if not is_number(self.lora_alpha) or not self.lora_alpha > 0:
            fail("lora_alpha", "must be a number > 0")
        if not is_integer(self.lora_rank) or self.lora_rank < 1:
            fail("lora_rank", "must be an integer >= 1")
        if not is_number(self.lora_dropout) or not 0 <= self.lora_dropout < 1:
            fail("lora_dropout", "must be a number in [0, 1)")
        if isinstance(self.target_modules, str) or not isinstance(
            self.target_modules, (list, tuple)
        ):
            fail("target_modules", "must be a list of module names")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        if not self.target_modules or not all(
            isinstance(name, str) and name.strip() for name in self.target_modules
        ):
            fail("target_modules", "must be a non-empty list of module names")
        if not is_integer(self.max_length) or self.max_length < 2:
            fail("max_length", "must be an integer >= 2")
        if self.max_steps is not None and (
            not is_integer(self.max_steps) or self.max_steps < 1
        ):
            fail("max_steps", "must be null or an integer >= 1")
        if self.max_grad_norm is not None and (
            not is_number(self.max_grad_norm) or not self.max_grad_norm > 0
        ):
            fail("max_grad_norm", "must be null or a number > 0")
        if not isinstance(self.gradient_checkpointing, bool):
            fail("gradient_checkpointing", "must be true or false")
        if self.layers_to_transform is not None:
            layers = self.layers_to_transform
            if isinstance(layers, str) or not isinstance(layers, (list, tuple)):
                fail("layers_to_transform", "must be null or a list of layer indices")
            object.__setattr__(self, "layers_to_transform", tuple(layers))
            if not self.layers_to_transform or not all(
                is_integer(layer) and layer >= 0 for layer in self.layers_to_transform
            ):
                fail(
                    "layers_to_transform",
                    "must be null or a non-empty list of integers >= 0",
                )

    @property
    def gradient_accumulation_steps(self) -> int:
        return self.batch_size // self.micro_batch_size

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], prefix: str = ""
    ) -> TrainingSettings:
        """Settings from a config mapping; unknown keys and bad values name the key.

        ``prefix`` (e.g. ``"training."``) is put in front of the field in errors.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise InputError(
                    f"unknown training setting; known: {', '.join(sorted(known))}",
                    field=f"{prefix}{key}",
                )
        try:
            return cls(**values)
        except InputError as error:
            raise InputError(error.message, field=f"{prefix}{error.field}") from None

    def to_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["target_modules"] = list(self.target_modules)
        if self.layers_to_transform is not None:
            record["layers_to_transform"] = list(self.layers_to_transform)
        record["gradient_accumulation_steps"] = self.gradient_accumulation_steps
        return record


def settings_not_table7(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a recorded ``settings`` (``TrainingSettings.to_dict``) that are not Table 7's.

    Table 7's are :class:`TrainingSettings`' defaults; ``target_modules`` are
    compared as a set (their order does not matter to PEFT), and the derived
    ``gradient_accumulation_steps`` is left out (``batch_size`` and
    ``micro_batch_size`` say it).
    """
    defaults = TrainingSettings().to_dict()
    differing = {}
    for key, value in settings.items():
        if key == "gradient_accumulation_steps":
            continue
        default = defaults.get(key)
        if key == "target_modules" and isinstance(value, (list, tuple)):
            same = sorted(value) == sorted(default)
        else:
            same = key in defaults and value == default
        if not same:
            differing[key] = value
    return differing


def out_of_memory_message(
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
