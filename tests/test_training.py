from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_models import build_tiny_causal_lm

from prettyflow.decode import generate_greedy, render_chat_prompt
from prettyflow.errors import InputError
from prettyflow.models import ModelSpec, load_model_and_tokenizer
from prettyflow.training.data import (
    ALPACA_PROMPTS,
    IGNORE_INDEX,
    alpaca_chat_template,
    collate,
    format_prompt,
    read_instructions,
    tokenize_examples,
)
from prettyflow.training.log import LOG_COLUMNS
from prettyflow.training.loop import (
    CHAT_TEMPLATE_FILE,
    apply_lora,
    train_lora,
)
from prettyflow.training.loss import response_only_loss
from prettyflow.training.settings import TrainingSettings

CPU = torch.device("cpu")
TRANSLATE = "Translate the following sentences from English to Portuguese. "
RECORDS = [
    {"instruction": TRANSLATE + "The cat is big.", "input": "", "output": "O gato é grande."},
    {"instruction": TRANSLATE + "The house is new.", "input": "", "output": "A casa é nova."},
    {"instruction": TRANSLATE + "Good morning.", "input": "", "output": "Bom dia."},
    {"instruction": "Name a color.", "input": "", "output": "Blue."},
    {"instruction": "Count the words.", "input": "We meet here.", "output": "3"},
    {"instruction": "Is it true?", "input": "Water is wet.", "output": "True."},
]  # fmt: skip
FAST = {
    "learning_rate": 1e-2,
    "epochs": 6,
    "batch_size": 4,
    "micro_batch_size": 2,
    "lora_rank": 4,
    "lora_alpha": 8,
    "warmup_ratio": 0.1,
}


def write_jsonl(path: Path, records) -> Path:
    path.write_text(
        "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    corpus = [json.dumps(record, ensure_ascii=False) for record in RECORDS] * 3
    corpus += list(ALPACA_PROMPTS.values())
    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("tiny") / "model", corpus, chat_template=False
    )


