"""Decoding speed: one generate per sentence vs a bare batched loop vs prettyflow.

Loads a causal LM once and decodes the same few-shot English->Portuguese
prompts three ways:

  (a) naive:  one ``model.generate`` per sentence;
  (b) bare:   ``model.generate`` on left-padded batches in input order;
  (c) prettyflow.decode.generate_greedy (length-sorted batches, stop strings).

(a) and (b) stop with transformers' ``stop_strings``, as plain transformers code
would. For reference, (a') also runs (c) one prompt per call (batch_size=1).

All three are greedy and cut at the first newline; their outputs must be
identical (otherwise the differences are printed and the exit code is 1).
Speed is reported as tokens/s, counting for every method the same tokens: those
that (c) generated up to and including the stop (so the ratios are time ratios).

Before that it reports a decode job's start-up (the median over fresh processes
of the time before the first token, phase by phase: startup_probe.py) and the
wall time of a whole one-sample, one-token decode job (a fresh process running
the decode script's own call, prettyflow.workers.decode_job) loading the model
itself, starting a warm worker, and handing its decode to that worker once it
is warm (prettyflow.workers; compute.decode.worker_idle_seconds). After it, it
reports the share of this machine's float32 matrix-multiply throughput (a square
matmul, timed with torch) that (c) achieves.

    .venv/bin/python speed/decode_speed.py --model resources/models/gemma3-270m
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from prettyflow.decode import generate_greedy
from prettyflow.models import ModelSpec, load_model_and_tokenizer

FEW_SHOT = (
    "English: The weather is nice today.\nPortuguese: O tempo está bom hoje.\n"
    "English: I would like a cup of coffee, please.\nPortuguese: Eu gostaria de uma xícara de café, por favor.\n"
)

SENTENCES = [
    "The cat is sleeping on the bed.",
    "Where is the nearest train station?",
    "My brother works in a hospital.",
    "We are going to the beach tomorrow.",
    "This book is very interesting.",
    "She bought a new car last week.",
    "The children are playing in the garden.",
    "Can you help me carry these boxes?",
    "The museum opens at nine o'clock in the morning.",
    "I have never been to Brazil.",
    "The government announced new measures against inflation.",
    "He drinks a glass of water every morning.",
    "The restaurant on the corner serves excellent fish.",
    "It rained all night and the streets are flooded.",
    "Our teacher gave us a lot of homework.",
    "The doctor said I need to rest for a few days.",
    "They built a bridge over the river.",
    "Please close the window, it is cold.",
    "The football match was cancelled because of the storm.",
    "I forgot my umbrella at the office.",
    "The scientists discovered a new species of frog in the forest.",
    "How much does this shirt cost?",
    "My grandmother tells wonderful stories.",
    "The library is closed on Sundays.",
    "We watched a film about the history of the city.",
    "The price of bread has gone up again.",
    "He learned to play the guitar when he was ten.",
    "The airport is about twenty kilometres from the centre.",
    "She speaks three languages fluently.",
    "The farmers are worried about the lack of rain.",
    "I usually take the bus to work.",
    "The new hospital will open next year.",
    "Do you know where my keys are?",
    "The company hired fifty new employees.",
    "The mountains are covered with snow in winter.",
    "We need to buy milk, eggs and bread.",
    "The president will visit the region next month.",
    "My phone battery is almost empty.",
    "The students presented their project to the class.",
    "This road is dangerous at night.",
    "The concert was louder than I expected.",
    "He wrote a letter to his old friend.",
    "The city has more than two million inhabitants.",
    "I would like to book a table for four people.",
    "The river flows into the ocean near the port.",
    "Vaccines have saved millions of lives.",
    "The shop sells fresh fruit and vegetables.",
    "We will meet again after the holidays.",
]

STOP = "\n"
CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def configured_batch_size() -> int:
    """The workflow's own batch size (config.yaml, compute.batch_size)."""
    return int(
        yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["compute"]["batch_size"]
    )


def make_prompts(count: int) -> list[str]:
    return [
        FEW_SHOT + f"English: {SENTENCES[i % len(SENTENCES)]}\nPortuguese:"
        for i in range(count)
    ]


def cut(text: str) -> str:
    position = text.find(STOP)
    return text if position < 0 else text[:position]


