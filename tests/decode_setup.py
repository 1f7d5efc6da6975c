"""Shared inputs of the decode-step tests (test_prompt_success, test_shards,
test_refined_shards, test_workers): a small translation data table and the
settings of a decode of it with a tiny model."""

from __future__ import annotations

import pandas as pd

from prettyflow.io import write_parquet

# Three prompt templates, as a list of them draws one per sentence (Table 8).
TEMPLATES = [
    "Translate from {source_language} to {target_language}.\n{source_text}\n",
    "{source_language}: {source_text} = {target_language}:",
    "Infill in {target_language}: {source_text}\n",
]
LANGUAGES = {"en": "English", "pt": "Portuguese"}


def decode_settings(model_dir, **template_settings):
    """decode() settings for a tiny model: translation en->pt, 3 new tokens."""
    return {
        "task": "translation",
        "benchmark": "flores",
        "system": "prompt-success",
        "model": {"name": "tiny", "path": str(model_dir)},
        "template_name": "prompt_success",
        "chat": False,
        "prior_source": None,
        "k": None,
        "languages": LANGUAGES,
        "source_lang": "en",
        "target_lang": "pt",
        "max_new_tokens": 3,
        "stop": ["\n"],
        **template_settings,
    }


def translation_data(tmp_path, ids):
    """A translation data table (en->pt) with one row per id, at tmp_path/data.parquet."""
    path = tmp_path / "data.parquet"
    write_parquet(
        pd.DataFrame(
            {
                "id": ids,
                "source": [f"The cat sleeps {i}." for i in range(len(ids))],
                "reference": ["O gato dorme."] * len(ids),
                "source_lang": ["en"] * len(ids),
                "target_lang": ["pt"] * len(ids),
            }
        ),
        path,
    )
    return path


def force_first_token(model, token_id: int):
    """Make ``token_id`` every row's first new token (then the model's own choices).

    A forward hook on ``model`` that, at the prompts' forward (no key/value cache
    yet), leaves ``token_id`` the only choice; a row's later tokens are the
    model's own. Returns the hook's handle (``.remove()`` undoes it).
    """
    from prettyflow.decode import _forward_options

    cache_name = _forward_options(model)[2]

    def hook(module, args, kwargs, output):
        if kwargs.get(cache_name) is None:
            last = output.logits[:, -1, :]
            last.fill_(float("-inf"))
            last[:, token_id] = 0.0
        return output

    return model.register_forward_hook(hook, with_kwargs=True)


def newline_token(tokenizer) -> int:
    """The id of the tokenizer's one-token "\\n"."""
    [token_id] = tokenizer("\n", add_special_tokens=False)["input_ids"]
    return token_id
