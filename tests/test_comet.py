"""COMET in an interpreter of its own (prettyflow.metrics.comet).

(a) Availability: each missing piece gives a reason that says how to provide it,
decided within 2 s without loading anything.
(b) The real integration: a tiny untrained COMET checkpoint (a 2-layer random BERT
encoder, a WordPiece tokenizer, a RegressionMetric state_dict), built by the COMET
interpreter ``.venv-comet`` (``make comet-env``), scored through ``score_comet``
from this interpreter, i.e. through the worker subprocess.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from prettyflow.errors import InputError
from prettyflow.metrics import comet as comet_metric
from prettyflow.metrics.comet import (
    CHECKPOINT_FIELD,
    CometError,
    comet_availability,
    score_comet,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = REPO_ROOT / "src"
COMET_PYTHON = REPO_ROOT / ".venv-comet" / "bin" / "python"
LIMIT_SECONDS = 2.0

SOURCES = ["The cat sits on the mat.", "A dog runs in the park.", "We read books."]
HYPOTHESES = ["O gato está no tapete.", "Um cão corre no parque.", "Lemos livros."]
REFERENCES = [
    "O gato está sentado no tapete.",
    "Um cão corre no parque.",
    "Nós lemos livros em casa.",
]


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


@pytest.fixture
def fake_comet_python(tmp_path) -> Path:
    """A venv layout whose site-packages holds a ``comet`` package (never run)."""
    prefix = tmp_path / "comet-env"
    (prefix / "bin").mkdir(parents=True)
    python = prefix / "bin" / "python"
    python.write_text("")
    package = prefix / "lib" / "python3.11" / "site-packages" / "comet"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    return python


@pytest.fixture
def offline_hub(tmp_path, monkeypatch) -> Path:
    """An offline hub with an empty cache; ``comet`` not importable here."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(comet_metric, "_comet_importable_here", lambda: False)
    return cache


def _fake_checkpoint(root: Path, encoder: str) -> Path:
    (root / "checkpoints").mkdir(parents=True)
    (root / "checkpoints" / "model.ckpt").write_bytes(b"not a real checkpoint")
    (root / "hparams.yaml").write_text(
        f"class_identifier: regression_metric\npretrained_model: {encoder}\n"
    )
    return root


