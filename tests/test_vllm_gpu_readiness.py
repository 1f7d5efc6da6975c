"""The GPU path, tested on CPU: CUDA running out of memory, in each of its forms,
halves the batch of HF decoding and of the decision space, and the results are
those of an unbroken run (the error is injected into the model's forward).
``benchmarks/gpu_check.py`` (``make gpu-check``) runs its tiny CPU sizes here."""

from __future__ import annotations

import functools
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
        [sys.executable, str(REPO_ROOT / "benchmarks" / "gpu_check.py"), "--tiny"],
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
