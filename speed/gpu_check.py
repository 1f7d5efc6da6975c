"""The prepared GPU check (``make gpu-check``): what the GPU path does on one GPU.

Nothing is downloaded: the models are built from configs with random weights
(a Llama of about 1B parameters on a GPU; a tiny one with ``--tiny`` or on a
machine without CUDA, which is how the test suite runs it). It prints:

1. HF decode (prettyflow's batched loop) tokens/s against bare ``generate`` at
   batch 32, in bf16, and the share of the GPU's measured bf16 matmul throughput;
2. the rate of identical greedy outputs between batch sizes 1 and 16 in bf16;
3. a real CUDA out-of-memory (most of the GPU's memory taken first) halved and
   completed (on CPU: injected, as tests/test_vllm_gpu_readiness.py does);
4. the bf16 adapter merge check: a LoRA update below bf16's resolution merged
   in float32 still changes the weights (prettyflow.models);
5. a LoRA training step's peak memory with and without gradient checkpointing.

Sized to finish within 8 minutes on one H100.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import tempfile
import time
from pathlib import Path

import torch

from prettyflow.backends.hf import HFBackend
from prettyflow.decode import generate_greedy_ids, is_out_of_memory

# (hidden, layers, heads, intermediate): a TinyLlama-like ~1B model, and a tiny one.
SIZES = {
    "gpu": {"hidden": 2048, "layers": 20, "heads": 32, "intermediate": 5632},
    "tiny": {"hidden": 128, "layers": 2, "heads": 2, "intermediate": 256},
}
CORPUS = [
    "English: The cat sleeps on the sofa.\nPortuguese: O gato dorme no sofá.\n",
    "We walked to the market this morning. Nós andamos até o mercado.\n",
]


def build_model(folder: Path, size: dict, vocab: int = 2000) -> Path:
    """A random Llama of ``size`` and a byte-level tokenizer, saved to ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        CORPUS * 50,
        trainers.BpeTrainer(
            vocab_size=vocab,
            special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=size["hidden"],
        intermediate_size=size["intermediate"],
        num_hidden_layers=size["layers"],
        num_attention_heads=size["heads"],
        num_key_value_heads=size["heads"],
        max_position_embeddings=4096,
        bos_token_id=fast.bos_token_id,
        # No EOS the random model would pick: every row decodes its full length.
        eos_token_id=None,
        pad_token_id=fast.pad_token_id,
        initializer_range=0.5 if size is SIZES["tiny"] else 0.02,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def random_prompts(count: int, vocab: int, lengths: tuple[int, int], seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randint(4, vocab, (int(n),), generator=generator).tolist()
        for n in torch.randint(
            lengths[0], lengths[1] + 1, (count,), generator=generator
        )
    ]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int) -> float:
    """Measured FLOP/s of an n x n x n matmul (the achievable peak)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    synchronize(device)
    repeats = 20 if device.type == "cuda" else 3
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def bare_generate(model, prompts, pad_id, max_new_tokens) -> int:
    """``model.generate`` greedy on left-padded ``prompts``; new tokens made."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt)
        mask[row, width - len(prompt) :] = 1
    output = model.generate(
        input_ids=ids.to(model.device),
        attention_mask=mask.to(model.device),
        do_sample=False,
        max_new_tokens=max_new_tokens,
        min_new_tokens=max_new_tokens,
        pad_token_id=pad_id,
    )
    return (output.shape[1] - width) * len(prompts)


