"""The vLLM worker: runs in the vLLM interpreter (``python -m
prettyflow.backends.vllm_engine``), started by :class:`prettyflow.backends.vllm.
VLLMBackend`. It builds one engine from the first request, then answers decode
requests, one JSON line each over a pipe. Only the standard library and vLLM.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

# The most of vLLM's message one line keeps (its lists of supported models are long).
_MESSAGE_CHARACTERS = 400


def one_line(text: str) -> str:
    """The line of vLLM's message that says what is wrong (a pydantic validation
    error's first line only counts its errors)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if len(lines) > 1 and re.match(r"\d+ validation errors? for ", lines[0]):
        lines = lines[1:]
    line = lines[0] if lines else "(no message)"
    line = re.sub(r"^Value error, ", "", re.sub(r" \[type=.*$", "", line))
    if len(line) > _MESSAGE_CHARACTERS:
        line = line[: _MESSAGE_CHARACTERS - 3] + "..."
    return line


def _engine(request: Mapping[str, Any]) -> Any:
    from vllm import LLM

    engine = request["engine"]
    arguments: dict[str, Any] = {
        "model": request["model"],
        "revision": request["revision"],
        "dtype": request["dtype"],
        # Greedy with vLLM's defaults, not the checkpoint's generation_config.json.
        "generation_config": "vllm",
        "max_num_seqs": engine["max_num_seqs"],
        "gpu_memory_utilization": engine["gpu_memory_utilization"],
        "tensor_parallel_size": engine["tensor_parallel_size"],
        "seed": 0,
        # CUDA graphs only on a GPU (the CPU build compiles nothing in eager mode).
        "enforce_eager": request["device"] == "cpu",
    }
    if engine.get("max_model_len"):
        arguments["max_model_len"] = engine["max_model_len"]
    if request.get("lora"):
        arguments.update(
            enable_lora=True,
            max_loras=1,
            max_lora_rank=request["lora"]["max_lora_rank"],
        )
    return LLM(**arguments)


def _decode(llm: Any, request: Mapping[str, Any], lora: Any) -> list[dict[str, Any]]:
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    top = int(request.get("top_logprobs") or 0)
    params = SamplingParams(
        temperature=0.0,
        repetition_penalty=1.0,
        max_tokens=request["max_new_tokens"],
        stop_token_ids=request["stop_token_ids"],
        detokenize=False,
        logprobs=top or None,
    )
    outputs = llm.generate(
        [TokensPrompt(prompt_token_ids=ids) for ids in request["prompts"]],
        params,
        use_tqdm=False,
        lora_request=lora,
    )
    results = []
    for output in outputs:
        completion = output.outputs[0]
        ids = list(completion.token_ids)
        stopped_at = completion.stop_reason
        if completion.finish_reason == "stop" and (
            not ids or ids[-1] not in request["stop_token_ids"]
        ):
            # The EOS that ended it, as the hf backend sees it.
            ids.append(
                stopped_at
                if isinstance(stopped_at, int)
                else request["stop_token_ids"][0]
            )
        result: dict[str, Any] = {"token_ids": ids}
        if top:
            result["top"] = [
                [
                    token
                    for token, _ in sorted(
                        position.items(), key=lambda item: -item[1].logprob
                    )
                ][:top]
                for position in completion.logprobs or []
            ]
        results.append(result)
    return results


def main() -> int:
    """``python -m prettyflow.backends.vllm``: a JSON line with the engine
    request on stdin, then one decode request per line; one JSON answer line
    each on the original stdout (vLLM's own output goes to stderr)."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def reply(message: Mapping[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    request = json.loads(sys.stdin.readline())
    try:
        if request.get("threads"):
            import torch

            torch.set_num_threads(int(request["threads"]))
        import vllm

        llm = _engine(request)
        lora = None
        if request.get("lora"):
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("adapter", 1, request["lora"]["path"])
    except Exception as error:  # one line for the job: what vLLM said
        message = f"{type(error).__name__}: {one_line(str(error))}"
        if "memory" in message.lower():
            message += (
                " (compute.vllm.gpu_memory_utilization sets the share of GPU memory "
                "vLLM takes; other processes on the GPU need theirs)"
            )
        reply({"error": message})
        return 1
    reply({"vllm": vllm.__version__})
    for line in sys.stdin:
        try:
            reply({"outputs": _decode(llm, json.loads(line), lora)})
        except Exception as error:
            reply({"error": f"{type(error).__name__}: {one_line(str(error))}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
