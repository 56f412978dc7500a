"""The package's layers: imports flow one way (docs: README "Layout of the code").

    errors  <-  config  <-  scene  <-  {synth, segment, capture}  <-  field  <-  render  <-  lift
        <-  {edit, export, evaluate}  <-  runs  <-  {view, batch}  <-  {commands, cli}

A module may import from its own package and from packages in lower layers only; packages of one layer
never import each other; no module imports another inside a function except in commands/ (which does so
to keep `panolift --help` fast); and the module graph has no cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import panolift

ROOT = Path(panolift.__file__).parent
LAYERS = [
    {"errors"},
    {"config"},
    {"scene"},
    {"synth", "segment", "capture"},
    {"field"},
    {"render"},
    {"lift"},
    {"edit", "export", "evaluate"},
    {"runs"},
    {"view", "batch"},
    {"commands"},
    {"cli"},
]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[str, bool]]:
    """(absolute module name, inside a function?) of every panolift import in a file, TYPE_CHECKING
    blocks left out."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join(parts + ([child.module] if child.module else []))
                if base.startswith("panolift"):
                    found.append((base, inner))
                    for alias in child.names:  # `from panolift import capture` names a module
                        if (ROOT.parent / (base + "." + alias.name).replace(".", "/")).is_dir():
                            found.append((base + "." + alias.name, inner))
            elif isinstance(child, ast.Import):
                found.extend((a.name, inner) for a in child.names if a.name.startswith("panolift"))
            visit(child, inner)

    visit(tree, False)
    return found


def top_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


FILES = sorted(ROOT.rglob("*.py"))


def test_every_package_has_a_layer():
    packages = {top_package(module_name(p)) for p in FILES} - {None}
    assert packages <= set(LAYER_OF), f"add to LAYERS: {sorted(packages - set(LAYER_OF))}"


def test_imports_point_down_only():
    wrong = []
    for path in FILES:
        own = top_package(module_name(path))
        if own is None:
            continue
        for module, _ in imported_modules(path):
            other = top_package(module)
            if other is None or other == own:
                continue
            if LAYER_OF[other] >= LAYER_OF[own]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module} ({own} -> {other})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_library_modules_import_at_the_top():
    inside = [
        f"{path.relative_to(ROOT)} imports {module} inside a function"
        for path in FILES
        if top_package(module_name(path)) not in ("commands", "cli")
        for module, in_function in imported_modules(path)
        if in_function
    ]
    assert not inside, "\n".join(inside)


def test_no_import_cycles():
    names = {module_name(p): p for p in FILES}

    def resolve(module: str) -> str | None:
        while module and module not in names:
            module = module.rsplit(".", 1)[0] if "." in module else ""
        return module or None

    graph = {
        name: {resolve(m) for m, in_function in imported_modules(path) if not in_function} - {None, name}
        for name, path in names.items()
    }
    # a package's __init__ re-exports its modules: edges into an __init__ from inside its own package
    # would be cycles only if the module also imports the __init__ back, which the search below finds.
    state: dict[str, int] = {}
    cycles = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                walk(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
