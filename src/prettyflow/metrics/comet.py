"""COMET (unbabel-comet 2.2.7) as a metric that runs in an interpreter of its own.

unbabel-comet pins ``transformers<5``, ``numpy<2`` and ``huggingface-hub<1``, so it
cannot share the main environment (transformers 5). It lives in ``.venv-comet``
(``make comet-env``) or the conda environment ``envs/comet.yaml``, and the main
workflow reaches it through :func:`score_comet`:

- :func:`comet_availability` decides within about a second, without network access
  or heavy imports, whether COMET can be computed at all, and if not, says why and
  how to provide the missing piece (a checkpoint, the COMET interpreter);
- when ``comet`` is importable in the current interpreter, the scores are computed
  in-process; otherwise the worker of this module runs under the configured
  interpreter, ``python -m prettyflow.metrics.comet <request.json> <result.parquet>``,
  with the inputs and outputs passed through temporary files; a worker that fails
  writes its exception (type, message, traceback) beside the result file, and the
  caller's :class:`CometError` names it.

This module is imported in both environments, so at module level it imports only
the standard library, pandas and pyarrow; torch and comet are imported lazily.

Scores are on the paper's 0-100 scale (COMET's output x 100). The signature names
the checkpoint, the SHA-256 of its ``checkpoints/model.ckpt`` and the
unbabel-comet version, so that a score never silently comes from another model.
Inference is deterministic: evaluation mode (no dropout), fixed seeds, no MC
dropout.

Long because COMET runs in an interpreter of its own: the availability checks, the
caller's side of the subprocess protocol and the worker's side live together so that
they cannot disagree.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prettyflow.hub import cached_snapshot, hub_is_offline
from prettyflow.paths import display_path

DEFAULT_CHECKPOINT = "Unbabel/wmt22-comet-da"
# Relative to the working directory (the workflow's directory under Snakemake).
DEFAULT_PYTHON = ".venv-comet/bin/python"
CHECKPOINT_FIELD = "metrics.comet.checkpoint"
PYTHON_FIELD = "metrics.comet.python"
CHECKPOINT_FILE = Path("checkpoints") / "model.ckpt"
RESULT_KEY = b"prettyflow.comet"
# The per-sample file the score step reads (steps.score.score_comet writes it).
RESULT_COLUMNS = ("id", "comet")
SCALE = 100.0
DEFAULT_SEED = 0
STDERR_TAIL = 3000
ERROR_REPORT_SUFFIX = ".error.json"


class CometError(RuntimeError):
    """The COMET worker failed.

    ``error_type`` and ``error_message`` are the exception that stopped the worker,
    from the report it writes (:func:`worker_error_path`); both are None when it
    wrote none (killed, timed out, or it could not start). The message names them,
    then the worker's traceback and the tail of its stderr.
    """

    def __init__(
        self,
        message: str,
        error_type: str | None = None,
        error_message: str | None = None,
    ):
        super().__init__(message)
        self.error_type = error_type
        self.error_message = error_message


# --------------------------------------------------------------- availability
def is_local_checkpoint(checkpoint: str | Path) -> bool:
    """A file system path (rather than a hub id such as ``Unbabel/wmt22-comet-da``)."""
    text = str(checkpoint)
    return (
        text.startswith(("/", ".", "~"))
        or text.count("/") > 1
        or text.endswith(".ckpt")
        or Path(text).expanduser().is_dir()
    )


def checkpoint_root(checkpoint: str | Path) -> Path:
    """The folder holding ``hparams.yaml`` and ``checkpoints/model.ckpt``."""
    path = Path(checkpoint).expanduser()
    return path.parents[1] if path.suffix == ".ckpt" else path


def _comet_importable_here() -> bool:
    try:
        return importlib.util.find_spec("comet") is not None
    except (ImportError, ValueError):
        return False


def comet_python(python: str | Path | None = None) -> Path:
    """The configured COMET interpreter (default ``.venv-comet/bin/python``)."""
    return Path(python or DEFAULT_PYTHON).expanduser()


def _interpreter_reason(python: str | Path | None) -> str | None:
    if _comet_importable_here():
        return None
    interpreter = comet_python(python)
    remedy = (
        "run `make comet-env` (creates .venv-comet), or create the conda "
        f"environment envs/comet.yaml and set {PYTHON_FIELD} to its python"
    )
    if not interpreter.is_file():
        return (
            f"no COMET interpreter: `comet` is not importable here and {interpreter} "
            f"does not exist; {remedy}"
        )
    # A venv or conda layout: look for comet in its site-packages without running it.
    prefix = interpreter.absolute().parent.parent
    site_dirs = list(prefix.glob("lib/python3*/site-packages"))
    if site_dirs and not any(
        (d / "comet" / "__init__.py").is_file() for d in site_dirs
    ):
        return f"{interpreter} has no unbabel-comet installed; {remedy}"
    return None


def _encoder_reason(root: Path, offline: bool | None) -> str | None:
    """The encoder that ``hparams.yaml`` names must load (its tokenizer and config)."""
    import yaml

    hparams_file = root / "hparams.yaml"
    if not hparams_file.is_file():
        return (
            f"COMET checkpoint {display_path(root)} has no hparams.yaml (load_from_checkpoint needs "
            f"it beside checkpoints/); set {CHECKPOINT_FIELD} to a complete COMET "
            "checkpoint folder"
        )
    try:
        hparams = yaml.safe_load(hparams_file.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as error:
        return f"{display_path(hparams_file)} is not UTF-8 text ({error.reason} at byte {error.start})"
    except (OSError, yaml.YAMLError) as error:
        return f"{display_path(hparams_file)} is not valid YAML ({error})"
    if not isinstance(hparams, dict):
        return (
            f"{display_path(hparams_file)} holds a YAML {type(hparams).__name__}, expected a mapping "
            "of COMET hyper-parameters"
        )
    encoder = hparams.get("pretrained_model")
    if not encoder:
        return f"{display_path(hparams_file)} names no pretrained_model (the COMET encoder)"
    if not isinstance(encoder, str):
        return (
            f"{display_path(hparams_file)}: pretrained_model is {encoder!r}, expected a hub id or a "
            "folder"
        )
    if is_local_checkpoint(encoder):
        if not Path(encoder).expanduser().is_dir():
            return (
                f"the encoder folder {encoder} named by {display_path(hparams_file)} does not exist; "
                "put the encoder (tokenizer and config) there or fix pretrained_model"
            )
        return None
    if cached_snapshot(encoder, "config.json") is not None:
        return None
    if hub_is_offline() if offline is None else offline:
        return (
            f"the Hugging Face hub is offline and the encoder {encoder!r} named by "
            f"{display_path(hparams_file)} is not in the cache (HF_HUB_CACHE); run once with "
            f"internet (e.g. `hf download {encoder}`), or point pretrained_model at a "
            "local copy"
        )
    return None


def _checkpoint_reason(checkpoint: str, offline: bool | None) -> str | None:
    if is_local_checkpoint(checkpoint):
        root = checkpoint_root(checkpoint)
        if not root.is_dir():
            state = "is not a folder" if root.exists() else "does not exist"
            return (
                f"COMET checkpoint folder {display_path(root)} {state}; set "
                f"{CHECKPOINT_FIELD} to a local COMET checkpoint folder (with "
                f"{CHECKPOINT_FILE} and hparams.yaml) or to a hub id such as "
                f"{DEFAULT_CHECKPOINT!r} and run once with internet"
            )
        if not (root / CHECKPOINT_FILE).is_file():
            return (
                f"COMET checkpoint folder {display_path(root)} has no {CHECKPOINT_FILE}; set "
                f"{CHECKPOINT_FIELD} to a complete COMET checkpoint folder"
            )
        return _encoder_reason(root, bool(offline) if offline is not None else False)
    snapshot = cached_snapshot(checkpoint, CHECKPOINT_FILE)
    if snapshot is not None:
        return _encoder_reason(
            snapshot, hub_is_offline() if offline is None else offline
        )
    if hub_is_offline() if offline is None else offline:
        return (
            f"COMET checkpoint {checkpoint!r} is not in the Hugging Face cache "
            f"(HF_HUB_CACHE) and the hub is offline; set {CHECKPOINT_FIELD} to a "
            "local checkpoint folder, or run once with internet so that it is "
            f"downloaded to the cache (e.g. `hf download {checkpoint}`)"
        )
    return None  # downloaded on first use


def comet_availability(
    checkpoint: str | Path | None = DEFAULT_CHECKPOINT,
    python: str | Path | None = None,
) -> str | None:
    """Why COMET cannot be computed (saying how to fix it), or None when it can.

    Decided from the file system and one bounded host-name lookup: no model is
    loaded, no interpreter is started. ``checkpoint``: a local COMET checkpoint
    folder (or its ``model.ckpt``) or a hub id; None means
    :data:`DEFAULT_CHECKPOINT`. ``python`` is the COMET interpreter, used
    when ``comet`` is not importable in the current one (default
    :data:`DEFAULT_PYTHON`).
    """
    checkpoint = str(checkpoint or DEFAULT_CHECKPOINT)
    return _interpreter_reason(python) or _checkpoint_reason(checkpoint, None)


# --------------------------------------------------------------------- scoring
def not_computed(reason: str) -> dict[str, Any]:
    """The corpus entry of a metric that was not computed."""
    return {
        "score": None,
        "signature": None,
        "status": "not computed",
        "reason": reason,
    }


def sha256_of_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def comet_signature(name: str, ckpt_sha256: str, comet_version: str) -> str:
    return f"model:{name}|sha256:{ckpt_sha256}|unbabel-comet:{comet_version}|scale:100"


def score_comet(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[str],
    *,
    checkpoint: str | Path | None = DEFAULT_CHECKPOINT,
    batch_size: int = 8,
    gpus: int = 0,
    python: str | Path | None = None,
    seed: int = DEFAULT_SEED,
    timeout: float | None = None,
) -> tuple[list[float] | None, dict[str, Any]]:
    """Per-sample COMET scores (0-100) and the corpus entry of one system.

    The entry has the shape of
    :meth:`prettyflow.metrics.translation.MetricResult.corpus_entry`:
    ``{"score", "signature", "status", "reason"}``. When :func:`comet_availability`
    gives a reason, returns ``(None, entry)`` with ``status == "not computed"`` at
    once. Otherwise scores in-process when ``comet`` is importable here, else in a
    subprocess of the COMET interpreter ``python``; a worker failure raises
    :class:`CometError` naming the worker's exception.
    """
    from prettyflow.errors import InputError

    sources, hypotheses, references = list(sources), list(hypotheses), list(references)
    if not len(sources) == len(hypotheses) == len(references):
        raise InputError(
            f"COMET needs as many sources ({len(sources)}), hypotheses "
            f"({len(hypotheses)}) and references ({len(references)})"
        )
    reason = comet_availability(checkpoint, python)
    if reason is not None:
        return None, not_computed(reason)
    if not hypotheses:
        return [], not_computed("no samples to score")
    checkpoint = str(checkpoint or DEFAULT_CHECKPOINT)
    if is_local_checkpoint(checkpoint):
        checkpoint = str(checkpoint_root(checkpoint).resolve())
    request = {
        "checkpoint": checkpoint,
        "sources": sources,
        "hypotheses": hypotheses,
        "references": references,
        "batch_size": int(batch_size),
        "gpus": int(gpus),
        "seed": int(seed),
        "local_files_only": hub_is_offline(),
    }
    if _comet_importable_here():
        scores, record = predict(request)
    else:
        scores, record = _run_worker(request, comet_python(python), timeout)
    entry = {
        "score": record["score"],
        "signature": record["signature"],
        "status": "ok",
        "reason": None,
    }
    return scores, entry


def _run_worker(
    request: Mapping[str, Any], python: Path, timeout: float | None
) -> tuple[list[float], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="prettyflow-comet-") as tmp:
        request_path, result_path = (
            Path(tmp) / "request.json",
            Path(tmp) / "result.parquet",
        )
        request_path.write_text(json.dumps(request), encoding="utf-8")
        env = dict(os.environ)
        if request["local_files_only"]:
            env["HF_HUB_OFFLINE"] = "1"
        # The interpreter's own packages only: nothing from the caller's environment.
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
        command = [
            str(python.absolute()),
            "-m",
            "prettyflow.metrics.comet",
            str(request_path),
            str(result_path),
        ]
        try:
            completed = subprocess.run(
                command,
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as error:
            raise CometError(
                f"COMET worker ({python}) did not finish within {timeout} s; stderr "
                f"tail:\n{_tail(error.stderr)}"
            ) from error
        if completed.returncode != 0 or not result_path.is_file():
            raise _worker_failure(
                read_error_report(worker_error_path(result_path)),
                f"exit code {completed.returncode}, {' '.join(command[:3])} with "
                f"checkpoint {request['checkpoint']!r}",
                completed.stderr,
            )
        return read_result(result_path)


def _worker_failure(
    report: Mapping[str, str] | None, context: str, stderr: str | None
) -> CometError:
    if report is None:
        return CometError(
            f"COMET worker failed without an error report ({context}): it was "
            f"killed or could not start; stderr tail:\n{_tail(stderr)}"
        )
    return CometError(
        f"COMET worker failed with {report['type']}: {report['message']} "
        f"({context}); worker traceback:\n{_tail(report['traceback'])}\n"
        f"stderr tail:\n{_tail(stderr)}",
        error_type=report["type"],
        error_message=report["message"],
    )


def _tail(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return (text or "")[-STDERR_TAIL:]


def worker_error_path(result_path: str | Path) -> Path:
    """The worker's error report, beside its result file."""
    path = Path(result_path)
    return path.with_name(path.name + ERROR_REPORT_SUFFIX)


