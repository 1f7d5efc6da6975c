"""LoRA training of the SFT models (Alpaca recipe), Hugging Face's by design.

- :mod:`~prettyflow.training.settings`: the settings (paper Table 7 defaults),
  checked once at start-up;
- :mod:`~prettyflow.training.data`: the instruction file, prompts, tokenized
  examples and batches;
- :mod:`~prettyflow.training.loss`: the response-only and full-logits losses;
- :mod:`~prettyflow.training.log`: the per-step CSV log and the loss curve;
- :mod:`~prettyflow.training.loop`: LoRA, the loop and the record
  (:func:`~prettyflow.training.loop.train_lora`).

Nothing is imported here: the config check reads the settings without torch.
"""
