"""One decode job's start-up, phase by phase, in a fresh interpreter.

Times what a decode job pays before its first token: importing torch,
transformers and prettyflow's decoding modules, ``load_model_and_tokenizer``
(tokenizer and weights), and the first forward pass (one new token). Prints one
JSON line: each phase in seconds (wall clock, and CPU time in ``phases_cpu``), ``first_token_at`` (``time.time()`` when the
first token was there, so that a parent process can add the interpreter's own
start), ``cpu_seconds`` (the process's CPU time until then: on a busy machine
the wall-clock times grow, this much less) and the token id. decode_speed.py runs it a few times; on its own:

    .venv/bin/python speed/startup_probe.py --model resources/models/gemma3-270m
"""

import time

started = time.perf_counter(), time.process_time()

import argparse  # noqa: E402
import json  # noqa: E402

import torch  # noqa: E402

torch_imported = time.perf_counter(), time.process_time()
import transformers  # noqa: E402, F401

transformers_imported = time.perf_counter(), time.process_time()
from prettyflow.decode import generate_greedy  # noqa: E402
from prettyflow.models import ModelSpec, load_model_and_tokenizer  # noqa: E402

prettyflow_imported = time.perf_counter(), time.process_time()

PROMPT = "English: The weather is nice today.\nPortuguese:"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resources/models/gemma3-270m")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (a decode job's: 1)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_started = time.perf_counter(), time.process_time()
    model, tokenizer = load_model_and_tokenizer(
        ModelSpec("startup", args.model), torch.device("cpu"), torch.float32
    )
    loaded = time.perf_counter(), time.process_time()
    [generation] = generate_greedy(
        model, tokenizer, [PROMPT], max_new_tokens=1, progress=False
    )
    first_token = time.perf_counter(), time.process_time()
    bounds = {
        "import torch": (started, torch_imported),
        "import transformers": (torch_imported, transformers_imported),
        "import prettyflow": (transformers_imported, prettyflow_imported),
        "load model and tokenizer": (load_started, loaded),
        "first token": (loaded, first_token),
    }
    print(
        json.dumps(
            {
                "phases": {
                    name: end[0] - begin[0] for name, (begin, end) in bounds.items()
                },
                "phases_cpu": {
                    name: end[1] - begin[1] for name, (begin, end) in bounds.items()
                },
                "first_token_at": time.time(),
                "cpu_seconds": time.process_time(),
                "token_ids": generation.token_ids,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
