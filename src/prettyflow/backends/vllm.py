"""The ``vllm`` model backend: greedy decoding by vLLM's offline ``LLM`` engine.

vLLM pins its own torch and transformers, so it runs in an interpreter of its
own (``make vllm-env`` creates ``.venv-vllm``; conda: ``envs/vllm.yaml``;
``compute.vllm.python`` names another), as COMET does
(:mod:`prettyflow.metrics.comet`). :meth:`VLLMBackend.load` starts that
interpreter once (``python -m prettyflow.backends.vllm_engine``, the worker
:mod:`prettyflow.backends.vllm_engine`), which builds the engine once and then answers decode requests
over a pipe, one JSON line each.

Everything but the forward passes stays here, shared with the ``hf`` backend:
the Hugging Face tokenizer encodes the prompts and renders chat templates, so
vLLM is handed token ids (``TokensPrompt``), never text; the engine decodes
greedily (temperature 0, repetition penalty 1, vLLM's generation defaults rather
than the checkpoint's ``generation_config.json``) and stops only at EOS or
``max_new_tokens``; the stop strings and the answer cut are then applied token by
token by :class:`prettyflow.decode._Row`, the code the ``hf`` backend stops with,
so both backends end an answer at the same token.

vLLM is not batch-invariant: its batch settings (``compute.vllm``) are part of
the model settings (``engine``), hence of a decode's job parameters, and of its
provenance. There are no teacher-forced logits (the decision space needs
full-vocabulary log-probabilities) and no training (gradients): both stay on
``hf``, and the config check says so.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prettyflow.backends.base import (
    CAUSAL,
    HFTokenizerBackend,
)
from prettyflow.errors import InputError, MissingResourceError

if TYPE_CHECKING:
    from prettyflow.decode import Generation

# The interpreter of the vLLM environment (make vllm-env), relative to the workflow.
DEFAULT_PYTHON = ".venv-vllm/bin/python"
PYTHON_FIELD = "compute.vllm.python"
ENV_REMEDY = (
    "run `make vllm-env` (creates .venv-vllm), or create the conda environment "
    f"envs/vllm.yaml and set {PYTHON_FIELD} to its python"
)
# compute.vllm: the engine's settings, and their defaults (the schema documents them).
# dtype None: the model's (auto: bfloat16 on a CUDA GPU that has it, else float32).
ENGINE_DEFAULTS: dict[str, Any] = {
    "max_num_seqs": 256,
    "gpu_memory_utilization": 0.9,
    "tensor_parallel_size": 1,
    "dtype": None,
    "max_model_len": None,
}
# The worker's environment: threads not pinned to cores (the job shares the
# machine), a 1 GiB KV cache on CPU, and the engine core in the worker's own
# process (its start-up errors reach the worker, not only its log).
WORKER_ENVIRONMENT = {
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
}
# The ranks vLLM's LoRA kernels take: an adapter's rank rounded up to one of them.
_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


class VLLMError(RuntimeError):
    """vLLM could not start the model or decode with it (one line: model and vLLM's message)."""


def engine_settings(compute: Mapping[str, Any]) -> dict[str, Any]:
    """The engine settings of ``compute.vllm`` with their defaults (the model
    settings' ``engine``: part of a vLLM decode's job parameters)."""
    configured = dict(compute.get("vllm") or {})
    configured.pop("python", None)
    return {**ENGINE_DEFAULTS, **configured}


def vllm_python(compute: Mapping[str, Any] | None = None) -> Path:
    """The vLLM interpreter: ``compute.vllm.python``, else ``.venv-vllm/bin/python``."""
    configured = ((compute or {}).get("vllm") or {}).get("python")
    return Path(configured or DEFAULT_PYTHON).expanduser()


def environment_problem(python: str | Path) -> str | None:
    """Why ``python`` cannot run vLLM (None: it looks as if it can), read from its
    site-packages without starting it."""
    interpreter = Path(python)
    if not interpreter.is_file():
        return f"no vLLM interpreter: {interpreter} does not exist; {ENV_REMEDY}"
    prefix = interpreter.absolute().parent.parent
    site_dirs = list(prefix.glob("lib/python3*/site-packages"))
    if site_dirs and not any((d / "vllm" / "__init__.py").is_file() for d in site_dirs):
        return f"{interpreter} has no vLLM installed; {ENV_REMEDY}"
    return None


class _Worker:
    """The vLLM interpreter running :func:`prettyflow.backends.vllm_engine.main`: one
    engine, requests over a pipe."""

    def __init__(self, python: Path, request: Mapping[str, Any], label: str):
        self.label = label
        threads = request.get("threads")
        env = dict(os.environ)
        env.update(WORKER_ENVIRONMENT)
        env.pop("PYTHONHOME", None)
        # This package from its source, nothing else from the caller's environment.
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        if threads:  # vLLM sizes its CPU threads by OMP_NUM_THREADS
            env["OMP_NUM_THREADS"] = str(threads)
        self.process = subprocess.Popen(
            [str(python.absolute()), "-m", "prettyflow.backends.vllm_engine"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        atexit.register(self.close)
        self.ready = self.ask(request)

    def ask(self, request: Mapping[str, Any]) -> dict[str, Any]:
        process = self.process
        if process.poll() is not None:
            raise VLLMError(
                f"vLLM worker for {self.label} has exited ({process.returncode})"
            )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            code = process.wait()
            raise VLLMError(
                f"vLLM worker for {self.label} exited ({code}) without an answer; "
                "its log is above"
            )
        answer = json.loads(line)
        if "error" in answer:
            raise VLLMError(f"vLLM cannot run {self.label}: {answer['error']}")
        return answer

    def close(self) -> None:
        process = self.process
        if process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _eos_ids(location: str, tokenizer: Any, revision: str | None) -> list[int]:
    """The ids that end an answer: the tokenizer's EOS and the checkpoint's
    ``generation_config.json`` ones, as the ``hf`` backend stops at."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    try:
        from transformers import GenerationConfig

        configured = GenerationConfig.from_pretrained(
            location, revision=revision
        ).eos_token_id
    except OSError:  # no generation_config.json
        configured = None
    if isinstance(configured, int):
        ids.add(configured)
    elif configured is not None:
        ids.update(int(value) for value in configured)
    return sorted(ids)


class VLLMBackend(HFTokenizerBackend):
    """A model served by a vLLM engine in the vLLM interpreter; the Hugging Face
    ``tokenizer`` here encodes and renders prompts."""

    teacher_forcing = False
    trainable = False
    architectures = frozenset({CAUSAL})
    # Why the steps that need more than decoding stay on hf (the config check's message).
    decode_only_reason = (
        "vLLM only decodes: the decision space needs full-vocabulary "
        "log-probabilities under teacher forcing, training needs gradients"
    )

    def __init__(
        self,
        settings: Mapping[str, Any],
        spec: Any,
        tokenizer: Any,
        worker: _Worker,
        device: str,
        dtype: str,
        engine: Mapping[str, Any],
        eos_ids: Sequence[int],
        lora: Mapping[str, Any] | None,
        merged_dir: tempfile.TemporaryDirectory | None,
    ):
        self.settings = settings
        self.spec = spec
        self.name = spec.name
        self.tokenizer = tokenizer
        self.worker = worker
        self.device = device
        self.dtype = dtype
        self.engine = dict(engine)
        self.eos_ids = set(eos_ids)
        self.lora = lora
        self._merged_dir = merged_dir
        self.vllm_version = worker.ready["vllm"]

    @classmethod
    def job_settings(cls, compute: Mapping[str, Any]) -> dict[str, Any]:
        """``engine`` (:func:`engine_settings`), and ``python`` when configured."""
        settings: dict[str, Any] = {"engine": engine_settings(compute)}
        python = (compute.get("vllm") or {}).get("python")
        if python:
            settings["python"] = python
        return settings

    @classmethod
    def load(
        cls,
        settings: Mapping[str, Any],
        *,
        device: str = "auto",
        threads: int | None = None,
        architecture: str = CAUSAL,
    ) -> VLLMBackend:
        """See :meth:`ModelBackend.load`. ``settings["engine"]`` holds the engine
        settings (:func:`engine_settings`); ``settings["python"]`` may name the
        vLLM interpreter. A merged adapter is merged by the ``hf`` code (float32,
        then cast) into a temporary folder that vLLM loads; an unmerged one is
        served as a LoRA (``enable_lora``).

        Long because it starts the engine with its settings, adapter mode and provenance
        in one place.
        """
        from prettyflow.models import (
            _locate,
            resolve_adapter,
            resolve_device,
            resolve_dtype,
            spec_from_settings,
        )

        if architecture not in cls.architectures:
            raise InputError(
                f"the vllm backend loads causal models, not {architecture!r}",
                field="architecture",
            )
        python = Path(settings.get("python") or DEFAULT_PYTHON).expanduser()
        problem = environment_problem(python)
        if problem is not None:
            raise MissingResourceError(problem)
        engine = {**ENGINE_DEFAULTS, **(settings.get("engine") or {})}
        spec = spec_from_settings(settings)
        tokenizer = cls.load_tokenizer(settings)
        torch_device = resolve_device(device)
        dtype = str(resolve_dtype(engine["dtype"] or spec.dtype, torch_device))
        dtype = dtype.removeprefix("torch.")
        location, gguf_file = _locate(spec)
        if gguf_file is not None:
            raise InputError(
                f"model {spec.name!r}: the vllm backend loads model folders, not the "
                f"GGUF file {gguf_file!r}; convert it (models.<name>.gguf) first",
                field="backend",
            )
        eos_ids = _eos_ids(location, tokenizer, spec.revision)
        lora = None
        merged_dir = None
        model_location = location
        if spec.adapter is not None:
            adapter_dir, _ = resolve_adapter(spec)
            if spec.merge_adapter:
                merged_dir = _merged_copy(spec, dtype)
                model_location = merged_dir.name
            else:
                rank = json.loads((adapter_dir / "adapter_config.json").read_text())[
                    "r"
                ]
                lora = {
                    "path": str(adapter_dir),
                    "max_lora_rank": next((r for r in _LORA_RANKS if r >= rank), rank),
                }
        request = {
            "model": model_location,
            "revision": None if Path(model_location).is_dir() else spec.revision,
            "dtype": dtype,
            "device": torch_device.type,
            "engine": engine,
            "lora": lora,
            "threads": threads,
        }
        worker = _Worker(python, request, f"model {spec.name!r} ({spec.path})")
        return cls(
            settings,
            spec,
            tokenizer,
            worker,
            str(torch_device),
            dtype,
            engine,
            eos_ids,
            lora,
            merged_dir,
        )

    @classmethod
    def load_tokenizer(cls, settings: Mapping[str, Any]) -> Any:
        """The ``hf`` backend's tokenizer, with the model's chat template."""
        from prettyflow.models import (
            _read_chat_template,
            load_tokenizer,
            spec_from_settings,
        )

        spec = spec_from_settings(settings)
        tokenizer = load_tokenizer(spec)
        if spec.chat_template is not None:
            tokenizer.chat_template = _read_chat_template(spec.chat_template)
        return tokenizer

    def greedy_ids(
        self,
        prompt_ids: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        top_logprobs: int = 0,
    ) -> list[dict[str, Any]]:
        """vLLM's raw greedy decode of each prompt: ``token_ids`` (ending with the
        EOS that stopped it, if one did) and, with ``top_logprobs``, each
        position's ``top`` ids (most likely first)."""
        answer = self.worker.ask(
            {
                "prompts": [list(map(int, ids)) for ids in prompt_ids],
                "max_new_tokens": int(max_new_tokens),
                "stop_token_ids": sorted(self.eos_ids),
                "top_logprobs": int(top_logprobs),
            }
        )
        return answer["outputs"]

    def generate(
        self,
        prompt_ids: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        stop_strings: Sequence[str] = ("\n",),
        answer_prefixes: Sequence[str] | None = None,
        batch_size: int = 16,
        progress: bool = True,
        desc: str | None = None,
    ) -> list[Generation]:
        """See :meth:`ModelBackend.generate`. vLLM schedules its own batches
        (``compute.vllm.max_num_seqs``): ``batch_size`` is not used."""
        from prettyflow.decode import _CONTEXT_TOKENS, _Row

        if max_new_tokens < 1:
            raise InputError(
                f"max_new_tokens must be >= 1, got {max_new_tokens}",
                field="max_new_tokens",
            )
        if isinstance(stop_strings, str):
            stop_strings = (stop_strings,)
        if any(not stop for stop in stop_strings):
            raise InputError("stop strings must be non-empty", field="stop_strings")
        encoded = [list(ids) for ids in prompt_ids]
        if answer_prefixes is not None and len(answer_prefixes) != len(encoded):
            raise InputError(
                f"{len(answer_prefixes)} answer prefixes for {len(encoded)} prompts",
                field="answer_prefixes",
            )
        for index, ids in enumerate(encoded):
            if not ids:
                raise InputError(
                    f"prompt {index} encodes to no tokens: nothing to continue",
                    field="prompt",
                )
        if not encoded:
            return []
        started = [bool(prefix and prefix.strip()) for prefix in answer_prefixes or ()]
        started = started or [False] * len(encoded)
        stops = tuple(stop_strings)
        generations = []
        outputs = self.greedy_ids(encoded, max_new_tokens=max_new_tokens)
        for ids, has_text, output in zip(encoded, started, outputs):
            row = _Row(ids[-_CONTEXT_TOKENS:], has_text)
            for token in output["token_ids"]:
                if row.add(token, self.eos_ids, self.tokenizer, stops):
                    break
            generations.append(row.generation(self.tokenizer, stops, ids))
        return generations

    def provenance(self) -> dict[str, Any]:
        from prettyflow.models import model_provenance

        record = model_provenance(self.spec, self.settings.get("local_dir"))
        record["dtype"] = self.dtype
        record["backend"] = "vllm"
        record["vllm"] = self.vllm_version
        record["engine"] = dict(self.engine)
        if self.lora is not None:
            record["lora"] = "unmerged (enable_lora)"
        return record

    def close(self) -> None:
        """Stop the engine (also done at exit)."""
        self.worker.close()
        if self._merged_dir is not None:
            self._merged_dir.cleanup()


def _merged_copy(spec: Any, dtype: str) -> tempfile.TemporaryDirectory:
    """``spec``'s model with its adapter merged as the ``hf`` backend merges it
    (float32, then cast to ``dtype``), saved to a temporary folder for vLLM."""
    import torch

    from prettyflow.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(
        spec, torch.device("cpu"), getattr(torch, dtype)
    )
    folder = tempfile.TemporaryDirectory(prefix="prettyflow-vllm-merged-")
    model.save_pretrained(folder.name)
    tokenizer.save_pretrained(folder.name)
    return folder
