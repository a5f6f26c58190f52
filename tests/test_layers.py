"""The package's layers: imports flow one way, modules stay small, the top level stays thin."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fer_keras"
# each layer may import the layers listed before it (and itself); explain and inference sit side by
# side above evaluation and never import training or experiments
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
SUBPACKAGES = set(ALLOWED) - {"core"}
COMMANDS = {"utils", "train", "compare", "evaluate", "predict", "export", "ensemble", "search",
            "pretrained"}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in SUBPACKAGES:
        return parts[1]
    if len(parts) > 1 and parts[1] in COMMANDS:
        return "command"
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
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(rel.parts), path


def test_imports_flow_one_way():
    wrong = []
    for name, path in modules():
        own = layer_of(name)
        if own == "command" or name == "fer_keras.explain.__main__":
            continue
        for line, target in imports(path):
            other = layer_of(target)
            if other == "command" or (other != own and other not in ALLOWED[own]):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {own} imports {target}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name, path", list(modules()), ids=lambda x: str(x).split("fer_keras")[-1])
def test_modules_stay_small(name, path):
    assert len(path.read_text().splitlines()) <= 320


def test_the_top_level_is_thin():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 14, top
    assert {f"{c}.py" for c in COMMANDS} <= set(top)
