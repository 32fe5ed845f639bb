"""Every import in app/ points down the layers, and no modules import each other round.

The layers, top to bottom; a module may import its own layer (sideways, within a folder)
or any layer below it, never one above:

    process   app.main, app.cli, app.scheduler, app.sender   the ASGI app, commands, jobs,
              app.trigger app.listen                         and the `trigger` and `listen` clients
    web       app.web.*                                      HTTP only
    services  app.services.*                                 use-cases, transactions
    delivery  app.delivery.*                                 one signed request
    storage   app.storage.*                                  models, migrations, writer
    rules     app.rules.*                                    pure rules, no I/O

`app.config` (the frozen Settings) and `app` itself (its version) may be imported by every
layer; `app.config` imports only `app.rules`, and `app` imports nothing of app/.

Imports are read from the source with ast, all of them: at the top of a module, inside
functions (a deferred import is still an arrow) and under `if TYPE_CHECKING:` (a type
that names an upper layer ties the lower one to it all the same).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
LAYERS = ("process", "web", "services", "delivery", "storage", "rules")
PROCESS = {"app.main", "app.cli", "app.scheduler", "app.sender", "app.trigger", "app.listen"}
SHARED = {"app.config": {"rules"}, "app": set()}  # importable by all -> the layers they may import
DIRECTION = " → ".join(LAYERS) + " (app.config and app: importable by all)"


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """The layer of an app module; a module that fits none is a layer of its own, which
    the tests below report rather than let pass unchecked."""
    if module in PROCESS:
        return "process"
    if module in SHARED:
        return module
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS[1:]:
        return parts[1]
    return f"unplaced ({module})"


def arrow_problem(importer: str, imported: str) -> str | None:
    """Why `importer` may not import `imported`, or None when the arrow is allowed."""
    source, target = layer_of(importer), layer_of(imported)
    if target == "app.config":
        return None if source != "app" else "app itself imports nothing of app/"
    if target == "app":
        return None
    if source in SHARED:
        if target in SHARED[source]:
            return None
        allowed = ", ".join(sorted(SHARED[source])) or "nothing of app/"
        return f"{source} may import only {allowed}, not {target}"
    if source not in LAYERS or target not in LAYERS:
        return f"{source if source not in LAYERS else target} is in no layer; place it in the list above"
    if LAYERS.index(target) < LAYERS.index(source):
        return f"{source} may not import {target}, a higher layer"
    return None


def resolve(node: ast.ImportFrom, importer: str, is_package: bool, known: set[str]) -> list[str]:
    """The app modules a `from ... import ...` reaches: `from app.web import metrics` is
    the module app.web.metrics, `from app.config import Settings` the module app.config."""
    if node.level:
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        package = ".".join(base + ([node.module] if node.module else []))
    else:
        package = node.module or ""
    if package != "app" and not package.startswith("app."):
        return []
    return [f"{package}.{alias.name}" if f"{package}.{alias.name}" in known else package for alias in node.names]


def app_imports() -> dict[str, dict[str, list[str]]]:
    """module -> {imported app module -> [the lines that import it]}, of every module in app/."""
    paths = {module_name(path): path for path in sorted(APP.rglob("*.py"))}
    known = set(paths)
    graph: dict[str, dict[str, list[str]]] = {}
    for module, path in paths.items():
        arrows: dict[str, list[str]] = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name == "app" or alias.name.startswith("app.")]
            elif isinstance(node, ast.ImportFrom):
                targets = resolve(node, module, path.name == "__init__.py", known)
            else:
                continue
            for target in targets:
                if target != module:
                    arrows.setdefault(target, []).append(f"{path.relative_to(APP.parent)}:{node.lineno}")
        graph[module] = arrows
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, {}):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


@pytest.mark.parametrize(
    "importer, imported, allowed",
    [
        ("app.main", "app.web.portal", True),
        ("app.sender", "app.scheduler", True),  # sideways in the process layer
        ("app.web.api.events", "app.services.events", True),
        ("app.web.pages.keys", "app.storage.models", True),  # down past a layer is still down
        ("app.services.events", "app.delivery.queue", True),
        ("app.delivery.queue", "app.storage.models", True),
        ("app.storage.db", "app.rules.clock", True),
        ("app.rules.clock", "app.config", True),
        ("app.delivery.dispatcher", "app", True),
        ("app.config", "app.rules.errors", True),
        ("app.delivery.queue", "app.services.webhook_health", False),
        ("app.storage.models", "app.services.setup", False),
        ("app.services.events", "app.web.inputs", False),
        ("app.web.viewer", "app.main", False),
        ("app.rules.filters", "app.storage.models", False),
        ("app.config", "app.storage.db", False),
        ("app.rules.clock", "app.stray", False),  # a module in no layer is reported, not let through
    ],
)
def test_the_rule_allows_only_arrows_down_or_sideways(importer, imported, allowed):
    assert (arrow_problem(importer, imported) is None) == allowed


def test_resolve_reads_modules_from_packages_and_names_from_modules():
    known = {"app.web", "app.web.metrics", "app.web.portal", "app.config", "app.storage", "app.storage.db"}
    source = "from app.web import metrics, portal\nfrom app.config import Settings\nfrom . import db\nimport os"
    imports = [node for node in ast.parse(source).body if isinstance(node, ast.ImportFrom)]
    found = [resolve(node, "app.storage.writer", False, known) for node in imports]
    assert found == [["app.web.metrics", "app.web.portal"], ["app.config"], ["app.storage.db"]]


def test_cycles_finds_modules_that_import_each_other_round():
    graph = {"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}, "e": {}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_every_import_in_app_points_down_the_layers():
    problems = [
        f"{line} imports {imported}: {layer_of(importer)} → {layer_of(imported)}; {problem}"
        for importer, arrows in sorted(app_imports().items())
        for imported, lines in sorted(arrows.items())
        if (problem := arrow_problem(importer, imported))
        for line in lines
    ]
    assert not problems, f"imports against the layers ({DIRECTION}):\n" + "\n".join(problems)


def test_no_modules_in_app_import_each_other_round():
    graph = app_imports()
    described = []
    for component in cycles(graph):
        members = set(component)
        arrows = [
            f"  {line} imports {target}"
            for module in component
            for target, lines in sorted(graph[module].items())
            if target in members
            for line in lines
        ]
        described.append(" ↔ ".join(component) + ":\n" + "\n".join(arrows))
    assert not described, "modules that import each other round (even within a layer):\n" + "\n".join(described)
