"""Qt depends on the core, never the reverse: the contract in pyproject.toml, checked by import-linter
over every import statement (those inside functions too), so the core stays testable without a display."""

import pkgutil
import tomllib
from pathlib import Path

from importlinter.cli import lint_imports

import inspector

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
QT_SIDE = {"ui", "cli", "__main__"}  # the window, and the command that opens it lazily


def test_the_core_imports_no_qt():
    assert lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True) == 0


def test_the_contract_covers_every_core_module():
    contract = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"][0]
    core = {f"inspector.{m.name}" for m in pkgutil.iter_modules(inspector.__path__) if m.name not in QT_SIDE}
    assert set(contract["source_modules"]) == core