def plain_generate(
    model, tokenizer, prompts: list[str], max_new_tokens: int
) -> list[str]:
    """One generate call on ``prompts`` as one left-padded batch, as transformers' docs do it."""
    encoded = tokenizer(
        prompts, return_tensors="pt", padding=True, padding_side="left"
    ).to(model.device)
    with torch.inference_mode():
        output = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            stop_strings=[STOP],
            tokenizer=tokenizer,
            pad_token_id=tokenizer.pad_token_id,
        )
    new_tokens = output[:, encoded["input_ids"].shape[1] :]
    prefix = encoded["input_ids"][:, -4:]
    texts = []
    for context, tokens in zip(prefix.tolist(), new_tokens.tolist()):
        # Decode after a few prompt tokens so a leading space survives, as generate_greedy does.
        head = tokenizer.decode(context, skip_special_tokens=True)
        full = tokenizer.decode(context + tokens, skip_special_tokens=True)
        texts.append(
            cut(
                full[len(head) :]
                if full.startswith(head)
                else tokenizer.decode(tokens, skip_special_tokens=True)
            )
        )
    return texts


def measure_startup(
    model: str, runs: int
) -> tuple[tuple[float, float], dict[str, tuple[float, float]]]:
    """Medians over ``runs`` fresh processes of the seconds (wall clock, CPU time)
    before the first token, in all and per phase.

    The wall-clock total counts from the spawn of the interpreter, so it
    includes the interpreter's own start, which the probe cannot time itself.
    """
    probe = Path(__file__).with_name("startup_probe.py")
    totals: list[tuple[float, float]] = []
    phases: dict[str, list[tuple[float, float]]] = {}
    for _ in range(runs):
        spawned = time.time()
        completed = subprocess.run(
            [sys.executable, str(probe), "--model", model],
            capture_output=True,
            text=True,
        )
        if completed.returncode != 0:
            sys.stderr.write(completed.stderr)
            raise RuntimeError(f"{probe.name} failed (exit {completed.returncode})")
        record = json.loads(completed.stdout.splitlines()[-1])
        totals.append((record["first_token_at"] - spawned, record["cpu_seconds"]))
        for name, seconds in record["phases"].items():
            phases.setdefault(name, []).append((seconds, record["phases_cpu"][name]))
    return _medians(totals), {name: _medians(pairs) for name, pairs in phases.items()}


# One decode job as scripts/decode.py runs it; prints when it ended and the result.
JOB = """
import json, sys, time
from prettyflow.workers import decode_job
kwargs, compute = json.loads(sys.argv[1]), json.loads(sys.argv[2])
decode_job(kwargs, compute)
print(json.dumps({"ended": time.time()}))
"""


def measure_job_startup(model: str, runs: int) -> dict[str, float]:
    """Seconds of a whole one-sample, one-new-token decode job in a fresh process.

    ``in-process``: the job loads the model itself (median of ``runs``);
    ``worker, first job``: it starts a warm worker, which loads the model;
    ``worker, warm``: later jobs hand their decode to that worker (median).
    An upper bound of the start-up before the first token: it includes
    reading the data, one token and writing the Parquet.
    """
    from prettyflow.io import write_parquet
    from prettyflow.workers import WORKER_DIR_VARIABLE, stop_idle_workers

    folder = Path(tempfile.mkdtemp(prefix="pfb-"))
    data = folder / "data.parquet"
    write_parquet(
        pd.DataFrame(
            {
                "id": ["s0"],
                "source": [SENTENCES[0]],
                "reference": ["O gato está dormindo na cama."],
                "source_lang": ["en"],
                "target_lang": ["pt"],
            }
        ),
        data,
    )
    settings = {
        "task": "translation",
        "benchmark": "startup",
        "system": "startup",
        "model": {"name": "startup", "path": str(Path(model).resolve())},
        "template_name": "startup",
        "template": FEW_SHOT + "{source_language}: {source_text}\n{target_language}:",
        "chat": False,
        "prior_source": None,
        "k": None,
        "languages": {"en": "English", "pt": "Portuguese"},
        "source_lang": "en",
        "target_lang": "pt",
        "max_new_tokens": 1,
        "stop": [STOP],
    }
    workers_folder = folder / "w"
    workers_folder.mkdir(mode=0o700)
    # As Snakemake runs a 1-thread job.
    environment = {
        **os.environ,
        WORKER_DIR_VARIABLE: str(workers_folder),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }

    def job(idle_seconds: float) -> float:
        kwargs = {
            "data_path": str(data),
            "output_path": str(folder / "decodes.parquet"),
            "settings": settings,
            "prior_path": None,
            "demonstration_path": None,
            "shard": None,
        }
        compute = {
            "device": "cpu",
            "threads": 1,
            "batch_size": 1,
            "decode": {"worker_idle_seconds": idle_seconds},
        }
        spawned = time.time()
        completed = subprocess.run(
            [sys.executable, "-c", JOB, json.dumps(kwargs), json.dumps(compute)],
            capture_output=True,
            text=True,
            env=environment,
        )
        if completed.returncode != 0:
            sys.stderr.write(completed.stdout + completed.stderr)
            raise RuntimeError(f"the decode job failed (exit {completed.returncode})")
        return json.loads(completed.stdout.splitlines()[-1])["ended"] - spawned

    try:
        return {
            "in-process": statistics.median(job(0) for _ in range(runs)),
            "worker, first job": job(600),
            "worker, warm": statistics.median(job(600) for _ in range(runs)),
        }
    finally:
        stop_idle_workers(workers_folder)
        shutil.rmtree(folder, ignore_errors=True)