def exception_name(error: BaseException) -> str:
    """``ValueError``, ``_pickle.UnpicklingError``: the module unless builtins."""
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def write_error_report(error: BaseException, path: str | Path) -> None:
    """The exception that stops the worker, as JSON: type, message, traceback."""
    report = {
        "type": exception_name(error),
        "message": str(error),
        "traceback": "".join(traceback.format_exception(error)),
    }
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(report), encoding="utf-8")
    os.replace(partial, path)


def read_error_report(path: Path) -> dict[str, str] | None:
    """The worker's error report, or None when there is no complete one."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    keys = ("type", "message", "traceback")
    if not isinstance(report, dict) or not all(
        isinstance(report.get(key), str) for key in keys
    ):
        return None
    return {key: report[key] for key in keys}


def write_result(
    scores: Sequence[float], record: Mapping[str, Any], path: str | Path
) -> None:
    """Per-sample scores (column ``comet``) with ``record`` in the file's metadata."""
    table = pa.Table.from_pandas(
        pd.DataFrame({"comet": [float(s) for s in scores]}), preserve_index=False
    )
    metadata = dict(table.schema.metadata or {})
    metadata[RESULT_KEY] = json.dumps(record, sort_keys=True).encode()
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table.replace_schema_metadata(metadata), partial)
    os.replace(partial, path)


