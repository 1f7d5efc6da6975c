"""Configuration validation: JSON schema, then the cross-references a schema can't express.

Errors are one line naming the offending key (``tasks.translation.priors.refined.k``)
and what was expected, so a typo in config.yaml is found without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

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


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def validate_config(
    config: Mapping[str, Any], schema_path: str | Path = SCHEMA_PATH
) -> None:
    """Raise :class:`ConfigError` (one line, naming the key) when ``config`` is invalid."""
    validator = jsonschema.Draft202012Validator(load_schema(schema_path))
    errors = list(validator.iter_errors(config))
    if errors:
        # The deepest error is the most specific one (e.g. a wrong type inside a task).
        error = jsonschema.exceptions.best_match(errors, key=_relevance)
        raise ConfigError(f"invalid config: {_describe(error)}")
    _check_references(config)


def _relevance(error: jsonschema.ValidationError):
    return (-len(error.absolute_path), error.validator in ("oneOf", "anyOf", "allOf"))


def _fail(key: str, message: str) -> None:
    raise ConfigError(f"invalid config: {key}: {message}")


def _check_references(config: Mapping[str, Any]) -> None:
    """What the schema cannot say: names that must exist in another section or registry."""
    from prettyflow.benchmarks import BENCHMARKS
    from prettyflow.metrics import METRICS
    from prettyflow.prior_sources import PRIOR_SOURCES
    from prettyflow.refined import REFINED_BACKENDS
    from prettyflow.tasks import TASKS

    models = config["models"]
    languages = config["languages"]
    for name, spec in models.items():
        if "base" in spec and spec["base"] not in models:
            _fail(f"models.{name}.base", f"model {spec['base']!r} is not defined")
    decision_space = (config.get("analysis") or {}).get("decision_space") or {}
    for index, run in enumerate(decision_space.get("runs", [])):
        key = f"analysis.decision_space.runs[{index}]"
        benchmarks = config["tasks"].get(run["task"], {}).get("benchmarks", {})
        if run["benchmark"] not in benchmarks:
            _fail(key, f"no benchmark {run['benchmark']!r} under tasks.{run['task']}")
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