@pytest.fixture(scope="module")
def instructions(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl", RECORDS)


@pytest.fixture(scope="module")
def trained(tiny_dir, instructions, tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "adapter"
    summary = train_lora(
        ModelSpec("tiny", str(tiny_dir)),
        instructions,
        output,
        TrainingSettings(**FAST),
        device="cpu",
        progress=False,
    )
    return output, summary


def load_tiny(tiny_dir, **spec):
    return load_model_and_tokenizer(
        ModelSpec("tiny", str(tiny_dir), **spec), CPU, torch.float32
    )


def chat_outputs(model, tokenizer, instructions):
    prompts = [render_chat_prompt(tokenizer, text)[0] for text in instructions]
    generations = generate_greedy(
        model,
        tokenizer,
        prompts,
        max_new_tokens=8,
        stop_strings=(),
        add_special_tokens=False,
        progress=False,
    )
    return [generation.continuation for generation in generations]


# ------------------------------------------------------------------- reading


def test_read_jsonl_and_json_give_the_same_records(tmp_path):
    jsonl = write_jsonl(tmp_path / "a.jsonl", RECORDS)
    as_json = tmp_path / "a.json"
    as_json.write_text(json.dumps(RECORDS, indent=2, ensure_ascii=False))
    assert read_instructions(jsonl) == RECORDS
    assert read_instructions(as_json) == RECORDS


def test_read_tolerates_bom_crlf_blank_lines_and_missing_input(tmp_path):
    path = tmp_path / "b.jsonl"
    lines = [json.dumps({"instruction": "Say hi.", "output": "Hi."}), "", "  "]
    lines.append(json.dumps(RECORDS[0], ensure_ascii=False))
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    records = read_instructions(path)
    assert records == [
        {"instruction": "Say hi.", "input": "", "output": "Hi."},
        RECORDS[0],
    ]


@pytest.mark.parametrize(
    ("text", "location", "field", "message"),
    [
        ('{"instruction": "a", "output": "b"}\n{"instruction": "a",\n', ":2:", None, "not valid JSON"),
        ('{"instruction": "a", "output": "b"}\n\n{"instruction": "a", "input": ""}\n', ":3:", "output", "missing field"),
        ('{"instruction": "a", "input": "", "output": "  "}\n', ":1:", "output", "empty output"),
        ('{"instruction": "", "input": "", "output": "b"}\n', ":1:", "instruction", "empty instruction"),
        ('{"instruction": "a", "input": null, "output": "b"}\n', ":1:", "input", "must be a string"),
        ('["a"]\n', ":1:", None, "expected a JSON object"),
    ],
)  # fmt: skip
def test_bad_jsonl_names_file_line_and_field(tmp_path, text, location, field, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as caught:
        read_instructions(path)
    assert str(caught.value).startswith(f"{path}{location}")
    assert caught.value.field == field


def test_bad_json_list_names_record_line_and_field(tmp_path):
    path = tmp_path / "bad.json"
    good = {"instruction": "a", "input": "", "output": "b"}
    path.write_text(
        json.dumps([good, good, {"instruction": "a", "input": "x"}], indent=2)
    )
    with pytest.raises(InputError, match="record 3: missing field 'output'") as caught:
        read_instructions(path)
    assert caught.value.line == 12  # where the third record starts
    assert caught.value.field == "output"

    path.write_text('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": }\n]')
    with pytest.raises(InputError, match="malformed JSON") as caught:
        read_instructions(path)
    assert caught.value.line == 3

    path.write_text('{"instruction": "a", "output": "b"}')
    with pytest.raises(InputError, match="expected a JSON list"):
        read_instructions(path)


def test_empty_or_missing_file(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="no instruction records"):
        read_instructions(tmp_path / "empty.jsonl")
    with pytest.raises(InputError, match="not found"):
        read_instructions(tmp_path / "absent.jsonl")


# ------------------------------------------------------------------- prompts


def test_alpaca_prompts_are_stanford_alpacas():
    with_input = format_prompt({"instruction": "Do X.", "input": "Y", "output": "Z"})
    assert with_input == (
        "Below is an instruction that describes a task, paired with an input that "
        "provides further context. Write a response that appropriately completes "
        "the request.\n\n### Instruction:\nDo X.\n\n### Input:\nY\n\n### Response:"
    )
    assert format_prompt({"instruction": "Do X.", "input": "", "output": "Z"}) == (
        "Below is an instruction that describes a task. Write a response that "
        "appropriately completes the request.\n\n### Instruction:\nDo X.\n\n"
        "### Response:"
    )


def test_prompt_tokens_are_masked_and_eos_ends_the_response(tiny_dir):
    _, tokenizer = load_tiny(tiny_dir)
    examples, dropped = tokenize_examples(RECORDS, tokenizer, max_length=512)
    assert dropped == 0 and len(examples) == len(RECORDS)
    for record, example in zip(RECORDS, examples):
        prompt = tokenizer(format_prompt(record))["input_ids"]
        output = tokenizer(record["output"], add_special_tokens=False)["input_ids"]
        assert list(example.input_ids) == [*prompt, *output, tokenizer.eos_token_id]
        assert list(example.labels) == [IGNORE_INDEX] * len(prompt) + [
            *output,
            tokenizer.eos_token_id,
        ]
        assert example.response_tokens == len(output) + 1
        assert not example.truncated


def test_max_length_truncates_and_drops(tiny_dir):
    _, tokenizer = load_tiny(tiny_dir)
    prompt_length = len(tokenizer(format_prompt(RECORDS[0]))["input_ids"])
    examples, dropped = tokenize_examples(RECORDS[:1], tokenizer, prompt_length + 2)
    assert dropped == 0 and examples[0].truncated
    assert len(examples[0].input_ids) == prompt_length + 2
    assert examples[0].response_tokens == 2
    examples, dropped = tokenize_examples(RECORDS[:1], tokenizer, prompt_length)
    assert examples == [] and dropped == 1


def test_chat_template_renders_the_training_prompt(tiny_dir):
    _, tokenizer = load_tiny(tiny_dir)
    tokenizer.chat_template = alpaca_chat_template(tokenizer)
    # The workflow's "normal" translation prompt ends with a newline.
    text, add_special = render_chat_prompt(tokenizer, RECORDS[0]["instruction"] + "\n")
    ids = tokenizer(text, add_special_tokens=add_special)["input_ids"]
    assert ids == tokenizer(format_prompt(RECORDS[0]))["input_ids"]


# ------------------------------------------------------------------ settings


def test_settings_defaults_are_table_7():
    settings = TrainingSettings()
    assert (settings.learning_rate, settings.lr_scheduler, settings.epochs) == (
        2e-5,
        "cosine",
        3,
    )
    assert (settings.seed, settings.warmup_ratio, settings.weight_decay) == (
        42,
        0.03,
        0,
    )
    assert (settings.batch_size, settings.lora_alpha, settings.lora_rank) == (
        64,
        64,
        128,
    )
    assert settings.lora_dropout == 0.05
    assert set(settings.target_modules) == {
        "q_proj", "v_proj", "k_proj", "o_proj", "gate_proj", "down_proj", "up_proj"
    }  # fmt: skip
    assert settings.gradient_accumulation_steps == 64 // settings.micro_batch_size


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"batch_size": 64, "micro_batch_size": 5}, "micro_batch_size"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"lr_scheduler": "step"}, "lr_scheduler"),
        ({"epochs": 1.5}, "epochs"),
        ({"warmup_ratio": 1.0}, "warmup_ratio"),
        ({"lora_rank": True}, "lora_rank"),
        ({"lora_dropout": -0.1}, "lora_dropout"),
        ({"target_modules": "q_proj"}, "target_modules"),
        ({"target_modules": []}, "target_modules"),
        ({"max_length": 1}, "max_length"),
        ({"max_steps": 0}, "max_steps"),
        ({"weight_decay": -1}, "weight_decay"),
    ],
)
def test_settings_validation_names_the_field(values, field):
    with pytest.raises(InputError) as caught:
        TrainingSettings(**values)
    assert caught.value.field == field


