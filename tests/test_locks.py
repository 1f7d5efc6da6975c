"""The locks (locks/*.txt, refreshed by ``make lock``) hold what pyproject.toml asks
for, and every environment installs from them: ``make install``, ``make
comet-env`` and the pip lists of envs/*.yaml.

Offline, from the committed files: a requirement added to or tightened in
pyproject.toml without ``make lock`` fails here, and so does an env file whose
pins drifted from its lock.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from prettyflow.locks import (
    ENV_DIR,
    ENV_LOCKS,
    LOCKS,
    PYTHON_VERSION,
    REQUIREMENT_LOCKS,
    TORCH_INPUT,
    env_pip_list,
    normalize,
    python_mismatch,
    read_lock,
    read_pins,
)

tomllib = pytest.importorskip("tomllib", reason="the locks are for Python 3.11")

REPO_ROOT = Path(__file__).resolve().parents[1]
# The interpreter the locks are for (prettyflow.locks: CPython 3.11, linux x86_64).
LOCK_MARKERS = {
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": PYTHON_VERSION,
    "python_full_version": f"{PYTHON_VERSION}.0",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}
CUDA_ONLY = re.compile(r"^(nvidia-.*|triton|cuda-.*)$")


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def requirements_of(extras: tuple[str, ...]) -> list[tuple[str, Requirement]]:
    """(where, requirement) of the core and ``extras`` that apply on the locks'
    platform."""
    project = _pyproject()["project"]
    declared = project["optional-dependencies"]
    unknown = set(extras) - set(declared)
    assert not unknown, f"extras {sorted(unknown)} are not in pyproject.toml"
    sources = [("dependencies", "", project["dependencies"])]
    sources += [(f"[{extra}]", extra, declared[extra]) for extra in extras]
    applicable = []
    for where, extra, texts in sources:
        for text in texts:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or marker.evaluate({**LOCK_MARKERS, "extra": extra}):
                applicable.append((where, requirement))
    return applicable


def unsatisfied(
    requirements: list[tuple[str, Requirement]], pins: dict[str, str]
) -> list[str]:
    """What ``pins`` lacks: a requirement not pinned, or pinned to a version its
    specifier does not admit."""
    problems = []
    for where, requirement in requirements:
        pinned = pins.get(normalize(requirement.name))
        if pinned is None:
            problems.append(f"{where} {requirement}: not pinned")
        elif not requirement.specifier.contains(Version(pinned), prereleases=True):
            problems.append(f"{where} {requirement}: pinned {pinned}, not admitted")
    return problems


def test_unsatisfied_names_each_requirement_a_lock_does_not_meet():
    requirements = [
        ("[x]", Requirement("numpy<2")),
        ("[x]", Requirement("Pandas_Stubs>=2")),
        ("[x]", Requirement("tabulate>=0.9")),
    ]
    pins = {"numpy": "2.4.6", "tabulate": "0.10.0"}
    assert unsatisfied(requirements, pins) == [
        "[x] numpy<2: pinned 2.4.6, not admitted",
        "[x] Pandas_Stubs>=2: not pinned",
    ]


def test_requirements_of_skips_what_does_not_apply_on_the_locks_platform():
    names = {r.name for _, r in requirements_of(("decode",))}
    assert {"numpy", "torch", "transformers"} <= names
    marked = Requirement("tomli>=2; python_version < '3.11'")
    assert not marked.marker.evaluate({**LOCK_MARKERS, "extra": ""})


@pytest.mark.parametrize("lock_name", sorted(LOCKS))
def test_lock_pins_every_requirement_of_its_extras(lock_name):
    lock = LOCKS[lock_name]
    pins = read_lock(REPO_ROOT / lock.path)
    problems = unsatisfied(requirements_of(lock.extras), pins)
    assert not problems, (
        f"{lock.path} does not satisfy pyproject.toml; run `make lock`:\n"
        + "\n".join(problems)
    )


@pytest.mark.parametrize("lock_name", sorted(LOCKS))
def test_lock_pins_torchs_release_and_no_cuda_packages(lock_name):
    """Any build of the release satisfies the pin (CPU here, CUDA elsewhere); the
    resolution used the CPU build, whose dependencies hold no CUDA package."""
    lock = LOCKS[lock_name]
    pins = read_lock(REPO_ROOT / lock.path)
    assert pins["torch"] == read_lock(REPO_ROOT / TORCH_INPUT)["torch"]
    assert [f"{n}=={v}" for n, v in pins.items() if Version(v).local] == []
    assert [name for name in pins if CUDA_ONLY.match(name)] == []


@pytest.mark.parametrize("lock_name", sorted(REQUIREMENT_LOCKS))
def test_a_requirements_lock_pins_its_requirements_and_not_what_is_uninstalled(
    lock_name,
):
    """locks/vllm.txt (make lock, from locks/vllm.in): every requirement pinned
    within its specifier, torch's release, and none of the packages the Makefile
    uninstalls after it."""
    lock = REQUIREMENT_LOCKS[lock_name]
    pins = read_lock(REPO_ROOT / lock.path)
    lines = (REPO_ROOT / lock.requirements).read_text(encoding="utf-8").splitlines()
    wanted = [
        ("locks/" + lock.requirements.name, Requirement(line))
        for line in lines
        if line.strip() and not line.startswith("#")
    ]
    assert wanted, f"{lock.requirements} names no requirement"
    assert unsatisfied(wanted, pins) == []
    assert pins["torch"] == read_lock(REPO_ROOT / TORCH_INPUT)["torch"]
    assert [name for name in lock.unwanted if normalize(name) in pins] == []
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"VLLM_UNWANTED := {' '.join(lock.unwanted)}" in makefile


@pytest.mark.parametrize("env_name", sorted(ENV_LOCKS))
def test_env_file_pins_are_its_locks_versions(env_name):
    env_file = REPO_ROOT / ENV_DIR / env_name
    lock = LOCKS[ENV_LOCKS[env_name]]
    entries, extras = env_pip_list(env_file)
    assert extras is not None, f"{env_file} installs no ${{PRETTYFLOW_ROOT}}"
    env_pins = read_pins(entries, str(env_file))
    lock_pins = read_lock(REPO_ROOT / lock.path)
    drifted = {
        name: (version, lock_pins.get(name))
        for name, version in env_pins.items()
        if lock_pins.get(name) != version
    }
    assert drifted == {}, f"{env_name} (pinned, {lock.path}); run `make lock`"
    problems = unsatisfied(requirements_of(extras), env_pins)
    assert not problems, f"{env_name}: " + "\n".join(problems)
    if set(extras) == set(lock.extras):
        assert env_pins == lock_pins


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_installs_each_environment_from_its_lock(tmp_path):
    """Every pip install of `make install` and `make comet-env` is the lock, the
    project without dependencies, or pip itself."""
    commands = subprocess.run(
        [
            "make",
            "--dry-run",
            "--always-make",
            f"VENV={tmp_path / 'main'}",
            f"COMET_VENV={tmp_path / 'comet'}",
            "install",
            "comet-env",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    installs = [line for line in commands if " install " in line]
    for lock in LOCKS.values():
        assert any(f"install --quiet -r {lock.path} " in line for line in installs)
    unlocked = [
        line
        for line in installs
        if not re.search(
            r"install --quiet (-r locks/\S+ |--no-deps -e \.$|--upgrade pip$)", line
        )
    ]
    assert unlocked == []
    assert sum(line.endswith("pip check") for line in commands) == len(LOCKS)


def test_make_refuses_another_python_than_the_locks():
    assert python_mismatch((3, 11, 7)) is None
    assert python_mismatch((3, 12, 1)) == (
        "the locks (locks/) are for Python 3.11, this is Python 3.12: run make with "
        "PYTHON=python3.11"
    )
