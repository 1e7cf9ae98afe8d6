"""The import graph of our packages (read from the sources, nothing imported): no cycle
anywhere, a package ``__init__`` and its modules included, and no import of our own
modules inside a function unless it defers an optional dependency. The layer rules
(methods never import backends, the runner, the store or the CLI; the bottom layer
imports nothing above it) are import-linter contracts in pyproject.toml, checked by the
``lint`` env."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("suite", "methods", "backends", "reports")
#: Third-party packages an extra installs (pyproject.toml): a module that imports one at
#: its top may be imported inside a function, so that the rest works without the extra.
OPTIONAL = {"deepspeed", "onnx", "torch_pruning", "submitit", "psycopg", "tensorboard", "safetensors"}


@dataclass
class Module:
    name: str
    path: Path
    imports: set[str] = field(default_factory=set)  # ours, at module level
    third_party: set[str] = field(default_factory=set)  # top-level names, at module level
    deferred: list[tuple[str, int]] = field(default_factory=list)  # ours, inside functions


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             modules: dict[str, Module]) -> list[str]:
    """Absolute dotted names of the modules ``node`` imports: ``from a import b`` imports
    module ``a.b`` where there is one, else a name of ``a``."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def scan() -> dict[str, Module]:
    modules = {module_name(p): Module(module_name(p), p)
               for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}
    for mod in modules.values():
        record_imports(mod, ast.parse(mod.path.read_text()), modules, in_function=False)
    return modules


def record_imports(mod: Module, node: ast.AST, modules: dict[str, Module], in_function: bool) -> None:
    """Add the imports under ``node`` to ``mod``, those inside functions to ``mod.deferred``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue  # annotations only: never executed
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            names = imported(child, mod.name, mod.path.name == "__init__.py", modules)
            for target in {n for n in names if n in modules} - {mod.name}:
                if in_function:
                    mod.deferred.append((target, child.lineno))
                else:
                    mod.imports.add(target)
            if not in_function:
                mod.third_party |= {n.split(".")[0] for n in names if n.split(".")[0] not in PACKAGES}
        record_imports(mod, child, modules,
                       in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(modules[v].imports):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(modules):
        if v not in index:
            connect(v)
    return found


def test_the_scan_sees_the_packages_and_their_imports():
    modules = scan()
    assert {"suite.cli", "suite.runner", "methods.dpf", "backends.training", "reports"} <= set(modules)
    assert "suite.errors" in modules["suite.registry"].imports
    assert "torch" in modules["methods.base"].third_party


def test_no_import_cycle_between_our_modules():
    assert cycles(scan()) == []


def test_cycles_are_found():
    a, b, c = Module("a", ROOT, {"b"}), Module("b", ROOT, {"c"}), Module("c", ROOT, {"a"})
    assert cycles({"a": a, "b": b, "c": c}) == [["a", "b", "c"]]
    c.imports.clear()
    assert cycles({"a": a, "b": b, "c": c}) == []


def test_our_modules_are_imported_inside_functions_only_to_defer_an_optional_dependency():
    modules = scan()

    def needs_optional(name: str, seen: frozenset = frozenset()) -> bool:
        mod = modules[name]
        return bool(mod.third_party & OPTIONAL) or any(
            needs_optional(m, seen | {name}) for m in mod.imports if m not in seen)

    hidden = [f"{m.name}:{line} imports {target}" for m in modules.values()
              for target, line in m.deferred if not needs_optional(target)]
    assert hidden == [], "import these at the top of the module (nothing optional defers them)"
