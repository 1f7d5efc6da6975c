"""The model-backend seam: a backend is one class and one registry entry.

A backend defined here, in the test, that runs the hf backend's model and
records each call, is registered in ``MODEL_BACKENDS`` and decodes through the
unchanged decode step; the config check refuses a backend without
teacher-forced logits for the decision space; the plan names a backend only
when it is not the default, so that finished jobs of hf models stay finished.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml
from decode_setup import TEMPLATES, decode_settings, translation_data
from tiny_models import build_tiny_causal_lm

from prettyflow.analysis.decision_space import teacher_forced_positions
from prettyflow.backends import DEFAULT_BACKEND, MODEL_BACKENDS, model_backend
from prettyflow.backends.base import CAUSAL, ModelBackend
from prettyflow.backends.hf import HFBackend
from prettyflow.config import ConfigError, load_schema, validate_config
from prettyflow.decode import chat_prompts, generate_greedy
from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance
from prettyflow.plan import Plan
from prettyflow.steps.decode import decode

COMPUTE = {"device": "cpu", "threads": 1, "batch_size": 4}


class RecordingBackend(ModelBackend):
    """A backend of its own: it runs the hf backend's model and records each call.

    It declares no teacher forcing, as a backend without full-vocabulary
    log-probabilities (vLLM) would.
    """

    calls: list[str] = []

    def __init__(self, inner: HFBackend):
        self.inner = inner
        self.name = inner.name
        self.settings = inner.settings
        self.tokenizer = inner.tokenizer
        self.device = inner.device
        self.dtype = inner.dtype

    @classmethod
    def load(cls, settings, *, device="auto", threads=None, architecture=CAUSAL):
        cls.calls.append("load")
        return cls(
            HFBackend.load(
                settings, device=device, threads=threads, architecture=architecture
            )
        )

    @classmethod
    def load_tokenizer(cls, settings):
        cls.calls.append("load_tokenizer")
        return HFBackend.load_tokenizer(settings)

    def encode(self, texts, *, add_special_tokens=True):
        self.calls.append("encode")
        return self.inner.encode(texts, add_special_tokens=add_special_tokens)

    def render_chat(self, prompts, *, system=None):
        self.calls.append("render_chat")
        return self.inner.render_chat(prompts, system=system)

    def generate(self, prompt_ids, **options):
        self.calls.append("generate")
        return self.inner.generate(prompt_ids, **options)

    def provenance(self):
        self.calls.append("provenance")
        return {**self.inner.provenance(), "backend": "recording"}


@pytest.fixture
def recording(monkeypatch):
    """``recording`` registered as a model backend for the test (the registry is
    restored afterwards)."""
    monkeypatch.setattr(MODEL_BACKENDS, "_entries", dict(MODEL_BACKENDS._entries))
    monkeypatch.setattr(RecordingBackend, "calls", [])
    MODEL_BACKENDS.register("recording", RecordingBackend)
    return RecordingBackend


@pytest.fixture
def config(repo_root) -> dict:
    """A fresh copy of the shipped config.yaml (tests may edit it)."""
    return yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))


def test_a_registered_backend_runs_the_decode_step(tmp_path, tiny_model_dir, recording):
    data = translation_data(tmp_path, ["a", "b", "c", "d", "e"])
    settings = decode_settings(tiny_model_dir, template=TEMPLATES[0])
    decode(data, tmp_path / "hf.parquet", settings, COMPUTE)
    on_recording = {**settings, "model": {**settings["model"], "backend": "recording"}}
    decode(data, tmp_path / "recording.parquet", on_recording, COMPUTE)

    assert recording.calls == ["load", "encode", "generate", "provenance"]
    pd.testing.assert_frame_equal(
        read_parquet(tmp_path / "recording.parquet"),
        read_parquet(tmp_path / "hf.parquet"),
    )
    provenance = read_provenance(tmp_path / "recording.parquet")
    assert provenance["model"]["backend"] == "recording"
    assert provenance["requested_model"]["backend"] == "recording"
    assert "backend" not in read_provenance(tmp_path / "hf.parquet")["model"]


def test_an_unknown_backend_names_the_registered_ones():
    with pytest.raises(
        InputError, match="unknown model backend 'nope'; registered: hf"
    ):
        model_backend({"name": "m", "path": "p", "backend": "nope"})
    assert model_backend({"name": "m", "path": "p"}) is HFBackend


def test_hf_generation_from_ids_is_the_decode_of_the_texts(tiny_model_dir):
    model = HFBackend.load({"name": "tiny", "path": str(tiny_model_dir)}, device="cpu")
    prompts = ["English: The cat sleeps.\nPortuguese:", "English: A dog.\nPortuguese:"]
    options = {"max_new_tokens": 4, "stop_strings": ("\n",), "progress": False}
    assert model.generate(model.encode(prompts), **options) == generate_greedy(
        model.model, model.tokenizer, prompts, **options
    )
    assert model.encode([]) == [] and model.generate([], **options) == []


def test_hf_chat_rendering_gives_the_chat_texts_and_their_tokens(tmp_path):
    directory = build_tiny_causal_lm(
        tmp_path / "chat", ["Translate: the cat. O gato."] * 4, chat_template=True
    )
    model = HFBackend.load({"name": "chat", "path": str(directory)}, device="cpu")
    prompts = ["Translate: the cat\n", "Translate: the dog\n"]
    texts, ids = model.render_chat(prompts, system="Be brief.")
    assert texts == chat_prompts(model.tokenizer, prompts, system="Be brief.")[0]
    # The template holds BOS and the like: its text is encoded as it is.
    assert ids == model.tokenizer(texts, add_special_tokens=False)["input_ids"]


def test_a_backend_without_teacher_forcing_is_refused_by_the_decision_space(
    tiny_model_dir, recording
):
    model = recording.load({"name": "tiny", "path": str(tiny_model_dir)}, device="cpu")
    hf = model.inner
    with pytest.raises(InputError, match="without teacher-forced logits") as error:
        teacher_forced_positions(hf, model, [[1, 2]], [[1, 2]], [[3]])
    assert error.value.field == "backend"
    with pytest.raises(NotImplementedError, match="no teacher-forced logits"):
        model.teacher_forced_logits([[1, 2]], [[3]])


def _schema_with_backend(tmp_path, name: str):
    """The config schema with ``name`` added to the model backends (what a new
    backend adds to the schema)."""
    schema = load_schema()
    models = schema["properties"]["models"]["additionalProperties"]
    models["properties"]["backend"]["enum"].append(name)
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema), encoding="utf-8")
    return path


def test_the_config_check_refuses_a_backend_that_cannot_teacher_force_for_the_decision_space(
    tmp_path, config, recording
):
    schema = _schema_with_backend(tmp_path, "recording")
    validate_config(config, schema)

    foundation = copy.deepcopy(config)
    foundation["models"]["gemma3-270m"]["backend"] = "recording"
    with pytest.raises(ConfigError) as error:
        validate_config(foundation, schema)
    message = str(error.value)
    assert (
        "models.gemma3-270m.backend: backend 'recording' gives no teacher-forced"
        in message
    )
    assert "families.gemma3-270m.foundation" in message
    assert message.endswith("backends that do: hf")

    # The trained SFT reference runs on its base's backend unless it names one.
    sft = copy.deepcopy(foundation)
    sft["models"]["gemma3-270m-alpaca"]["backend"] = "hf"
    with pytest.raises(ConfigError, match=r"families\.gemma3-270m\.foundation"):
        validate_config(sft, schema)
    sft["models"]["gemma3-270m"]["backend"] = "hf"
    sft["models"]["gemma3-270m-alpaca"]["backend"] = "recording"
    with pytest.raises(
        ConfigError,
        match=r"models\.gemma3-270m-alpaca\.backend: .*families\.gemma3-270m\.sft_reference",
    ):
        validate_config(sft, schema)

    # Without the decision space any backend does.
    del foundation["analysis"]["decision_space"]
    validate_config(foundation, schema)


def test_the_plan_names_a_backend_only_when_it_is_not_the_default(config):
    base, trained = "gemma3-270m", "gemma3-270m-alpaca"
    default = Plan(copy.deepcopy(config))
    assert "backend" not in default.models.settings(base)
    assert "backend" not in default.models.settings(trained)

    explicit = copy.deepcopy(config)
    explicit["models"][base]["backend"] = DEFAULT_BACKEND
    for model in (base, trained):
        # The same job parameters: nothing reruns.
        assert Plan(explicit).models.settings(model) == default.models.settings(model)

    other = copy.deepcopy(config)
    other["models"][base]["backend"] = "other"
    assert Plan(other).models.settings(base) == {
        **default.models.settings(base),
        "backend": "other",
    }
    # A trained model decodes on its base's backend, unless it names its own.
    assert Plan(other).models.settings(trained)["backend"] == "other"
    other["models"][trained]["backend"] = DEFAULT_BACKEND
    assert Plan(other).models.settings(trained) == default.models.settings(trained)
