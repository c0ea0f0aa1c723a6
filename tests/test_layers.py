"""The package's layout holds: each folder a layer, imports pointing down, modules of one job.

Read from the source with `ast` (nothing is imported), so a function-local import counts as an
arrow as much as a top-level one. ARCHITECTURE.md draws the same layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "ganlab"

# Bottom to top. A module may import its own layer or one below it, never one above.
LAYERS = [
    # the base (root)
    {"version", "errors", "files", "config", "config_sections", "config_errors", "runfiles"},
    {"game"},
    {"models", "data"},
    {"training"},
    {"report"},
    {"metrics"},
    {"doctor"},
    {"runs"},
    {"theory"},
    {"lab"},
    {
        "cli",
        "cli_parser",
        "__init__",
        "__main__",
        "losses",
    },  # losses: the old import path, re-exported
]
MAX_LINES = 500  # STYLE.md section 1: one job in at most ~500 lines


def unit(module: str) -> str:
    """The layer unit of a dotted module name: its folder, or the root module's own name."""
    parts = module.split(".")
    assert parts[0] == "ganlab", module
    return parts[1] if len(parts) > 1 else "__init__"


def rank(module: str) -> int:
    u = unit(module)
    return next(i for i, layer in enumerate(LAYERS) if u in layer)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported ganlab module, names taken from it) for every import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("ganlab")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "ganlab" or node.module.startswith("ganlab."):
                names = [a.name for a in node.names]
                for name in names:  # `from ganlab.x import y` where y is a module is an arrow to it
                    if is_module(f"{node.module}.{name}"):
                        found.append((node.lineno, f"{node.module}.{name}", []))
                found.append((node.lineno, node.module, names))
    return found


def test_every_module_is_in_a_layer():
    units = {unit(module_name(p)) for p in sources()}
    assert units <= set().union(*LAYERS), units - set().union(*LAYERS)


def test_imports_point_down_only():
    upward = []
    for path in sources():
        here = module_name(path)
        for line, target, names in imports(path):
            if target == "ganlab" and here != "ganlab":
                # the package __init__ is the top (its lazy API imports runs): only the version
                # and the errors may come from it, and those live in base modules of their own
                upward.append(f"{here}:{line} imports from the package __init__ {names}")
            elif target != "ganlab" and unit(target) != unit(here) and rank(target) > rank(here):
                upward.append(f"{here}:{line} -> {target}")
    assert not upward, "imports that run up a layer:\n" + "\n".join(upward)


def test_the_game_layer_imports_only_torch():
    allowed = {"torch", "math", "__future__", "typing", "collections", "dataclasses"}
    for path in sorted((PACKAGE / "game").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            for root in roots:
                ok = root in allowed or (root == "ganlab" and "game" in (node.module or ""))
                assert ok, f"{path.name}:{node.lineno} imports {root}"


def test_no_module_imports_another_modules_private_names():
    private = []
    for path in sources():
        here = module_name(path)
        tree = ast.parse(path.read_text())
        aliases = {}  # local name -> ganlab module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ganlab"):
                for a in node.names:
                    dunder = a.name.startswith("__")
                    if a.name.startswith("_") and not dunder and node.module != here:
                        private.append(f"{here}:{node.lineno} imports {node.module}.{a.name}")
                    if is_module(f"{node.module}.{a.name}"):
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("ganlab") and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                private.append(f"{here}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not private, "\n".join(private)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines; split it by job"


def test_each_layer_says_what_it_holds():
    for folder in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
        assert doc, f"{folder.name}/__init__.py has no docstring"
        assert len(doc.splitlines()[0]) <= 100, f"{folder.name}: first line too long"


def test_public_names_users_import_keep_working():
    import ganlab
    import ganlab.data
    import ganlab.game.losses
    import ganlab.losses
    import ganlab.runs

    for name in ("train", "resume", "load_run", "Run"):
        assert getattr(ganlab, name) is getattr(ganlab.runs, name)
    for name in ("value_function", "d_loss", "g_loss_minimax", "g_loss_nonsaturating",
                 "g_loss_maximum_likelihood"):  # fmt: skip
        assert getattr(ganlab, name) is getattr(ganlab.game.losses, name)
        assert getattr(ganlab.losses, name) is getattr(ganlab.game.losses, name)
    for name in ("load_mnist", "load_fashion_mnist", "load_digits", "load_image_folder",
                 "load_csv", "load_array"):  # fmt: skip
        assert getattr(ganlab, name) is getattr(ganlab.data, name)
    assert set(ganlab.__all__) <= set(dir(ganlab))


def test_every_name_imported_from_ganlab_exists():
    """A moved name breaks only at the call that imports it lazily: check them all here, in the
    package, the tests and the benchmarks."""
    import importlib

    root = SRC.parent
    missing = []
    for path in [*sources(), *sorted((root / "tests").glob("*.py")),
                 *sorted((root / "benchmarks").glob("*.py"))]:  # fmt: skip
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            if not node.module.startswith("ganlab"):
                continue
            module = importlib.import_module(node.module)
            for a in node.names:
                if not hasattr(module, a.name) and not is_module(f"{node.module}.{a.name}"):
                    missing.append(f"{path.relative_to(root)}:{node.lineno} {node.module}.{a.name}")
    assert not missing, "\n".join(missing)


def test_no_source_file_is_ignored_by_git():
    """A .gitignore pattern once matched src/ganlab/runs/: its new modules were never committed
    (nor linted: ruff skips ignored files). Every module must be visible to git."""
    import shutil
    import subprocess

    root = SRC.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    paths = [str(p.relative_to(root)) for p in sources()]
    ignored = subprocess.run(
        ["git", "-C", str(root), "check-ignore", *paths], capture_output=True, text=True
    ).stdout.split()
    assert not ignored, f"ignored by .gitignore: {ignored}"
