"""voxrecipes.data keeps the layer order its ``__init__`` docstring gives.

The imports are read with :mod:`ast` (nothing is imported), so a violation is found
even where a lazy import would hide it at run time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import voxrecipes.data

PACKAGE = "voxrecipes.data"
PACKAGE_DIR = Path(voxrecipes.data.__file__).parent
LAYER_LINE = re.compile(r"^(\d+)\. ([a-z0-9_, ]+):")


def parse_layers(doc: str) -> dict[str, int]:
    """``module -> layer number`` from the ``N. a, b: ...`` lines of a docstring."""
    layers: dict[str, int] = {}
    for line in doc.splitlines():
        match = LAYER_LINE.match(line)
        if match is None:
            continue
        for name in match.group(2).split(","):
            name = name.strip()
            assert name not in layers, f"module {name} is listed on two layers"
            layers[name] = int(match.group(1))
    return layers


def _imported_modules(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """Absolute names of what one import statement of ``PACKAGE.module`` imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolve against the package
        base = ".".join(f"{PACKAGE}.{module}".split(".")[:-node.level])
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    if source == PACKAGE:  # ``from voxrecipes.data import audio``
        return [f"{PACKAGE}.{alias.name}" for alias in node.names]
    return [source]


def layer_violations(package_dir: Path, layers: dict[str, int]) -> list[str]:
    """Every import in ``package_dir``'s modules that breaks the layer rules, as readable lines."""
    problems: list[str] = []
    modules = sorted(p.stem for p in package_dir.glob("*.py") if p.stem != "__init__")
    for module in modules:
        if module not in layers:
            problems.append(f"{module}: on no layer of the docstring")
    for name in layers:
        if name not in modules:
            problems.append(f"{name}: listed on a layer but no such module")
    for module in modules:
        tree = ast.parse((package_dir / f"{module}.py").read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _imported_modules(node, module):
                if not target.startswith("voxrecipes"):
                    continue
                if id(node) not in top_level:
                    problems.append(f"{module}:{node.lineno}: imports {target} below module level")
                if not target.startswith(f"{PACKAGE}."):
                    continue
                other = target[len(PACKAGE) + 1:].split(".")[0]
                if module in layers and other in layers and layers[other] >= layers[module]:
                    problems.append(f"{module}:{node.lineno}: layer {layers[module]} imports {other} "
                                    f"of layer {layers[other]}")
    return problems


def test_docstring_lists_the_layers():
    layers = parse_layers(voxrecipes.data.__doc__)
    assert layers["table"] == 1
    assert layers["table"] < layers["values"] < layers["datadir"] < layers["audio"] < layers["validate"]


def test_voxrecipes_data_keeps_its_layers():
    assert layer_violations(PACKAGE_DIR, parse_layers(voxrecipes.data.__doc__)) == []


@pytest.fixture
def toy_package(tmp_path):
    """A package with one import of each forbidden kind, and allowed ones beside them."""
    files = {
        "low.py": "import os\nfrom voxrecipes.errors import DataError\n",
        "mid.py": ("from voxrecipes.data.low import x\n"
                   "from voxrecipes.data.high import y\n"
                   "def f():\n    from voxrecipes.data import low\n    import numpy\n"),
        "high.py": "from voxrecipes.data import mid\nfrom .twin import z\n",
        "twin.py": "from . import low\n",
        "stray.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_layer_violations_are_found(toy_package):
    layers = parse_layers("1. low: a\n2. mid: b\n3. high, twin: c\n4. gone: d\n")
    assert layer_violations(toy_package, layers) == [
        "stray: on no layer of the docstring",
        "gone: listed on a layer but no such module",
        "high:2: layer 3 imports twin of layer 3",
        "mid:2: layer 2 imports high of layer 3",
        "mid:4: imports voxrecipes.data.low below module level",
    ]
