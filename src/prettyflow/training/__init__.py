"""LoRA training of the SFT models (Alpaca recipe), Hugging Face's by design.

- :mod:`~prettyflow.training.settings`: the settings (paper Table 7 defaults),
  checked once at start-up;
- :mod:`~prettyflow.training.loop`: the instruction data, its tokenization, the
  losses and the training loop (:func:`~prettyflow.training.loop.train_lora`).

Nothing is imported here: the config check reads the settings without torch.
"""