def _medians(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    walls, cpu_times = zip(*pairs)
    return statistics.median(walls), statistics.median(cpu_times)


def matmul_gflops(size: int, seconds: float = 2.0) -> float:
    """This machine's float32 matmul throughput (GFLOP/s) on ``size`` x ``size`` matrices.

    With torch's current number of threads, the same as the decoding it is
    compared with.
    """
    left, right = torch.randn(size, size), torch.randn(size, size)
    torch.mm(left, right)  # warm-up: the first call pays one-time costs
    products, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        torch.mm(left, right)
        products += 1
    return 2 * size**3 * products / elapsed / 1e9


def decoding_flops(model, prompt_tokens: int, new_tokens: int) -> float:
    """The matmul FLOPs of decoding: 2 x parameters x tokens processed.

    The input embedding is a lookup, not a matmul; the output layer only runs
    where logits are computed, one position per new token (generate_greedy keeps
    only the last prompt position's logits). Attention over the cache is left out
    (small next to the weights at these lengths).
    """
    input_weight = model.get_input_embeddings().weight
    output_weight = model.get_output_embeddings().weight
    embeddings = {id(input_weight), id(output_weight)}
    body = sum(p.numel() for p in model.parameters() if id(p) not in embeddings)
    return 2 * body * (prompt_tokens + new_tokens) + 2 * output_weight.numel() * (
        new_tokens
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="resources/models/gemma3-270m", help="model folder"
    )
    parser.add_argument("--sentences", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=configured_batch_size(),
        help="for (b) and (c); default: compute.batch_size of config.yaml",
    )
    parser.add_argument(
        "--startup-runs",
        type=int,
        default=3,
        help="fresh processes timed for the start-up (median); 0 skips it",
    )
    parser.add_argument(
        "--matmul-size",
        type=int,
        default=2048,
        help="side of the square float32 matmul that measures the machine's "
        "throughput (default: Gemma 3 270M's MLP width)",
    )
    args = parser.parse_args()

    if args.startup_runs > 0:
        (total, cpu_total), phases = measure_startup(args.model, args.startup_runs)
        # On a busy machine the wall clock grows with the load; CPU time much less.
        print(
            f"start-up before the first token (median of {args.startup_runs} fresh "
            f"processes, 1 thread): {total:.2f}s (CPU time {cpu_total:.2f}s)",
            flush=True,
        )
        for name, (seconds, cpu_seconds) in phases.items():
            print(f"  {name:26s} {seconds:5.2f}s (CPU {cpu_seconds:.2f}s)")
        print(
            "a whole decode job of one sample and one new token, fresh process "
            f"(median of {args.startup_runs}):",
            flush=True,
        )
        for name, seconds in measure_job_startup(args.model, args.startup_runs).items():
            print(f"  {name:26s} {seconds:5.2f}s", flush=True)
    print(f"torch threads: {torch.get_num_threads()}", flush=True)
    started = time.perf_counter()
    model, tokenizer = load_model_and_tokenizer(
        ModelSpec("benchmark", str(Path(args.model))),
        torch.device("cpu"),
        torch.float32,
    )
    print(f"loaded {args.model} in {time.perf_counter() - started:.1f}s", flush=True)
    prompts = make_prompts(args.sentences)
    # Warm-up: first calls at a new shape pay one-time costs that are not decoding.
    plain_generate(model, tokenizer, prompts[:1], 2)
    generate_greedy(
        model, tokenizer, prompts[: args.batch_size], max_new_tokens=2, progress=False
    )

    started = time.perf_counter()
    ours = generate_greedy(
        model,
        tokenizer,
        prompts,
        max_new_tokens=args.max_new_tokens,
        stop_strings=(STOP,),
        batch_size=args.batch_size,
        desc="prettyflow",
    )
    time_ours = time.perf_counter() - started
    useful_tokens = sum(result.num_new_tokens for result in ours)
    print(f"(c) prettyflow: {time_ours:.1f}s", flush=True)

    started = time.perf_counter()
    bare: list[str] = []
    for start in range(0, len(prompts), args.batch_size):
        bare += plain_generate(
            model,
            tokenizer,
            prompts[start : start + args.batch_size],
            args.max_new_tokens,
        )
    time_bare = time.perf_counter() - started
    print(f"(b) bare batches: {time_bare:.1f}s", flush=True)

    started = time.perf_counter()
    naive = [
        plain_generate(model, tokenizer, [prompt], args.max_new_tokens)[0]
        for prompt in prompts
    ]
    time_naive = time.perf_counter() - started
    print(f"(a) naive: {time_naive:.1f}s", flush=True)

    # Not one of the three: one prompt per call but with prettyflow's stop check,
    # which separates the gain of batching from the cost of transformers'
    # stop_strings (it scans the whole vocabulary on every generate call).
    started = time.perf_counter()
    single = generate_greedy(
        model,
        tokenizer,
        prompts,
        max_new_tokens=args.max_new_tokens,
        stop_strings=(STOP,),
        batch_size=1,
        desc="prettyflow, batch_size=1",
    )
    time_single = time.perf_counter() - started
    print(f"(a') prettyflow batch_size=1: {time_single:.1f}s", flush=True)

    ours_texts = [result.continuation for result in ours]
    if [result.continuation for result in single] != ours_texts:
        print(
            "note: batch_size=1 outputs differ from batched ones (padding numerics)",
            file=sys.stderr,
        )
    differences = [
        (index, naive[index], bare[index], ours_texts[index])
        for index in range(len(prompts))
        if not naive[index] == bare[index] == ours_texts[index]
    ]
    print(
        f"\n{len(prompts)} sentences, {useful_tokens} generated tokens (up to the stop), "
        f"batch size {args.batch_size}, max {args.max_new_tokens} new tokens"
    )
    for label, seconds in (
        ("(a) naive, one generate per sentence", time_naive),
        ("(a') generate_greedy, batch_size=1", time_single),
        ("(b) bare batched generate loop", time_bare),
        ("(c) prettyflow generate_greedy", time_ours),
    ):
        print(f"{label:40s} {seconds:7.1f}s {useful_tokens / seconds:8.1f} tokens/s")
    print(
        f"speed-up c/a: {time_naive / time_ours:.2f}   c/b: {time_bare / time_ours:.2f}   "
        f"c/a': {time_single / time_ours:.2f}"
    )
    prompt_tokens = sum(len(ids) for ids in tokenizer(prompts)["input_ids"])
    achieved = decoding_flops(model, prompt_tokens, useful_tokens) / time_ours / 1e9
    peak = matmul_gflops(args.matmul_size)
    print(
        f"(c) computes {achieved:.1f} GFLOP/s ({prompt_tokens} prompt + "
        f"{useful_tokens} new tokens): {achieved / peak:.0%} of this machine's "
        f"float32 matmul throughput ({peak:.1f} GFLOP/s on "
        f"{args.matmul_size}x{args.matmul_size}, {torch.get_num_threads()} threads)"
    )
    for index in range(min(3, len(prompts))):
        print(
            f"  example {index}: {SENTENCES[index % len(SENTENCES)]!r} -> {ours_texts[index]!r}"
        )
    if differences:
        print(f"\nOUTPUTS DIFFER for {len(differences)} sentences:", file=sys.stderr)
        for index, a, b, c in differences:
            print(
                f"  [{index}] naive={a!r}\n       bare ={b!r}\n       ours ={c!r}",
                file=sys.stderr,
            )
        return 1
    print("all three outputs identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
