"""The package's layers: no import runs back up; sizes are measured here too.

Layers, top first (a module imports its own layer and those below it only):

3. the job bodies: ``prettyflow.steps`` and the model server ``prettyflow.workers``
   (which runs decode steps); only ``scripts/`` and tests import them;
2. the plan: ``prettyflow.config`` (the config check), ``prettyflow.plan`` and
   ``prettyflow.preflight`` (the check of the user's files, which reads both);
1. the outputs: ``prettyflow.analysis``, ``tables``, ``bootstrap``, ``report``,
   ``run_summary``;
0. everything else (data, metrics, tasks, datasets, priors, models, ...).

``python tests/test_layers.py`` prints the numbers: imports running back up, the
share of the package's internal imports that sit inside functions, modules over
:data:`MAX_MODULE_LINES` lines and functions over :data:`MAX_FUNCTION_LINES` lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "prettyflow"
LAYERS = {
    "steps": 3,
    "workers": 3,
    "worker_server": 3,
    "config": 2,
    "plan": 2,
    "preflight": 2,
    "analysis": 1,
    "tables": 1,
    "bootstrap": 1,
    "report": 1,
    "run_summary": 1,
}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
# A module or function over the limits says why in its docstring, in a sentence
# that starts with this (issue 16: "no module over 500 lines, no function over 80
# without a reason given in its docstring").
REASON = "Long because"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The prettyflow modules ``node`` imports (``from a import b``: a.b if a module)."""
    if node.level:
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    targets = []
    for alias in node.names:
        candidate = PACKAGE.parent.joinpath(*f"{source}.{alias.name}".split("."))
        if candidate.with_suffix(".py").exists() or candidate.is_dir():
            targets.append(f"{source}.{alias.name}")
        else:
            targets.append(source)
    return targets


def _imports_in(
    node: ast.AST, module: str, is_package: bool, in_function: bool
) -> list[tuple[str, str, bool, int]]:
    found = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import):
            targets = [alias.name for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            targets = _resolve(module, is_package, child)
        else:
            inside = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            found += _imports_in(child, module, is_package, inside)
            continue
        for target in dict.fromkeys(targets):  # one per module imported
            if target.split(".")[0] == "prettyflow":
                found.append((module, target, in_function, child.lineno))
    return found


def package_imports() -> list[tuple[str, str, bool, int]]:
    """(importing module, imported module, inside a function, line) of each internal import."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += _imports_in(
            tree, _module_name(path), path.name == "__init__.py", False
        )
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def upward_imports() -> list[str]:
    return [
        f"{source}:{line} imports {target}"
        for source, target, _, line in package_imports()
        if layer(target) > layer(source)
    ]


def long_definitions() -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Modules over MAX_MODULE_LINES lines, functions over MAX_FUNCTION_LINES lines,
    and those of them whose docstring gives no reason (:data:`REASON`)."""
    modules, functions, unexplained = {}, {}, []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        module = _module_name(path)
        tree = ast.parse(text)
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            modules[module] = lines
            if REASON not in (ast.get_docstring(tree) or ""):
                unexplained.append(module)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    name = f"{module}.{node.name}"
                    functions[name] = length
                    if REASON not in (ast.get_docstring(node) or ""):
                        unexplained.append(name)
    return modules, functions, unexplained


def test_no_import_runs_back_up():
    assert upward_imports() == []


def test_a_long_module_or_function_says_why():
    _, _, unexplained = long_definitions()
    assert unexplained == []


def test_the_layers_name_packages_that_exist():
    for name in LAYERS:
        assert (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists(), name


def test_the_import_scan_sees_function_local_imports():
    imports = package_imports()
    assert any(inside for _, _, inside, _ in imports)
    assert any(not inside for _, _, inside, _ in imports)


if __name__ == "__main__":
    imports = package_imports()
    inside = sum(1 for _, _, in_function, _ in imports if in_function)
    upward = upward_imports()
    print(f"imports running back up: {len(upward)}")
    print("\n".join(f"  {line}" for line in upward))
    print(
        f"internal imports inside functions: {inside}/{len(imports)} "
        f"({100 * inside / len(imports):.0f} %)"
    )
    modules, functions, unexplained = long_definitions()
    print(f"without a reason in the docstring: {unexplained}")
    print(f"modules over {MAX_MODULE_LINES} lines: {len(modules)}")
    for name, lines in sorted(modules.items(), key=lambda item: -item[1]):
        print(f"  {name}: {lines}")
    print(f"functions over {MAX_FUNCTION_LINES} lines: {len(functions)}")
    for name, lines in sorted(functions.items(), key=lambda item: -item[1]):
        print(f"  {name}: {lines}")
