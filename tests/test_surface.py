"""The public surface: what code outside the package may use, checked by reading that code."""

import ast
import importlib
import importlib.util
import pathlib
import pkgutil

import pytest

import jaxgrad

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUTSIDE = [p for d in ("tests", "benchmarks", "experiments", "configs") for p in sorted((ROOT / d).rglob("*.py"))]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[str]:
    """Private jaxgrad names a module's code reaches: ``from jaxgrad.x import _y``,
    ``jaxgrad.x._y`` / ``alias._y`` on an imported jaxgrad module, or a private module path."""
    tree = ast.parse(source)
    modules, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "jaxgrad":
                    found += [alias.name for part in alias.name.split(".") if _private(part)]
                    modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "jaxgrad":
            found += [node.module for part in node.module.split(".") if _private(part)]
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{node.module}.{alias.name}")
                else:
                    modules.add(alias.asname or alias.name)  # a module or a name: attributes checked alike
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in modules:
                found.append(f"{ast.unparse(node.value)}.{node.attr}")
    return found


def test_the_checker_finds_each_kind_of_private_use():
    code = ("import jaxgrad as jg\nfrom jaxgrad import fields\nfrom jaxgrad.engine import _mesh\n"
            "import jaxgrad.problems._problem\nfields._PLANS.clear()\njg.engine._sweep_program\n"
            "fields.field(1)\nobj._private\n")
    assert sorted(private_uses(code)) == sorted(["jaxgrad.engine._mesh", "jaxgrad.problems._problem",
                                                 "fields._PLANS", "jg.engine._sweep_program"])


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_outside_the_package_uses_a_private_name(path):
    assert private_uses(path.read_text()) == []


def _modules():
    for info in pkgutil.walk_packages(jaxgrad.__path__, "jaxgrad."):
        if not info.name.endswith("__main__"):  # a program, not a library module
            yield info.name


@pytest.mark.parametrize("name", list(_modules()))
def test_every_module_says_what_it_offers(name):
    module = importlib.import_module(name)
    assert isinstance(getattr(module, "__all__", None), list), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []


def test_the_top_level_is_curated_and_every_name_resolves():
    for name in jaxgrad.__all__:
        assert getattr(jaxgrad, name) is not None
    assert not any(_private(n) for n in jaxgrad.__all__)
    with pytest.raises(AttributeError):
        jaxgrad.not_a_name  # noqa: B018


def _module_imports():
    """jaxgrad module -> the jaxgrad modules it imports at its top level (what runs on import)."""
    graph = {}
    for info in pkgutil.walk_packages(jaxgrad.__path__, "jaxgrad."):
        spec = importlib.util.find_spec(info.name)
        tree = ast.parse(pathlib.Path(spec.origin).read_text())
        deps = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxgrad"):
                for alias in node.names:  # `from jaxgrad.lab import stats` imports jaxgrad.lab.stats
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if _is_module(full) else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("jaxgrad."))
        graph[info.name] = deps - {info.name}
    return graph


def _is_module(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def test_no_import_cycle_between_modules():
    graph = _module_imports()
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for dep in graph.get(node, ()):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])
    # a package's __init__ that imports its own submodules is not a cycle of concepts
    cycles = [c for c in cycles if not any(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(c, c[1:]))]
    assert cycles == []


def test_no_module_of_the_package_uses_another_modules_private_name():
    found = []
    for info in pkgutil.walk_packages(jaxgrad.__path__, "jaxgrad."):
        path = pathlib.Path(importlib.util.find_spec(info.name).origin)
        tree = ast.parse(path.read_text())
        imported = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxgrad"):
                for alias in node.names:
                    if _private(alias.name):
                        found.append(f"{info.name}: from {node.module} import {alias.name}")
                    imported[alias.asname or alias.name] = node.module
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported
                  and _private(node.attr)):
                found.append(f"{info.name}: {node.value.id}.{node.attr}")
    assert found == []