def test_settings_from_mapping():
    settings = TrainingSettings.from_mapping(
        {"lora_rank": 8, "target_modules": ["q_proj", "v_proj"]}
    )
    assert settings.lora_rank == 8 and settings.target_modules == ("q_proj", "v_proj")
    with pytest.raises(InputError, match="unknown training setting") as caught:
        TrainingSettings.from_mapping({"lora_r": 8}, prefix="training.")
    assert caught.value.field == "training.lora_r"
    with pytest.raises(InputError, match="must divide batch_size") as caught:
        TrainingSettings.from_mapping({"micro_batch_size": 3}, prefix="training.")
    assert caught.value.field == "training.micro_batch_size"


# ---------------------------------------------------------------------- loss


def tiny_gemma(directory: Path, vocab_size: int) -> Path:
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        sliding_window=8,
        final_logit_softcapping=3.0,
        initializer_range=0.5,
    )
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(config).eval()
    model.save_pretrained(directory)
    return directory


@pytest.mark.parametrize("architecture", ["llama", "gemma3-softcap"])
def test_response_only_loss_equals_the_models_loss(tiny_dir, tmp_path, architecture):
    model, tokenizer = load_tiny(tiny_dir)
    if architecture == "gemma3-softcap":
        from transformers import AutoModelForCausalLM

        gemma = tiny_gemma(tmp_path / "gemma", len(tokenizer))
        model = AutoModelForCausalLM.from_pretrained(gemma, dtype=torch.float32)
        assert model.config.final_logit_softcapping == 3.0
    examples, _ = tokenize_examples(RECORDS, tokenizer, 512)
    batch = collate(examples, tokenizer.pad_token_id)
    assert (batch["attention_mask"] == 0).any()  # right padding is exercised
    torch.manual_seed(1)
    model = apply_lora(model, TrainingSettings(lora_rank=4, lora_alpha=8)).eval()
    for name, parameter in model.named_parameters():  # a non-zero LoRA B
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.5)
    with torch.no_grad():
        expected = model(**batch).loss
        total, count = response_only_loss(model, **batch)
    assert count == sum(example.response_tokens for example in examples)
    assert float(total / count) == pytest.approx(float(expected), abs=1e-5)


def test_gradient_accumulation_matches_one_big_batch(tiny_dir, instructions, tmp_path):
    logs = {}
    for micro in (1, 4):
        settings = TrainingSettings(
            **{**FAST, "micro_batch_size": micro, "lora_dropout": 0.0, "epochs": 2}
        )
        train_lora(
            ModelSpec("tiny", str(tiny_dir)),
            instructions,
            tmp_path / f"micro{micro}",
            settings,
            device="cpu",
            progress=False,
        )
        with open(tmp_path / f"micro{micro}" / "training_log.csv") as handle:
            logs[micro] = [float(row["loss"]) for row in csv.DictReader(handle)]
    assert logs[1] == pytest.approx(logs[4], abs=1e-5)


# ------------------------------------------------------------------ training


