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


def _check_references(config: Mapping[str, Any]) -> None:
    models = config["models"]
    languages = config["languages"]
    for family, spec in config["families"].items():
        key = f"families.{family}"
        for role, name in [("foundation", spec["foundation"])] + [
            (f"sft[{i}]", name) for i, name in enumerate(spec["sft"])
        ]:
            if name not in models:
                raise ConfigError(
                    f"invalid config: {key}.{role}: model {name!r} is not defined under models"
                )
        if spec["sft_reference"] not in spec["sft"]:
            raise ConfigError(
                f"invalid config: {key}.sft_reference: {spec['sft_reference']!r} must be one of sft {spec['sft']}"
            )
    datasets = config["datasets"]
    dataset_of_task = {
        "translation": "flores",
        "summarization": "crosssum",
        "pos": "pos",
    }
    for task, settings in config["tasks"].items():
        key = f"tasks.{task}"
        dataset = dataset_of_task[task]
        if dataset not in datasets:
            raise ConfigError(f"invalid config: datasets.{dataset}: required by {key}")
        for subset in settings["subsets"]:
            for lang in subset.split("-"):
                if lang not in languages:
                    raise ConfigError(
                        f"invalid config: {key}.subsets: language {lang!r} of {subset!r} is not defined under languages"
                    )
                if task == "translation" and "flores" not in languages[lang]:
                    raise ConfigError(
                        f"invalid config: languages.{lang}.flores: required by {key} subset {subset!r}"
                    )
            if (
                task in ("summarization", "pos")
                and subset not in datasets[dataset]["files"]
            ):
                raise ConfigError(
                    f"invalid config: datasets.{dataset}.files.{subset}: required by {key}.subsets"
                )
            if "pseudo" in settings["priors"] and subset not in config.get(
                "dictionaries", {}
            ):
                raise ConfigError(
                    f"invalid config: dictionaries.{subset}: the pseudo prior of {key} needs a dictionary for {subset!r}"
                )