def check_decode_speed(backend, sizes, device, out):
    model, tokenizer = backend.model, backend.tokenizer
    prompts = random_prompts(32, len(tokenizer), sizes["prompt"])
    new = sizes["new_tokens"]
    generate_greedy_ids(  # warm-up
        model, tokenizer, prompts[:2], max_new_tokens=2, stop_strings=(), progress=False
    )
    synchronize(device)
    started = time.perf_counter()
    ours = generate_greedy_ids(
        model,
        tokenizer,
        prompts,
        max_new_tokens=new,
        stop_strings=(),
        batch_size=32,
        progress=False,
    )
    synchronize(device)
    ours_time = time.perf_counter() - started
    ours_tokens = sum(g.num_new_tokens for g in ours)
    started = time.perf_counter()
    bare_tokens = bare_generate(model, prompts, tokenizer.pad_token_id, new)
    synchronize(device)
    bare_time = time.perf_counter() - started
    parameters = sum(p.numel() for p in model.parameters())
    peak = matmul_peak(device, backend.torch_dtype, sizes["matmul"])
    achieved = 2 * parameters * ours_tokens / ours_time
    out(
        f"HF decode: {ours_tokens / ours_time:.1f} tokens/s (prettyflow) vs "
        f"{bare_tokens / bare_time:.1f} tokens/s (bare generate), batch 32, "
        f"{parameters / 1e9:.2f}B parameters in {backend.dtype}; "
        f"{achieved / 1e12:.3f} TFLOP/s = {100 * achieved / peak:.1f}% of the "
        f"measured {backend.dtype} matmul peak {peak / 1e12:.2f} TFLOP/s"
    )


def check_batch_invariance(backend, sizes, out):
    prompts = random_prompts(32, len(backend.tokenizer), sizes["prompt"], seed=1)
    kwargs = {
        "max_new_tokens": sizes["new_tokens"],
        "stop_strings": (),
        "progress": False,
    }
    one = backend.generate(prompts, batch_size=1, **kwargs)
    sixteen = backend.generate(prompts, batch_size=16, **kwargs)
    same = sum(a.token_ids == b.token_ids for a, b in zip(one, sixteen))
    out(
        f"identical greedy outputs, batch 1 vs 16 ({backend.dtype}): {same}/{len(prompts)}"
        f" = {100 * same / len(prompts):.0f}%"
    )


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def check_out_of_memory(backend, sizes, device, out):
    """A decode at batch 32 of long prompts with most of the GPU's memory taken."""
    model, tokenizer = backend.model, backend.tokenizer
    prompts = random_prompts(32, len(tokenizer), sizes["oom_prompt"], seed=2)
    expected = backend.generate(
        prompts[:2], max_new_tokens=4, stop_strings=(), batch_size=1, progress=False
    )
    ballast = None
    forward = model.forward
    if device.type == "cuda":
        torch.cuda.empty_cache()
        free, _ = torch.cuda.mem_get_info(device)
        # Leave room for a few rows' key/value cache and activations only.
        ballast = torch.empty(
            max(free - sizes["oom_room"], 0), dtype=torch.uint8, device=device
        )
        how = "real"
    else:

        @functools.wraps(forward)
        def failing(*args, **kwargs):
            if kwargs["input_ids"].shape[0] > 4:
                raise RuntimeError("CUDA out of memory. Tried to allocate 1.00 GiB")
            return forward(*args, **kwargs)

        model.forward = failing
        how = "injected (no CUDA)"
    warnings = _Warnings()
    logging.getLogger("prettyflow").addHandler(warnings)
    try:
        results = backend.generate(
            prompts, max_new_tokens=4, stop_strings=(), batch_size=32, progress=False
        )
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        out(f"out of memory halved: FAILED even at batch 1 ({how}): {error}")
        return
    finally:
        logging.getLogger("prettyflow").removeHandler(warnings)
        model.forward = forward
        del ballast
        if device.type == "cuda":
            torch.cuda.empty_cache()
    halvings = [m for m in warnings.messages if m.startswith("out of memory")]
    same = [r.token_ids for r in results[:2]] == [r.token_ids for r in expected]
    out(
        f"out of memory halved ({how}): {len(halvings)} halving(s), "
        f"{len(results)}/32 prompts completed, first outputs as unbatched: {same}"
        + "".join(f"\n  {message}" for message in halvings)
    )