def read_result(path: str | Path) -> tuple[list[float], dict[str, Any]]:
    table = pq.read_table(path)
    record = json.loads((table.schema.metadata or {})[RESULT_KEY])
    return [float(s) for s in table.column("comet").to_pylist()], record


def check_per_sample_file(table: pd.DataFrame, path: str | Path) -> None:
    """The COMET per-sample file at ``path`` has its columns, each id once, and
    numbers (or NaN: not computed) as scores; errors name the file and the column."""
    from prettyflow.errors import InputError

    missing = [column for column in RESULT_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(
            f"no column(s) {', '.join(missing)}; a COMET per-sample file has "
            f"{', '.join(RESULT_COLUMNS)} (rule score_comet writes it)",
            path=path,
            field=missing[0],
        )
    repeated = table["id"][table["id"].duplicated()]
    if len(repeated):
        raise InputError(
            f"id {repeated.iloc[0]!r} appears more than once (row "
            f"{int(repeated.index[0]) + 1}); a COMET per-sample file has one score "
            "per sample",
            path=path,
            field="id",
        )
    scores = pd.to_numeric(table["comet"], errors="coerce")
    bad = table["comet"][scores.isna() & table["comet"].notna()]
    if len(bad):
        raise InputError(
            f"expected a number, got {bad.iloc[0]!r} (row {int(bad.index[0]) + 1})",
            path=path,
            field="comet",
        )


def from_file(scoring: Any, settings: Mapping[str, Any] | None = None):
    """Registry scorer of ``comet``: the per-sample file the COMET rule wrote.

    ``scoring.inputs["comet"]`` is a Parquet file with columns ``id`` and ``comet``
    and the corpus entry in its provenance (``{"entry": ...}``), as written by the
    step that calls :func:`score_comet` in the COMET environment. Returns the scores
    in the order of ``scoring.data["id"]`` and that entry.
    """
    from prettyflow.errors import InputError
    from prettyflow.io import read_parquet, read_provenance

    path = (scoring.inputs or {}).get("comet")
    if path is None:
        raise InputError("no COMET per-sample file given", field="inputs.comet")
    table = read_parquet(path, "COMET per-sample file")
    check_per_sample_file(table, path)
    entry = read_provenance(path).get("entry")
    if not isinstance(entry, Mapping) or "score" not in entry:
        raise InputError("no COMET corpus entry in the file's provenance", path=path)
    indexed = table.set_index("id")
    ids = list(scoring.data["id"])
    missing = [sample_id for sample_id in ids if sample_id not in indexed.index]
    if missing:
        raise InputError(f"no COMET score for ids {missing[:5]}", path=path, field="id")
    scores = [float(score) for score in indexed.loc[ids, "comet"]]
    return pd.DataFrame({"comet": scores}), dict(entry)


# --------------------------------------------------------- worker (COMET env)
def resolve_checkpoint_file(checkpoint: str, local_files_only: bool) -> Path:
    """``checkpoints/model.ckpt`` of a local folder, or of a hub id via the HF cache."""
    if is_local_checkpoint(checkpoint):
        return checkpoint_root(checkpoint) / CHECKPOINT_FILE
    from comet import download_model

    # The Hugging Face cache (saving_directory=None): offline, a cached copy loads.
    return Path(download_model(checkpoint, local_files_only=local_files_only))


def predict(request: Mapping[str, Any]) -> tuple[list[float], dict[str, Any]]:
    """Load the checkpoint and score; needs ``comet`` (the COMET environment)."""
    import random
    from importlib import metadata

    import numpy as np
    import torch

    seed = int(request.get("seed", DEFAULT_SEED))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    local_files_only = bool(request.get("local_files_only", False))
    # Lightning and COMET print to stdout; the caller reads only the result file.
    with contextlib.redirect_stdout(sys.stderr):
        import comet

        ckpt = resolve_checkpoint_file(str(request["checkpoint"]), local_files_only)
        model = comet.load_from_checkpoint(str(ckpt), local_files_only=local_files_only)
        model.eval()
        samples = [
            {"src": src, "mt": mt, "ref": ref}
            for src, mt, ref in zip(
                request["sources"], request["hypotheses"], request["references"]
            )
        ]
        gpus = int(request.get("gpus", 0))
        with torch.inference_mode():
            output = model.predict(
                samples,
                batch_size=int(request.get("batch_size", 8)),
                gpus=gpus,
                progress_bar=False,
                num_workers=0,
            )
    scores = [float(score) * SCALE for score in output["scores"]]
    name = str(request["checkpoint"])
    if is_local_checkpoint(name):
        name = checkpoint_root(name).name
    version = metadata.version("unbabel-comet")
    digest = sha256_of_file(ckpt)
    record = {
        "score": sum(scores) / len(scores),
        "signature": comet_signature(name, digest, version),
        "checkpoint": name,
        "model_ckpt_sha256": digest,
        "comet_version": version,
        "batch_size": int(request.get("batch_size", 8)),
        "gpus": gpus,
        "seed": seed,
        "samples": len(scores),
    }
    return scores, record


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m prettyflow.metrics.comet <request.json> <result.parquet>``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(
            "usage: python -m prettyflow.metrics.comet <request.json> <result.parquet>",
            file=sys.stderr,
        )
        return 2
    try:
        request = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        scores, record = predict(request)
        write_result(scores, record, args[1])
    except Exception as error:
        # The caller names the exception from this report, not from stderr, whose
        # tail the warnings of Lightning and transformers can fill.
        with contextlib.suppress(OSError):
            write_error_report(error, worker_error_path(args[1]))
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
