"""Training losses: the mean cross-entropy over response tokens, computed on their
positions only (``response_only``) or on full logits (``full``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from prettyflow.training.data import IGNORE_INDEX

LOGGER = logging.getLogger("prettyflow")


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
