"""A tiny untrained COMET checkpoint for the tests, built in the COMET environment.

``.venv-comet/bin/python tests/tiny_comet.py <folder>`` writes it (``comet`` is
importable there, not in the main environment) and prints the folder.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning
import torch
import yaml
from comet.models import RegressionMetric
from transformers import BertConfig, BertModel, BertTokenizerFast

from prettyflow.metrics.comet import CHECKPOINT_FILE


def build_tiny_checkpoint(
    directory: str | Path,
    corpus: Sequence[str] | None = None,
    seed: int = 0,
) -> Path:
    """A tiny untrained COMET ``regression_metric`` checkpoint, for tests.

    Needs ``comet`` (run it in the COMET environment). Writes ``encoder/`` (a
    2-layer BERT with seeded random weights and a cased WordPiece tokenizer whose
    vocabulary is the words and characters of ``corpus``), ``hparams.yaml`` naming
    that encoder (``encoder_model: BERT``), and ``checkpoints/model.ckpt`` with the
    state_dict of a :class:`comet.models.RegressionMetric` on it. The same
    ``corpus`` and ``seed`` give the same model; the checkpoint also records the
    encoder's absolute path. Returns the folder.
    """
    directory = Path(directory)
    encoder_dir = directory / "encoder"
    encoder_dir.mkdir(parents=True, exist_ok=True)
    texts = list(corpus or _TINY_CORPUS)
    words = sorted({w for text in texts for w in re.findall(r"\w+|[^\w\s]", text)})
    chars = sorted({c for word in words for c in word})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = list(dict.fromkeys(specials + words + chars + [f"##{c}" for c in chars]))
    (encoder_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(encoder_dir / "vocab.txt"),
        do_lower_case=False,
        strip_accents=False,
    )
    tokenizer.save_pretrained(encoder_dir)
    torch.manual_seed(seed)
    BertModel(
        BertConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=130,
            pad_token_id=0,
        ),
        add_pooling_layer=False,
    ).save_pretrained(encoder_dir)
    torch.manual_seed(seed)
    with contextlib.redirect_stdout(sys.stderr):
        model = RegressionMetric(
            encoder_model="BERT",
            pretrained_model=str(encoder_dir.resolve()),
            hidden_sizes=[16],
            layer="mix",
            layer_transformation="softmax",
            pool="avg",
            dropout=0.1,
            final_activation="Sigmoid",
            load_pretrained_weights=True,
            local_files_only=True,
        )
    hparams = dict(model.hparams)
    (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": hparams,
            "pytorch-lightning_version": pytorch_lightning.__version__,
        },
        directory / CHECKPOINT_FILE,
    )
    (directory / "hparams.yaml").write_text(yaml.safe_dump(hparams, sort_keys=True))
    return directory


_TINY_CORPUS = [
    "The cat sits on the mat.",
    "O gato está sentado no tapete.",
    "A dog runs in the park.",
    "Um cão corre no parque.",
    "We read books at home every evening.",
    "Nós lemos livros em casa todas as noites.",
]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: tests/tiny_comet.py <folder>", file=sys.stderr)
        sys.exit(2)
    print(build_tiny_checkpoint(sys.argv[1]))
