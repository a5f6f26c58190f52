"""The package's layers: imports flow one way, the layers hold no command line, modules stay
small, the top level stays thin; test modules never import each other."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fer_keras"
# each layer may import the layers listed before it (and itself); explain and inference sit side by
# side above evaluation and never import training or experiments; the commands (every parser and
# main, and fer_keras.cli, the console script) sit on top of them all
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "models": {"core", "data"},
    "evaluation": {"core", "data", "models"},
    "training": {"core", "data", "models", "evaluation"},
    "experiments": {"core", "data", "models", "evaluation", "training"},
    "explain": {"core", "data", "models", "evaluation"},
    "inference": {"core", "data", "models", "evaluation"},
}
ALLOWED["commands"] = set(ALLOWED)
SUBPACKAGES = set(ALLOWED) - {"core"}
LIBRARY = SUBPACKAGES - {"commands"}
# the python -m faces, each running one command's main (nothing imports one): face -> command
FACES = {"utils": "convert", "train": "train", "compare": "compare", "evaluate": "evaluate",
         "predict": "predict", "export": "export", "ensemble": "ensemble", "search": "search",
         "pretrained": "package", "serve": "serve", "explain.__main__": "explain",
         "inference.make_registration": "make_registration"}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if ".".join(parts[1:]) in FACES:
        return "face"
    if len(parts) > 1 and parts[1] in SUBPACKAGES:
        return parts[1]
    if module == "fer_keras.cli":
        return "commands"
    return "core"


def imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fer_keras"):
            if node.module == "fer_keras":
                for alias in node.names:
                    yield node.lineno, f"fer_keras.{alias.name}"
            else:
                yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("fer_keras"):
                    yield node.lineno, alias.name


def modules():
    """(name, path) of every module of the package (a script in a data folder is none)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if not (path.parent / "__init__.py").is_file():
            continue
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(rel.parts), path


def test_imports_flow_one_way():
    wrong = []
    for name, path in modules():
        own = layer_of(name)
        if own == "face":
            continue
        for line, target in imports(path):
            other = layer_of(target)
            if other == "face" or (other != own and other not in ALLOWED[own]):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {own} imports {target}")
    assert not wrong, "\n".join(wrong)


def imports_argparse(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "argparse":
            return True
    return False


def test_the_layers_hold_no_command_line():
    """Every parser lives in fer_keras.commands: no layer below imports argparse."""
    wrong = [str(path.relative_to(PACKAGE.parent)) for name, path in modules()
             if layer_of(name) in LIBRARY | {"core"} and imports_argparse(path)]
    assert not wrong, wrong


def test_the_faces_are_thin():
    """A face imports its command's main and runs it; nothing else."""
    for face, command in sorted(FACES.items()):
        path = PACKAGE.joinpath(*face.split(".")).with_suffix(".py")
        assert [t for _, t in imports(path)] == [f"fer_keras.commands.{command}"], face
        assert "import main\n" in path.read_text() and len(path.read_text().splitlines()) <= 8


@pytest.mark.parametrize("name, path", list(modules()), ids=lambda x: str(x).split("fer_keras")[-1])
def test_modules_stay_small(name, path):
    assert len(path.read_text().splitlines()) <= 320


def test_the_top_level_is_thin():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 14, top
    assert {f"{f}.py" for f in FACES if "." not in f} <= set(top)


# --- Tests follow the same rule: shared helpers in helpers.py, never one test module in another --

TESTS = Path(__file__).resolve().parent


def _dynamic_import(call: ast.Call) -> bool:
    """``importlib.import_module("name")`` or ``__import__("name")`` with a literal name."""
    func = getattr(call.func, "attr", getattr(call.func, "id", ""))
    return (func in ("import_module", "__import__") and bool(call.args)
            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str))


def imported_test_modules(source: str):
    """(line, name) of every import in ``source`` of a test module or of a conftest.

    Importing a test module runs its module-level code and fixtures a second time and ties its
    tests to another file's internals; pytest imports ``conftest.py`` itself, and a second
    ``import conftest`` can give another module object. Shared code belongs in ``helpers.py``.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            names = [node.args[0].value]
        else:
            continue
        for name in names:
            parts = name.split(".")
            top = parts[1] if parts[0] == "tests" and len(parts) > 1 else parts[0]
            if top.startswith("test_") or top == "conftest":
                yield node.lineno, name
                break


def test_no_test_module_imports_another():
    wrong = [f"{path.name}:{line}: imports {name}"
             for path in sorted(TESTS.glob("*.py"))
             for line, name in imported_test_modules(path.read_text())]
    assert not wrong, "\n".join(wrong) + "\nmove what is shared into tests/helpers.py"


@pytest.mark.parametrize("source, found", [
    ("from test_predict import make_run", [(1, "test_predict")]),
    ("import test_models as tm", [(1, "test_models")]),
    ("from tests import test_cli", [(1, "tests.test_cli")]),
    ("from tests.test_cli import CASES", [(1, "tests.test_cli")]),
    ("from conftest import make_fer_csv", [(1, "conftest")]),
    ("x = importlib.import_module('test_export')", [(1, "test_export")]),
    ("from helpers import make_run\nfrom fer_keras.training import train", []),
])
def test_the_test_import_check_finds_what_it_must(source, found):
    assert list(imported_test_modules(source)) == found