def _cache_snapshot(cache: Path, repo_id: str, source: Path) -> Path:
    """Lay ``source`` out in the HF cache as huggingface_hub does (refs + snapshot)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    (snapshot / "checkpoints").mkdir(parents=True)
    shutil.copy(source / "hparams.yaml", snapshot / "hparams.yaml")
    shutil.copy(
        source / "checkpoints" / "model.ckpt", snapshot / "checkpoints" / "model.ckpt"
    )
    return snapshot


# --------------------------------------------------------------- availability
def test_offline_hub_id_not_cached(offline_hub, fake_comet_python):
    reason, seconds = _timed(
        comet_availability, "Unbabel/wmt22-comet-da", fake_comet_python
    )
    assert seconds < LIMIT_SECONDS
    assert "not in the Hugging Face cache (HF_HUB_CACHE)" in reason
    # Shown in tables and figures: no machine path.
    assert str(offline_hub) not in reason and not re.search(r"[\s(]/", reason)
    assert CHECKPOINT_FIELD in reason and "internet" in reason


def test_unresolvable_hub_host_counts_as_offline(
    offline_hub, fake_comet_python, monkeypatch
):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.prettyflow.invalid")
    reason, seconds = _timed(
        comet_availability, "Unbabel/wmt22-comet-da", fake_comet_python
    )
    assert seconds < LIMIT_SECONDS
    assert "hub is offline" in reason


def test_cached_hub_id_is_available_offline(offline_hub, fake_comet_python, tmp_path):
    encoder = tmp_path / "encoder"
    encoder.mkdir()
    source = _fake_checkpoint(tmp_path / "source", str(encoder))
    _cache_snapshot(offline_hub, "Unbabel/wmt22-comet-da", source)
    reason, seconds = _timed(
        comet_availability, "Unbabel/wmt22-comet-da", fake_comet_python
    )
    assert seconds < LIMIT_SECONDS
    assert reason is None


def test_cached_checkpoint_whose_encoder_is_not_cached(
    offline_hub, fake_comet_python, tmp_path
):
    source = _fake_checkpoint(tmp_path / "source", "xlm-roberta-large")
    _cache_snapshot(offline_hub, "Unbabel/wmt22-comet-da", source)
    reason = comet_availability("Unbabel/wmt22-comet-da", fake_comet_python)
    assert "'xlm-roberta-large'" in reason and "not in the cache" in reason


def test_missing_local_folder(offline_hub, fake_comet_python, tmp_path):
    missing = tmp_path / "no-such-checkpoint"
    reason, seconds = _timed(comet_availability, str(missing), fake_comet_python)
    assert seconds < LIMIT_SECONDS
    assert f"{missing} does not exist" in reason
    assert CHECKPOINT_FIELD in reason


def test_local_folder_without_model_ckpt(offline_hub, fake_comet_python, tmp_path):
    folder = tmp_path / "half-checkpoint"
    folder.mkdir()
    (folder / "hparams.yaml").write_text("class_identifier: regression_metric\n")
    reason = comet_availability(str(folder), fake_comet_python)
    assert "has no checkpoints/model.ckpt" in reason


def test_missing_interpreter(offline_hub, tmp_path):
    checkpoint = _fake_checkpoint(tmp_path / "ckpt", str(tmp_path))
    missing = tmp_path / "nowhere" / "bin" / "python"
    reason, seconds = _timed(comet_availability, str(checkpoint), missing)
    assert seconds < LIMIT_SECONDS
    assert "no COMET interpreter" in reason and str(missing) in reason
    assert "make comet-env" in reason


def test_interpreter_without_comet(offline_hub, fake_comet_python, tmp_path):
    shutil.rmtree(fake_comet_python.parents[1] / "lib" / "python3.11" / "site-packages")
    (fake_comet_python.parents[1] / "lib" / "python3.11" / "site-packages").mkdir()
    checkpoint = _fake_checkpoint(tmp_path / "ckpt", str(tmp_path))
    reason = comet_availability(str(checkpoint), fake_comet_python)
    assert "has no unbabel-comet" in reason and "make comet-env" in reason


def test_score_comet_not_computed_has_the_corpus_entry_shape(offline_hub):
    from prettyflow.metrics.translation import MetricResult

    (per_sample, entry), seconds = _timed(
        score_comet,
        SOURCES,
        HYPOTHESES,
        REFERENCES,
        checkpoint="Unbabel/wmt22-comet-da",
        batch_size=8,
        gpus=0,
        python=offline_hub / "missing-python",
    )
    assert seconds < LIMIT_SECONDS
    assert per_sample is None
    assert set(entry) == set(MetricResult(None, None, None, "x").corpus_entry())
    assert entry["score"] is None and entry["signature"] is None
    assert entry["status"] == "not computed"
    assert "make comet-env" in entry["reason"]


def test_score_comet_rejects_unaligned_inputs():
    with pytest.raises(InputError, match="as many sources"):
        score_comet(SOURCES, HYPOTHESES[:2], REFERENCES, checkpoint="x", python="y")


def test_from_file_reads_the_comet_rule_output_in_data_order(tmp_path):
    import pandas as pd

    from prettyflow.io import write_parquet

    entry = {"score": 50.0, "signature": "model:x", "status": "ok", "reason": None}
    path = tmp_path / "system.comet.parquet"
    table = pd.DataFrame({"id": ["b", "a"], "comet": [40.0, 60.0]})
    write_parquet(table, path, {"step": "comet", "entry": entry})
    scoring = SimpleNamespace(
        data=pd.DataFrame({"id": ["a", "b"]}), inputs={"comet": str(path)}
    )
    per_sample, read_entry = comet_metric.from_file(scoring, {})
    assert list(per_sample.columns) == ["comet"]
    assert list(per_sample["comet"]) == [60.0, 40.0]
    assert read_entry == entry

    scoring.data = pd.DataFrame({"id": ["a", "c"]})
    with pytest.raises(InputError, match="no COMET score for ids"):
        comet_metric.from_file(scoring, {})


def _fake_worker_interpreter(prefix: Path, code: str) -> Path:
    """A COMET interpreter layout whose ``python`` is a script running ``code``
    in this interpreter (with this checkout's prettyflow), for the worker's
    arguments ``-m prettyflow.metrics.comet <request> <result>``."""
    python = prefix / "bin" / "python"
    python.parent.mkdir(parents=True)
    site = prefix / "lib" / "python3.11" / "site-packages" / "comet"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("")
    header = (
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(SOURCE_DIR)!r})\n"
    )
    python.write_text(header + textwrap.dedent(code))
    python.chmod(0o755)
    return python


def test_worker_failure_names_its_exception_past_a_flood_of_warnings(
    offline_hub, tmp_path
):
    """The worker's exception reaches the caller from its error report, even when
    its stderr ends in warnings (Lightning's weights_only warning once pushed the
    traceback out of the stderr tail)."""
    python = _fake_worker_interpreter(
        tmp_path / "comet-env",
        """
        class NoTorch:  # a COMET interpreter whose torch is missing
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "torch":
                    raise ModuleNotFoundError("torch is not in this environment")

        sys.meta_path.insert(0, NoTorch())
        from prettyflow.metrics.comet import main

        try:
            main(sys.argv[3:])
        except Exception:
            sys.stderr.write("UserWarning: weights_only " * 2000 + "\\n")
            sys.exit(1)
        """,
    )
    checkpoint = _fake_checkpoint(tmp_path / "ckpt", str(tmp_path))
    with pytest.raises(CometError) as error:
        score_comet(
            SOURCES, HYPOTHESES, REFERENCES, checkpoint=str(checkpoint), python=python
        )
    assert error.value.error_type == "ModuleNotFoundError"
    assert error.value.error_message == "torch is not in this environment"
    message = str(error.value)
    assert message.startswith(
        "COMET worker failed with ModuleNotFoundError: torch is not in this "
        "environment (exit code 1, "
    )
    assert "worker traceback:\nTraceback (most recent call last):" in message
    assert "in predict" in message  # the frame that raised, from the report
    assert message.endswith("UserWarning: weights_only \n")  # stderr tail last


def test_worker_failure_without_an_error_report(offline_hub, tmp_path):
    python = _fake_worker_interpreter(
        tmp_path / "comet-env",
        """
        sys.stderr.write("Killed\\n")
        sys.exit(137)
        """,
    )
    checkpoint = _fake_checkpoint(tmp_path / "ckpt", str(tmp_path))
    with pytest.raises(CometError) as error:
        score_comet(
            SOURCES, HYPOTHESES, REFERENCES, checkpoint=str(checkpoint), python=python
        )
    assert error.value.error_type is None and error.value.error_message is None
    assert "without an error report (exit code 137, " in str(error.value)
    assert str(error.value).endswith("stderr tail:\nKilled\n")


# ------------------------------------------------------- real integration
needs_comet_env = pytest.mark.skipif(
    not COMET_PYTHON.is_file(),
    reason=f"no COMET interpreter at {COMET_PYTHON}: run `make comet-env`",
)


def _comet_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(HF_HUB_OFFLINE="1", **extra)
    return env


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Built by the COMET interpreter: comet is importable there, not here."""
    folder = tmp_path_factory.mktemp("comet") / "tiny-comet"
    result = subprocess.run(
        [
            str(COMET_PYTHON),
            str(Path(__file__).with_name("tiny_comet.py")),
            str(folder),
        ],
        capture_output=True,
        text=True,
        env=_comet_env(),
        cwd=folder.parent,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (folder / "checkpoints" / "model.ckpt").is_file()
    assert (folder / "hparams.yaml").is_file()
    return folder


@pytest.fixture(scope="module")
def comet_version() -> str:
    result = subprocess.run(
        [
            str(COMET_PYTHON),
            "-c",
            "import importlib.metadata as m; print(m.version('unbabel-comet'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _score_tiny(checkpoint: str) -> tuple[list[float] | None, dict]:
    return score_comet(
        SOURCES,
        HYPOTHESES,
        REFERENCES,
        checkpoint=checkpoint,
        batch_size=2,
        gpus=0,
        python=COMET_PYTHON,
    )


@pytest.fixture(scope="module")
def tiny_scores(tiny_checkpoint) -> tuple[list[float] | None, dict]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        return _score_tiny(str(tiny_checkpoint))


@needs_comet_env
def test_score_comet_with_a_tiny_checkpoint(
    tiny_checkpoint, tiny_scores, comet_version, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert comet_metric._comet_importable_here() is False  # the subprocess path
    assert comet_availability(str(tiny_checkpoint), COMET_PYTHON) is None
    ckpt_sha256 = hashlib.sha256(
        (tiny_checkpoint / "checkpoints" / "model.ckpt").read_bytes()
    ).hexdigest()

    per_sample, entry = tiny_scores
    print(f"tiny COMET: {entry['score']:.4f} per sample {per_sample}")
    assert len(per_sample) == len(HYPOTHESES)
    assert all(math.isfinite(score) for score in per_sample)
    assert entry["status"] == "ok" and entry["reason"] is None
    assert entry["score"] == pytest.approx(sum(per_sample) / len(per_sample))
    assert ckpt_sha256 in entry["signature"]
    assert f"unbabel-comet:{comet_version}" in entry["signature"]
    assert "model:tiny-comet" in entry["signature"]

    # Again, in-process in the COMET interpreter (where `comet` is importable):
    # the same scores, so the run is deterministic and both paths agree.
    code = (
        "import json, sys; from prettyflow.metrics import comet as c; "
        "assert c._comet_importable_here(); "
        f"r = c.score_comet({SOURCES!r}, {HYPOTHESES!r}, {REFERENCES!r}, "
        f"checkpoint={str(tiny_checkpoint)!r}, batch_size=2, gpus=0); "
        "print(json.dumps(r))"
    )
    result = subprocess.run(
        [str(COMET_PYTHON), "-c", code],
        capture_output=True,
        text=True,
        env=_comet_env(),
        cwd=tiny_checkpoint.parent,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    in_process = json.loads(result.stdout.strip().splitlines()[-1])
    assert in_process == [per_sample, entry]


@needs_comet_env
def test_score_comet_from_the_hub_cache_offline(
    tiny_checkpoint, tiny_scores, tmp_path, monkeypatch
):
    """A hub id goes through comet.download_model and the HF cache, offline."""
    cache = tmp_path / "hub"
    _cache_snapshot(cache, "prettyflow/tiny-comet", tiny_checkpoint)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    per_sample, entry = _score_tiny("prettyflow/tiny-comet")
    assert entry["status"] == "ok"
    assert per_sample == pytest.approx(tiny_scores[0])
    assert entry["signature"].startswith("model:prettyflow/tiny-comet|sha256:")
    assert (
        entry["signature"].split("|")[1:] == tiny_scores[1]["signature"].split("|")[1:]
    )


@needs_comet_env
def test_worker_failure_names_its_exception(tiny_checkpoint, tmp_path):
    """A checkpoint that is not one: the caller's error names the exception that
    stopped the worker, whatever the worker's stderr ends with."""
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    shutil.copy(tiny_checkpoint / "hparams.yaml", broken / "hparams.yaml")
    (broken / "checkpoints" / "model.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CometError) as error:
        score_comet(
            SOURCES, HYPOTHESES, REFERENCES, checkpoint=str(broken), python=COMET_PYTHON
        )
    # torch.load (weights_only, the default since torch 2.6) refuses the bytes.
    assert error.value.error_type == "_pickle.UnpicklingError"
    assert "Weights only load failed" in error.value.error_message
    assert str(error.value).startswith(
        f"COMET worker failed with {error.value.error_type}: "
        f"{error.value.error_message} (exit code 1, "
    )
    assert "worker traceback:\nTraceback (most recent call last):" in str(error.value)