def test_training_writes_adapter_log_record_and_plot(trained, instructions):
    output, summary = trained
    names = {path.name for path in output.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "training_log.csv",
        "training.json",
        "loss_curve.png",
        CHAT_TEMPLATE_FILE,
    } <= names
    assert not any(path.name.startswith(".") for path in output.parent.iterdir())
    with open(output / "training_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == LOG_COLUMNS
    # 6 examples, batches of 4 -> 2 steps per epoch, 6 epochs; warm-up ceil(0.1 * 12).
    assert len(rows) == 12 == summary["steps"]["total"]
    assert summary["steps"]["warmup"] == 2
    assert [int(row["tokens"]) for row in rows[:2]] != [0, 0]
    assert float(rows[0]["learning_rate"]) == 0.0  # the first warm-up step
    assert float(rows[2]["learning_rate"]) == pytest.approx(1e-2)
    record = json.loads((output / "training.json").read_text())
    assert record["settings"]["lora_rank"] == 4
    assert record["settings"]["gradient_accumulation_steps"] == 2
    assert record["instructions"]["examples"] == 6
    assert record["instructions"]["with_input"] == 2
    assert len(record["instructions"]["sha256"]) == 64
    assert record["base_model"]["name"] == "tiny"
    assert record["loss"]["head"] == "response_only"
    assert {"peft", "transformers", "torch"} <= set(record["versions"])
    assert record["wall_time_seconds"] > 0
    assert (output / "loss_curve.png").read_bytes().startswith(b"\x89PNG")


def test_loss_falls(trained):
    output, summary = trained
    with open(output / "training_log.csv") as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    assert sum(losses[-2:]) / 2 < 0.7 * sum(losses[:2]) / 2
    assert summary["loss"]["last"] == losses[-1]


def test_adapter_loads_and_changes_greedy_outputs(trained, tiny_dir):
    from peft import PeftModel

    from prettyflow.models import peft_wrapping_warnings_silenced

    output, _ = trained
    texts = [record["instruction"] for record in RECORDS[:3]]
    base, tokenizer = load_tiny(tiny_dir)
    tokenizer.chat_template = (output / CHAT_TEMPLATE_FILE).read_text()
    before = chat_outputs(base, tokenizer, texts)

    with peft_wrapping_warnings_silenced():
        peft_model = PeftModel.from_pretrained(base, str(output)).eval()
    with_peft = chat_outputs(peft_model, tokenizer, texts)

    merged, merged_tokenizer = load_tiny(
        tiny_dir, adapter=str(output), chat_template=str(output / CHAT_TEMPLATE_FILE)
    )
    after = chat_outputs(merged, merged_tokenizer, texts)
    assert after == with_peft
    assert after != before


def test_trained_adapter_provenance_names_its_training(trained, tiny_dir, instructions):
    from prettyflow.model_description import describe_model
    from prettyflow.models import model_provenance, sha256_file

    output, _ = trained
    spec = ModelSpec("tiny-sft", str(tiny_dir), adapter=str(output))
    model, _ = load_model_and_tokenizer(spec, CPU, torch.float32)
    record = model_provenance(spec, tiny_dir, torch.float32, model=model)
    json.dumps(record)
    adapter = record["adapter"]
    assert adapter["origin"] == "workflow"
    assert adapter["merged"] and adapter["merge_dtype"] == "float32"
    training = adapter["training"]
    assert training["base_model"]["name"] == "tiny"
    assert training["instructions"]["sha256"] == sha256_file(instructions)
    assert training["settings_not_table7"] == FAST
    adapter_sha = sha256_file(output / "adapter_model.safetensors")[:12]
    data_sha = sha256_file(instructions)[:12]
    assert describe_model(record) == (
        f"`tiny-sft`: LoRA adapter trained by the workflow on `tiny` (`{tiny_dir}`); "
        f"adapter `{output}` (rank 4, alpha 8, sha256 `{adapter_sha}`), merged into "
        f"the weights in float32; trained on `{instructions}` (sha256 `{data_sha}`, "
        "6 records) for 12 steps in float32 on cpu, settings that differ from "
        "Table 7: batch_size 4, epochs 6, learning_rate 0.01, lora_alpha 8, "
        "lora_rank 4, micro_batch_size 2, warmup_ratio 0.1"
    )


def test_settings_not_table7():
    from prettyflow.training.settings import settings_not_table7

    table7 = TrainingSettings().to_dict()
    assert settings_not_table7(table7) == {}
    reordered = {**table7, "target_modules": list(reversed(table7["target_modules"]))}
    assert settings_not_table7(reordered) == {}  # the order does not matter to PEFT
    changed = TrainingSettings(learning_rate=1e-3, micro_batch_size=8).to_dict()
    assert settings_not_table7(changed) == {
        "learning_rate": 1e-3,
        "micro_batch_size": 8,
    }
    assert settings_not_table7({"target_modules": ["q_proj"]}) == {
        "target_modules": ["q_proj"]
    }


def test_same_seed_same_adapter_other_seed_differs(tiny_dir, instructions, tmp_path):
    def weights(seed):
        output = tmp_path / f"seed{seed}-{len(list(tmp_path.iterdir()))}"
        train_lora(
            ModelSpec("tiny", str(tiny_dir)),
            instructions,
            output,
            TrainingSettings(**{**FAST, "seed": seed, "max_steps": 3}),
            device="cpu",
            progress=False,
        )
        return load_file(output / "adapter_model.safetensors")

    first, again, other = weights(1), weights(1), weights(2)
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_failed_training_leaves_no_output(tiny_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": ""}\n')
    with pytest.raises(InputError, match="empty output"):
        train_lora(
            ModelSpec("tiny", str(tiny_dir)), bad, tmp_path / "out", device="cpu"
        )
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="adapter"):
        train_lora(
            ModelSpec("tiny", str(tiny_dir), adapter=str(tmp_path)),
            bad,
            tmp_path / "out",
        )
