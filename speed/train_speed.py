"""LoRA training step speed: output layer at the response positions only vs all logits.

Loads a causal LM once, adds LoRA layers, builds one micro-batch from an
Alpaca-format instruction file (the longest examples, cut at ``--length`` tokens)
and times optimizer steps (forward, backward, AdamW) two ways:

  (a) response_only: prettyflow.training.loss.response_only_loss (the decoder body,
      then the output layer only where the next token is a response label);
  (b) full:          the model's ordinary forward, logits at every position.

First it checks that both give the same loss (no_grad, eval mode); the exit code
is 1 if they differ by more than 1e-4.

    .venv/bin/python speed/train_speed.py --model resources/models/gemma3-270m
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from prettyflow.models import ModelSpec, load_pretrained
from prettyflow.training.data import collate, read_instructions, tokenize_examples
from prettyflow.training.loop import apply_lora
from prettyflow.training.loss import LOSS_FUNCTIONS
from prettyflow.training.settings import TrainingSettings

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "resources/models/gemma3-270m"))
    parser.add_argument(
        "--instructions",
        default=str(REPO / "resources/demo/instructions/alpaca-demo.jsonl"),
    )
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=96)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per head")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument(
        "--modules",
        default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
    )
    parser.add_argument("--dropout", type=float, default=0.05, help="LoRA dropout")
    parser.add_argument(
        "--top-layers",
        type=int,
        default=None,
        help="LoRA on the last N decoder layers only (default: all)",
    )
    parser.add_argument(
        "--heads",
        default="response_only,full",
        help="which losses to time (comma separated)",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM

    spec = ModelSpec("model", args.model)
    model, tokenizer = load_pretrained(
        AutoModelForCausalLM, spec, torch.device("cpu"), torch.float32
    )
    layers = None
    if args.top_layers is not None:
        count = model.config.get_text_config().num_hidden_layers
        layers = tuple(range(count - args.top_layers, count))
    settings = TrainingSettings(
        lora_rank=args.rank,
        lora_alpha=2 * args.rank,
        target_modules=tuple(args.modules.split(",")),
        batch_size=args.micro_batch,
        micro_batch_size=args.micro_batch,
        max_length=args.length,
        learning_rate=1e-4,
        lora_dropout=args.dropout,
        layers_to_transform=layers,
    )
    torch.manual_seed(0)
    model = apply_lora(model, settings)
    records = read_instructions(args.instructions)
    examples, _ = tokenize_examples(records, tokenizer, args.length)
    examples = sorted(examples, key=lambda e: -len(e.input_ids))[: args.micro_batch]
    batch = collate(examples, tokenizer.pad_token_id)
    shape = tuple(batch["input_ids"].shape)
    response = int((batch["labels"][:, 1:] != -100).sum())
    print(
        f"micro-batch {shape[0]} x {shape[1]} tokens, {response} response tokens, "
        f"vocabulary {model.get_output_embeddings().weight.shape[0]}, "
        f"LoRA rank {args.rank} on {args.modules}"
        f"{'' if layers is None else f' of layers {layers[0]}-{layers[-1]}'}, "
        f"dropout {args.dropout}, {args.threads} threads"
    )

    model.eval()
    with torch.no_grad():
        losses = {}
        for name, function in LOSS_FUNCTIONS.items():
            total, count = function(model, **batch)
            losses[name] = float(total) / count
    difference = abs(losses["response_only"] - losses["full"])
    print(
        f"loss: response_only {losses['response_only']:.6f}, full "
        f"{losses['full']:.6f} (difference {difference:.2e})"
    )

    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate)
    heads = args.heads.split(",")
    times: dict[str, list[float]] = {name: [] for name in heads}
    # Alternate the two heads so that load from other processes hits both alike.
    for step in range(args.steps + 1):
        for name in heads:
            function = LOSS_FUNCTIONS[name]
            start = time.perf_counter()
            total, count = function(model, **batch)
            (total / count).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step:  # the first round warms up
                times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(
            f"{name:>13}: {min(values):6.2f} s/step best, "
            f"{sum(values) / len(values):6.2f} s/step mean of {len(values)}"
        )
    best = {name: min(values) for name, values in times.items()}
    if len(best) == 2:
        print(f"speed-up: {best['full'] / best['response_only']:.2f}x")
    return 0 if difference <= 1e-4 * max(1.0, losses["full"]) else 1


if __name__ == "__main__":
    sys.exit(main())
