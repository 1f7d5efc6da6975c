"""describe_model: one description of a model for tables, report and summaries."""

from __future__ import annotations

import pandas as pd

from prettyflow.io import write_json, write_parquet
from prettyflow.model_description import describe_model

GGUF_SHA = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
BASE = {
    "name": "gemma3-270m",
    "path": "resources/models/gemma3-270m",
    "revision": None,
    "gguf_file": None,
    "gguf_sha256": GGUF_SHA,
    "converted_from_gguf": "gemma-3-270m-q4_k_m.gguf",
    "dtype": "bfloat16",
}
TRAINED = {
    **BASE,
    "name": "gemma3-270m-alpaca",
    "adapter": {
        "origin": "workflow",
        "source": "results/models/gemma3-270m-alpaca",
        "revision": None,
        "commit": None,
        "weights_file": "adapter_model.safetensors",
        "sha256": "0de638b2440535bf383470f646ad68bdcc047b1de53d8f0965aa1275b9c9d299",
        "peft_type": "LORA",
        "rank": 16,
        "alpha": 32,
        "target_modules": ["down_proj", "q_proj"],
        "merged": True,
        "merge_dtype": "float32",
        "dtype": "bfloat16",
        "adapted_weights": 200000,
        "changed_weights": 1234,
        "training": {
            "base_model": {"name": "gemma3-270m", "path": BASE["path"]},
            "instructions": {
                "path": "resources/demo/instructions/alpaca-demo.jsonl",
                "sha256": "4617440b8ed12a729d7bdb58be936b3eac57ed141a189c2208c7e80f4ef08726",
                "records": 155,
                "examples": 155,
            },
            "settings_not_table7": {"learning_rate": 0.001, "epochs": 1},
            "steps": 20,
            "device": "cpu",
            "dtype": "float32",
            "peft": "0.21.2",
        },
    },
}


def test_plain_models():
    assert describe_model(BASE) == (
        "`gemma3-270m`: `resources/models/gemma3-270m`, converted from GGUF "
        "`gemma-3-270m-q4_k_m.gguf`, sha256 `a5fd3b62230a`"
    )
    hub = {"name": "llama", "path": "meta-llama/Llama-2-7b-hf", "revision": "main"}
    assert (
        describe_model(hub) == "`llama`: `meta-llama/Llama-2-7b-hf` at revision `main`"
    )
    gguf = {"name": "g", "path": "models/x", "gguf_file": "x.gguf", "gguf_sha256": "ab"}
    assert describe_model(gguf) == "`g`: GGUF `x.gguf` of `models/x`, sha256 `ab`"
    # A record written before adapters were described holds the adapter's path.
    old = {"name": "sft", "path": "org/m", "adapter": "adapters/lora"}
    assert describe_model(old) == "`sft`: `org/m` with adapter `adapters/lora`"
    assert describe_model({}) == "`None`: `None`"


def test_trained_adapter():
    assert describe_model(TRAINED) == (
        "`gemma3-270m-alpaca`: LoRA adapter trained by the workflow on `gemma3-270m` "
        "(`resources/models/gemma3-270m`, converted from GGUF "
        "`gemma-3-270m-q4_k_m.gguf`, sha256 `a5fd3b62230a`); adapter "
        "`results/models/gemma3-270m-alpaca` (rank 16, alpha 32, sha256 "
        "`0de638b24405`), merged into the weights in float32, then cast to bfloat16 "
        "(1,234 of the 200,000 adapted weights changed, 0.62%); trained on "
        "`resources/demo/instructions/alpaca-demo.jsonl` (sha256 `4617440b8ed1`, "
        "155 records) for 20 steps in float32 on cpu, settings that differ from "
        "Table 7: epochs 1, learning_rate 0.001"
    )
    table7 = {**TRAINED["adapter"]["training"], "settings_not_table7": {}}
    record = {**TRAINED, "adapter": {**TRAINED["adapter"], "training": table7}}
    assert describe_model(record).endswith("in float32 on cpu, Table 7's settings")


def test_user_adapter_merged_or_not():
    adapter = {
        "origin": "user",
        "source": "someone/lora",
        "revision": "v1",
        "commit": "c0ffee" + "0" * 34,
        "sha256": "beef" * 16,
        "peft_type": "LORA",
        "rank": 8,
        "alpha": 16,
        "merged": False,
    }
    record = {"name": "m", "path": "org/base", "dtype": "bfloat16", "adapter": adapter}
    assert describe_model(record) == (
        "`m`: user-supplied LoRA adapter `someone/lora` at revision `v1`, commit "
        "`c0ffee000000` (rank 8, alpha 16, sha256 `beefbeefbeef`) on `org/base`, "
        "unmerged (PEFT's LoRA layers, in float32, over bfloat16 weights)"
    )
    merged = {**record, "adapter": {**adapter, "merged": True}}
    assert describe_model(merged).endswith("on `org/base`, merged into the weights")


def _score_file(path, system, model):
    write_json(
        {
            "system": system,
            "subset": "en-pt",
            "scores": {"bleu": {"score": 10.0, "signature": "sig"}},
            "diagnostics": {
                "samples": 2,
                "empty_outputs": 0,
                "mean_new_tokens": 3.0,
                "stopped_by": {"eos": 2},
            },
            "provenance": {
                "model": model,
                "dtype": "bfloat16",
                "device": "cuda",
                "template_name": "normal",
                "chat_template": True,
                "decoding": {"max_new_tokens": 8},
            },
        },
        path,
    )
    return path


def test_the_tables_provenance_describes_each_model(tmp_path):
    from prettyflow.steps.tables import results_table

    paths = [
        _score_file(tmp_path / "base.json", "base", BASE),
        _score_file(tmp_path / "sft.json", "sft", TRAINED),
    ]
    settings = {
        "subsets": ["en-pt"],
        "metrics": ["bleu"],
        "systems": ["base", "sft"],
        "reference_system": "sft",
        "sft_systems": ["sft"],
        "sft_ratio": "ratio_of_averages",
        "reference": "sft_reference",
        "near_zero_threshold": 1.0,
        "labels": {"sft": "SFT"},
        "task": "translation",
        "benchmark": "flores",
        "family": "tiny",
    }
    outputs = [tmp_path / f"table.{ext}" for ext in ("csv", "md", "tex", "html")]
    results_table(paths, settings, *outputs[:3], html_path=outputs[3])
    lines = outputs[1].read_text(encoding="utf-8").splitlines()
    assert (
        f"- **SFT**: model {describe_model(TRAINED)}. Decoded in bfloat16 on cuda, "
        "template `normal` in the chat template, no prior, greedy, max 8 new tokens"
        in lines
    )
    assert (
        f"- **base**: model {describe_model(BASE)}. Decoded in bfloat16"
        in "\n".join(lines)
    )
    # The report's page of the table is rendered from the same Markdown.
    assert "LoRA adapter trained by the workflow" in outputs[3].read_text()


def test_the_decision_space_summary_describes_both_models(tmp_path):
    from prettyflow.steps.analysis import decision_space_figures

    table = tmp_path / "en-pt" / "decision-space.parquet"
    table.parent.mkdir()
    write_parquet(
        pd.DataFrame(), table, {"models": {"foundation": BASE, "sft": TRAINED}}
    )
    decision_space_figures([table], tmp_path / "figures", label="tiny")
    summary = (tmp_path / "figures" / "summary.md").read_text(encoding="utf-8")
    assert summary.endswith(
        f"Models:\n\n- foundation: {describe_model(BASE)}\n"
        f"- SFT reference: {describe_model(TRAINED)}\n"
    )