def check_adapter_merge(folder: Path, device, dtype, out):
    """A LoRA update of ~1e-5 relative size, merged in float32, moves bf16 weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from prettyflow.models import ModelSpec, load_model_and_tokenizer

    base = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    lora = get_peft_model(
        base, LoraConfig(r=8, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    )
    torch.manual_seed(1)
    for name, parameter in lora.named_parameters():
        if "lora_" in name:
            with torch.no_grad():
                parameter.copy_(torch.randn_like(parameter) * 1e-3)
    adapter = folder.parent / "adapter"
    lora.save_pretrained(adapter)
    spec = ModelSpec(
        name="check", path=str(folder), dtype="bfloat16", adapter=str(adapter)
    )
    merged, _ = load_model_and_tokenizer(spec, device, dtype)
    record = getattr(merged, "prettyflow_adapter", {})
    out(
        f"bf16 adapter merge: {record.get('changed_weights')} of "
        f"{record.get('adapted_weights', record.get('lora_weights'))} adapted weights "
        f"changed by the float32 merge ({json.dumps(record, default=str)})"
    )


def check_training_memory(folder: Path, sizes, device, out):
    from transformers import AutoModelForCausalLM

    from prettyflow.training.loop import apply_lora
    from prettyflow.training.settings import TrainingSettings

    peaks = {}
    for checkpointing in (False, True):
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
        settings = TrainingSettings(
            lora_rank=16, lora_alpha=32, gradient_checkpointing=checkpointing
        )
        model = apply_lora(model, settings)
        if checkpointing:
            model.activation_checkpointing_enable(
                activation_checkpointing_kwargs={"use_reentrant": False}
            )
        model.to(device).train()
        ids = torch.randint(
            4, model.config.vocab_size, (sizes["train_batch"], sizes["train_length"])
        ).to(device)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        started = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        synchronize(device)
        elapsed = time.perf_counter() - started
        peak = (
            f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
            if device.type == "cuda"
            else "n/a on CPU"
        )
        peaks[checkpointing] = (peak, elapsed)
        del model
    out(
        "training step peak memory (LoRA r16, bf16, "
        f"{sizes['train_batch']} x {sizes['train_length']} tokens): "
        f"without gradient checkpointing {peaks[False][0]} ({peaks[False][1]:.2f} s), "
        f"with {peaks[True][0]} ({peaks[True][1]:.2f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (CPU)")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    tiny = args.tiny or not cuda
    device = torch.device("cuda" if cuda else "cpu")
    sizes = {
        **(SIZES["tiny"] if tiny else SIZES["gpu"]),
        "prompt": (8, 24) if tiny else (64, 256),
        "new_tokens": 8 if tiny else 64,
        "matmul": 512 if tiny else 8192,
        "oom_prompt": (16, 24) if tiny else (2048, 2048),
        "oom_room": 2 * 2**30,
        "train_batch": 2 if tiny else 8,
        "train_length": 32 if tiny else 1024,
    }
    size = SIZES["tiny"] if tiny else SIZES["gpu"]

    def out(line: str) -> None:
        print(line, flush=True)

    out(
        f"gpu check on {torch.cuda.get_device_name(device) if cuda else 'CPU'} "
        f"({'tiny sizes' if tiny else '~1B Llama'}), torch {torch.__version__}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="prettyflow-gpu-check-") as tmp:
        folder = build_model(Path(tmp) / "model", size)
        backend = HFBackend.load(
            {"name": "check", "path": str(folder), "dtype": "bfloat16"},
            device=device.type,
        )
        check_decode_speed(backend, sizes, device, out)
        check_batch_invariance(backend, sizes, out)
        check_out_of_memory(backend, sizes, device, out)
        del backend
        check_adapter_merge(folder, device, torch.bfloat16, out)
        check_training_memory(folder, sizes, device, out)
    out(f"gpu check done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
