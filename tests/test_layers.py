"""The package's layers: each imports only from the layers below it (and its own).

    cli, config -> commands -> production -> checks -> engine -> database -> errors, findings
    report (the model and its formats) is used by cli and commands; it knows findings, errors
    and how to mask a URL.

And the backend's models know nothing of the pipeline; the rest of the backend uses only its
URL parser and errors.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scripts" / "mks_db"
BACKEND = Path(__file__).resolve().parents[1] / "backend" / "mks"

BASE = {"errors", "findings", "limits", "durations"}
ALLOWED = {
    "errors": set(),
    "findings": set(),
    "limits": set(),
    "durations": set(),
    # [tool.mks-db] and the flags, read once: the front's (cli and commands), nothing below uses it
    "config": BASE | {"database", "report"},
    "database": BASE | {"database"},
    "engine": BASE | {"database", "engine"},
    "checks": BASE | {"database", "engine", "checks"},
    "production": BASE | {"database", "engine", "checks", "production"},
    "report": BASE | {"report", "database"},
    "commands": BASE | {"config", "database", "engine", "checks", "production", "report", "commands"},
    "cli": BASE | {"config", "database", "engine", "checks", "production", "report", "commands"},
    "__main__": {"cli"},
    "__init__": set(),
}


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_layers(path: Path) -> set[str]:
    """The top-level parts of mks_db that ``path`` imports (``mks_db.X...`` -> X)."""
    layers = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "mks_db" else [f"mks_db.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "mks_db" and len(parts) > 1:
                layers.add(parts[1])
    return layers


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_from_the_layers_below_it(path):
    layer = _layer(path)
    assert layer in ALLOWED, f"{path.relative_to(PACKAGE)}: a layer this test does not know"
    wrong = _imported_layers(path) - ALLOWED[layer] - {"__version__"}
    assert not wrong, f"{path.relative_to(PACKAGE)} ({layer}) imports from {sorted(wrong)}"


def test_the_models_know_nothing_of_the_pipeline():
    assert not _imported_layers(BACKEND / "models.py") and "mks_db" not in (BACKEND / "models.py").read_text()


# The backend's application may share the pipeline's bottom only: one URL parser for its
# settings and the pipeline's (``database.urls``, which imports nothing else of mks_db), and the
# error they raise. Anything higher would make the application run the pipeline's code.
BACKEND_ALLOWED = {"mks_db.database.urls", "mks_db.errors"}


@pytest.mark.parametrize("path", sorted(BACKEND.rglob("*.py")), ids=lambda p: p.name)
def test_the_backend_uses_only_the_pipeline_s_url_parser_and_errors(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    wrong = {name for name in imported if name.split(".")[0] == "mks_db"} - BACKEND_ALLOWED
    assert not wrong, f"backend/mks/{path.name} imports {sorted(wrong)}"
    urls = PACKAGE / "database" / "urls.py"
    assert _imported_layers(urls) <= {"errors"}, "database.urls must stay free of the rest of mks_db"
