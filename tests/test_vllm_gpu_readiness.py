"""The GPU path, tested on CPU: CUDA running out of memory, in each of its forms,
halves the batch of HF decoding and of the decision space, and the results are
those of an unbroken run (the error is injected into the model's forward).
``speed/gpu_check.py`` (``make gpu-check``) runs its tiny CPU sizes here."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prettyflow.analysis.decision_space import teacher_forced_positions
from prettyflow.backends.hf import HFBackend
from prettyflow.decode import is_out_of_memory

REPO_ROOT = Path(__file__).resolve().parents[1]

OUT_OF_MEMORY = {
    "torch.OutOfMemoryError": lambda: torch.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.00 GiB"
    ),
    "RuntimeError CUDA out of memory": lambda: RuntimeError(
        "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 79.10 GiB total)"
    ),
    "RuntimeError CUBLAS_STATUS_ALLOC_FAILED": lambda: RuntimeError(
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"
    ),
}


def _failing_above(model, rows: int, error) -> list[int]:
    """Make ``model``'s forward raise ``error()`` for batches of more than ``rows``
    rows; returns the list of the batch sizes it was called with."""
    forward = model.forward
    sizes: list[int] = []

    @functools.wraps(forward)  # the decode loop reads forward's signature
    def failing(*args, **kwargs):
        size = kwargs["input_ids"].shape[0]
        sizes.append(size)
        if size > rows:
            raise error()
        return forward(*args, **kwargs)

    model.forward = failing
    return sizes


@pytest.fixture
def backend(tiny_model_dir):
    return HFBackend.load(
        {"name": "tiny", "path": str(tiny_model_dir), "dtype": "float32"},
        device="cpu",
        threads=1,
    )


def test_other_errors_are_not_out_of_memory():
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("CUDA out of memory"))


@pytest.mark.parametrize("form", OUT_OF_MEMORY)
def test_decoding_halves_the_batch_on_out_of_memory(backend, form):
    prompts = backend.encode(["English: The cat", "The", "O gato", "English:", "cat"])
    expected = backend.generate(
        prompts, max_new_tokens=6, stop_strings=(), batch_size=1, progress=False
    )
    assert is_out_of_memory(OUT_OF_MEMORY[form]())
    sizes = _failing_above(backend.model, 2, OUT_OF_MEMORY[form])
    halved = backend.generate(
        prompts, max_new_tokens=6, stop_strings=(), batch_size=4, progress=False
    )
    assert halved == expected
    assert sizes[0] == 4 and max(sizes[1:]) == 2


@pytest.mark.parametrize("form", OUT_OF_MEMORY)
def test_the_decision_space_halves_the_batch_on_out_of_memory(backend, form):
    prompts = backend.encode(["English: The cat", "The", "O gato", "English:"])
    answers = backend.encode(
        ["sleeps", "cat sleeps", "dorme", "x"], add_special_tokens=False
    )
    expected = teacher_forced_positions(
        backend, backend, prompts, prompts, answers, batch_size=1
    )
    sizes = _failing_above(backend.model, 1, OUT_OF_MEMORY[form])
    halved = teacher_forced_positions(
        backend, backend, prompts, prompts, answers, batch_size=4
    )
    assert halved.equals(expected)
    assert sizes[:2] == [4, 2] and set(sizes[2:]) == {1}


def test_a_single_sample_out_of_memory_still_fails(backend):
    prompts = backend.encode(["English: The cat"])
    _failing_above(backend.model, 0, OUT_OF_MEMORY["torch.OutOfMemoryError"])
    with pytest.raises(torch.OutOfMemoryError, match="batching is already down to 1"):
        backend.generate(prompts, max_new_tokens=2, stop_strings=(), progress=False)


def test_the_gpu_check_runs_its_tiny_sizes_on_cpu(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "speed" / "gpu_check.py"), "--tiny"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    for line in (
        "HF decode",
        "identical greedy outputs, batch 1 vs 16",
        "out of memory halved",
        "adapter merge",
        "training step peak memory",
    ):
        assert line in out, out


TRAINING_RECORDS = [
    {"instruction": "Translate: The cat is big.", "input": "", "output": "O gato é grande."},
    {"instruction": "Translate: Good morning.", "input": "", "output": "Bom dia."},
    {"instruction": "Name a color.", "input": "", "output": "Blue."},
    {"instruction": "Is it true?", "input": "Water is wet.", "output": "True."},
]  # fmt: skip
TRAINING = {"epochs": 1, "batch_size": 4, "micro_batch_size": 2, "lora_rank": 4,
            "lora_alpha": 8, "lora_dropout": 0.0, "learning_rate": 1e-2}  # fmt: skip


def _train(tiny_model_dir, tmp_path, name, **settings):
    from prettyflow.models import ModelSpec
    from prettyflow.training.loop import train_lora
    from prettyflow.training.settings import TrainingSettings

    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(json.dumps(record) + "\n" for record in TRAINING_RECORDS),
        encoding="utf-8",
    )
    output = tmp_path / name
    train_lora(
        ModelSpec("tiny", str(tiny_model_dir)),
        data,
        output,
        TrainingSettings(**{**TRAINING, **settings}),
        device="cpu",
        progress=False,
    )
    return (output / "training_log.csv").read_text(encoding="utf-8")


def test_gradient_checkpointing_trains_the_same_steps(tiny_model_dir, tmp_path):
    plain = _train(tiny_model_dir, tmp_path, "plain")
    checkpointed = _train(
        tiny_model_dir, tmp_path, "checkpointed", gradient_checkpointing=True
    )
    losses = [
        [float(line.split(",")[2]) for line in log.splitlines()[1:]]
        for log in (plain, checkpointed)
    ]
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)


def test_a_training_step_out_of_memory_says_what_to_change(
    tiny_model_dir, tmp_path, monkeypatch
):
    import prettyflow.training.loop as training

    def failing(model, **inputs):
        raise RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED")

    monkeypatch.setitem(
        training.LOSS_FUNCTIONS,
        next(iter(training.LOSS_FUNCTIONS)),
        failing,
    )
    monkeypatch.setattr(
        training, "_choose_loss_head", lambda *args: next(iter(training.LOSS_FUNCTIONS))
    )
    with pytest.raises(RuntimeError) as error:
        _train(tiny_model_dir, tmp_path, "oom")
    message = str(error.value)
    assert "out of memory on cpu in training step 1" in message
    assert "micro_batch_size (now 2" in message
    assert "gradient_checkpointing: true" in message
    assert not (tmp_path / "oom").exists()  # nothing partial left behind
