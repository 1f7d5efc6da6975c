"""Configuration validation: JSON schema, then the cross-references a schema can't express.

Errors are one line naming the offending key (``tasks.translation.priors.refined.k``)
and what was expected, so a typo in config.yaml is found without reading a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from prettyflow.errors import is_integer

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


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
    if error.validator == "propertyNames":
        return f"{_key_path(error.absolute_path)}: key {error.instance!r} is not valid: {error.message}"
    return f"{_key_path(error.absolute_path)}: {error.message}"


def check_config_files(paths: Iterable[str | Path]) -> None:
    """No key repeated in a mapping of a config file (YAML keeps the last silently).

    Raises :class:`ConfigError` naming the file, the line and the key path.
    """
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
            root = yaml.compose(text)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise ConfigError(f"config file {path}: {error}") from error
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
    config: Mapping[str, Any], schema_path: str | Path = SCHEMA_PATH
) -> None:
    """Raise :class:`ConfigError` (one line, naming the key) when ``config`` is invalid."""
    _check_moved_keys(config)
    validator = jsonschema.Draft202012Validator(load_schema(schema_path))
    errors = list(validator.iter_errors(config))
    if errors:
        # The deepest error is the most specific one (e.g. a wrong type inside a task).
        error = jsonschema.exceptions.best_match(errors, key=_relevance)
        raise ConfigError(f"invalid config: {_describe(error)}")
    _check_references(config)


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
    """What the schema cannot say: names that must exist in another section or registry."""
    from prettyflow.benchmarks import BENCHMARKS
    from prettyflow.metrics import METRICS
    from prettyflow.prior_sources import PRIOR_SOURCES
    from prettyflow.refined import REFINED_BACKENDS
    from prettyflow.tasks import TASKS

    _check_start_up(config)
    _check_per_subset_settings(config)
    models = config["models"]
    languages = config["languages"]
    for name, spec in models.items():
        if "base" in spec and spec["base"] not in models:
            _fail(f"models.{name}.base", f"model {spec['base']!r} is not defined")
    _check_analyses(config)
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
        needs_dictionary = any(
            PRIOR_SOURCES.get(source).needs_pseudo_prior
            for source in settings["priors"]
        )
        for benchmark_name, entry in settings["benchmarks"].items():
            where = f"{key}.benchmarks.{benchmark_name}"
            benchmark = BENCHMARKS.get(benchmark_name)
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
                if needs_dictionary and subset not in config.get("dictionaries", {}):
                    _fail(
                        f"dictionaries.{subset}",
                        f"the dictionary prior of {key} needs a dictionary for "
                        f"{subset!r}",
                    )
        refined = settings["priors"].get("refined")
        if refined is not None:
            backend = REFINED_BACKENDS.get(refined["backend"])
            if task.refined_kind not in backend.kinds:
                _fail(
                    f"{key}.priors.refined.backend",
                    f"{refined['backend']!r} does not do {task.refined_kind}",
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
    from prettyflow.benchmarks import BENCHMARKS

    for name, settings in config["datasets"].items():
        if name not in BENCHMARKS.names():
            continue  # the schema names unknown benchmarks
        subsets = configured_subsets(config, name)
        if not subsets:
            continue  # a benchmark no task runs: its whole entry is unused
        for setting in BENCHMARKS.get(name).per_subset_settings:
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
    from prettyflow.metrics import METRICS

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
    """Each analysis run names a configured benchmark, and what it adds exists."""
    from prettyflow.prior_sources import PRIOR_SOURCES
    from prettyflow.tasks import TASKS
    from prettyflow.workflow import table_definition

    analysis = config.get("analysis") or {}
    control = analysis.get("control_priors") or {}
    for source in control.get("sources", {}):
        if source not in PRIOR_SOURCES.names() or not PRIOR_SOURCES.get(source).control:
            _fail(
                f"analysis.control_priors.sources.{source}",
                "not a control prior source; control sources: "
                + ", ".join(n for n, s in PRIOR_SOURCES.items() if s.control),
            )
    for kind in ("decision_space", "control_priors", "prior_tokens", "prompt_success"):
        for index, run in enumerate((analysis.get(kind) or {}).get("runs", [])):
            key = f"analysis.{kind}.runs[{index}]"
            task_settings = config["tasks"].get(run["task"])
            benchmarks = (task_settings or {}).get("benchmarks", {})
            if run["benchmark"] not in benchmarks:
                _fail(
                    key, f"no benchmark {run['benchmark']!r} under tasks.{run['task']}"
                )
            task = TASKS.get(run["task"])
            for subset in run.get("subsets") or []:
                for lang in dict.fromkeys(task.languages(subset)):
                    if lang not in config["languages"]:
                        _fail(
                            f"{key}.subsets",
                            f"language {lang!r} of {subset!r} is not defined under "
                            "languages",
                        )
            if kind == "control_priors" and not task.word_priors:
                _fail(key, f"{run['task']} answers do not start with a word")
            if kind == "control_priors":
                entry = benchmarks[run["benchmark"]]
                metrics = entry["metrics"]
                where = f"tasks.{run['task']}.benchmarks.{run['benchmark']}"
                for metric in control["metrics"]:
                    if metric not in metrics:
                        _fail(
                            "analysis.control_priors.metrics",
                            f"{metric!r} is not scored on {run['benchmark']} "
                            f"({where}.metrics: {metrics})",
                        )
                # Table 5's %SFT: the benchmark table's %SFT metrics it shows
                # (the table's own errors first).
                _check_table(entry, where)
                sft_metrics = table_definition(entry)["sft_metrics"]
                if not set(control["metrics"]) & set(sft_metrics):
                    _fail(
                        "analysis.control_priors.metrics",
                        f"none feeds %SFT on {run['benchmark']}, so Table 5 would "
                        f"have none ({where}.table.sft_metrics: {sft_metrics})",
                    )
            if kind == "prior_tokens":
                source = run["source"]
                if source not in task_settings["priors"] and source not in control.get(
                    "sources", {}
                ):
                    _fail(
                        f"{key}.source",
                        f"{source!r} is configured neither under "
                        f"tasks.{run['task']}.priors nor under "
                        "analysis.control_priors.sources",
                    )
                ks = run["k"] if isinstance(run["k"], list) else [run["k"]]
                if task.max_prior_k is not None and max(ks) > task.max_prior_k:
                    _fail(
                        f"{key}.k",
                        f"a {run['task']} prior has at most {task.max_prior_k} unit(s)",
                    )


def _check_start_up(config: Mapping[str, Any]) -> None:
    """What would otherwise fail only inside a job: integer types, templates, refined options."""
    _check_finite_numbers(config)
    _check_strict_integers(config)
    _check_templates(config)
    _check_refined_options(config)
    _check_control_word_lists(config)


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


def _check_control_word_lists(config: Mapping[str, Any]) -> None:
    """Control word lists as the prior job reads them: words written in the config
    are one word each, unique after NFC; a lexicon alone needs tags; words and
    lexicons are written in the target language's script."""
    from prettyflow.control_priors import OPTIONS_FIELD, config_word_list
    from prettyflow.errors import InputError
    from prettyflow.prior_sources import PRIOR_SOURCES

    sources = ((config.get("analysis") or {}).get("control_priors") or {}).get(
        "sources"
    ) or {}
    for source, options in sources.items():
        listed = (options or {}).get("words") or {}
        for language, words in listed.items():
            if isinstance(words, list):
                key = f"{OPTIONS_FIELD}.{source}.words.{language}"
                try:
                    config_word_list(words, key)
                except InputError as error:
                    _fail_input(key, error)
        for language, lexicon in ((options or {}).get("lexicon") or {}).items():
            if language not in listed and not lexicon.get("tags"):
                _fail(
                    f"{OPTIONS_FIELD}.{source}.lexicon.{language}.tags",
                    f"without words.{language} the lexicon needs tags to choose "
                    "words, e.g. [d]",
                )
        if source in PRIOR_SOURCES.names():  # _check_analyses names unknown ones
            try:  # words in the target language's script
                PRIOR_SOURCES.get(source).check_options(options)
            except InputError as error:
                _fail_input(f"{OPTIONS_FIELD}.{source}", error)


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
    """Every prompt template uses only its task's placeholders, without format specs."""
    from prettyflow.errors import InputError
    from prettyflow.prompts import (
        PROMPT_FIELDS,
        check_task_template,
        check_templates,
        placeholder_names,
    )

    for task_name, settings in config["tasks"].items():
        for name, template in settings["templates"].items():
            key = f"tasks.{task_name}.templates.{name}"
            try:
                check_task_template(template, task_name, key)
            except InputError as error:
                _fail_input(key, error)
    prompt_success = (config.get("analysis") or {}).get("prompt_success") or {}
    tasks = [run["task"] for run in prompt_success.get("runs", [])]
    # No blank or repeated entry, as the decode checks.
    if "templates" in prompt_success:
        key = "analysis.prompt_success.templates"
        try:
            check_templates(prompt_success["templates"], key)
        except InputError as error:
            _fail_input(key, error)
    for index, template in enumerate(prompt_success.get("templates") or []):
        key = f"analysis.prompt_success.templates[{index}]"
        try:
            if tasks:
                for task_name in dict.fromkeys(tasks):
                    check_task_template(template, task_name, key)
            else:
                placeholder_names(template, PROMPT_FIELDS, key)
        except InputError as error:
            _fail_input(key, error)


def _check_refined_options(config: Mapping[str, Any]) -> None:
    """Refined-prior options: known to the backend, none missing, placeholders filled."""
    import pandas as pd

    from prettyflow.errors import InputError
    from prettyflow.refined import REFINED_BACKENDS, REQUIRED, check_option_values
    from prettyflow.steps.priors import TASK_OPTIONS, fill_subset_options
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
