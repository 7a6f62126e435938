"""Rules of the architecture that a test can hold: pure layers stay pure,
vendored files are the versions their names say."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE_PACKAGES = ["coordlab/sim", "coordlab/basics/model.py", "coordlab/basics/checks.py",
                 "zookeeper_app/model", "kafka_app/model"]
FORBIDDEN = ("django", "channels", "daphne", "asyncio", "time", "threading", "datetime")


def python_files(relative: str) -> list[Path]:
    path = ROOT / relative
    if path.is_file():
        return [path]
    return sorted(path.rglob("*.py")) if path.exists() else []


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", [p for rel in PURE_PACKAGES for p in python_files(rel)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_layers_import_no_web_framework_clock_or_threads(path):
    assert not imported_modules(path) & set(FORBIDDEN)


def test_kernel_uses_no_global_random():
    for path in python_files("coordlab/sim"):
        source = path.read_text()
        assert not re.search(r"\brandom\.(random|randint|choice|shuffle|uniform|seed)\(", source), path


def test_vendored_htmx_is_the_version_in_its_name():
    source = (ROOT / "static/vendor/htmx-2.0.11.min.js").read_text()
    assert 'version:"2.0.11"' in source


def test_vendored_ws_extension_is_the_npm_release_in_its_name():
    data = (ROOT / "static/vendor/htmx-ext-ws-2.0.4.js").read_bytes()
    # sha256 of package/ws.js in `npm pack htmx-ext-ws@2.0.4`
    assert hashlib.sha256(data).hexdigest() == "dab17ec53b42135cc90ca3657a9be5e2aae6cceb3dbbf1952541aa4650fcb59e"


LAB_APPS = ("zookeeper_app", "kafka_app")


@pytest.mark.parametrize("path", python_files("coordlab"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_platform_imports_no_lab_app(path):
    """Lab kinds register themselves (``coordlab.labs.registry``): the platform iterates over
    them and never imports one, so a new kind needs no edit under coordlab/."""
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            imported.add(str(node.args[0].value))
    assert not {name for name in imported if name.split(".")[0] in LAB_APPS}


def test_the_platform_names_no_lab_app_outside_comments():
    """``grep -rn "zookeeper_app\\|kafka_app" coordlab/`` finds nothing but comments."""
    named = []
    for path in [*python_files("coordlab"), *sorted((ROOT / "coordlab").rglob("*.html"))]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0] if path.suffix == ".py" else line
            if any(app in code for app in LAB_APPS):
                named.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not named, "\n".join(named)
