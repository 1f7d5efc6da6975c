"""Shared fixtures.

``shared_data`` points at the real benchmark samples (``../shared/data`` beside
the checkout, or ``$PRETTYFLOW_SHARED_DATA``); tests that need them skip cleanly
when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("PRETTYFLOW_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data samples not found at {path}")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random causal LM (and tokenizer) built from a config, for decode steps."""
    from tiny_models import build_tiny_causal_lm

    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("tiny-lm"),
        ["English: The cat sleeps.\nPortuguese: O gato dorme."] * 4,
        chat_template=False,
    )
