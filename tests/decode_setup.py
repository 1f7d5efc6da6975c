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
