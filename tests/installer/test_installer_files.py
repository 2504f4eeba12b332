"""The installer's inputs: the spec's data files, the desktop entry, and the install/uninstall scripts.

The frozen build itself is heavy (minutes, gigabytes) and is checked by installer/build.sh.
"""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"


def _spec_list(name: str) -> list:
    """A literal list assigned at the top level of the spec, read without running PyInstaller."""
    tree = ast.parse((INSTALLER / "inspector.spec").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"inspector.spec assigns no {name}")


def test_spec_data_files_exist() -> None:
    data = _spec_list("PROJECT_DATA")
    sources = {source for source, _ in data}
    assert "resources/models/inspector-demo.pt" in sources, "the bundle must carry the demo model"
    assert "resources/icons/inspector.png" in sources
    missing = [source for source in sources if not (ROOT / source).is_file()]
    assert not missing, f"the spec bundles files that do not exist: {missing}"
    # the frozen app finds them where inspector.paths looks in a checkout: under resources/
    assert all(target.startswith("resources/") for _, target in data)


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(INSTALLER / "inspector.desktop.in")
    return parser["Desktop Entry"]


def test_desktop_entry_is_complete() -> None:
    entry = _desktop_entry()
    for key in ("Type", "Name", "Exec", "Icon", "Categories"):
        assert entry.get(key), f"desktop entry lacks {key}"
    assert entry["Type"] == "Application"
    assert entry["Exec"] == "@BINARY@"
    assert entry["Categories"].endswith(";")
    assert (ROOT / "resources" / "icons" / f"{entry['Icon']}.svg").is_file()


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    """A folder shaped like PyInstaller's output, whose executable reports its arguments."""
    bundle = tmp_path / "dist" / "inspector"
    icons = bundle / "_internal" / "resources" / "icons"
    icons.mkdir(parents=True)
    for icon in (ROOT / "resources" / "icons").iterdir():
        shutil.copy(icon, icons)
    exe = bundle / "inspector"
    exe.write_text('#!/bin/sh\necho "launched with $*"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return bundle


def _script(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [str(INSTALLER / name), *map(str, args)], capture_output=True, text=True, env=env, check=False
    )


def test_install_registers_the_entry_and_uninstall_removes_everything(bundle: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    installed = _script("install.sh", "--prefix", prefix, "--bundle", bundle)
    assert installed.returncode == 0, installed.stderr

    entry_file = prefix / "share" / "applications" / "inspector.desktop"
    validator = shutil.which("desktop-file-validate")  # Debian's desktop-file-utils, where installed
    if validator:
        subprocess.run([validator, str(entry_file)], check=True)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(entry_file)
    command = parser["Desktop Entry"]["Exec"]
    assert command == str(prefix / "lib" / "inspector" / "inspector")
    launched = subprocess.run([command, "--exit-after", "1"], capture_output=True, text=True, check=True)
    assert launched.stdout.strip() == "launched with --exit-after 1"
    assert (prefix / "bin" / "inspector").resolve() == Path(command)
    assert (prefix / "share" / "icons" / "hicolor" / "scalable" / "apps" / "inspector.svg").is_file()
    assert (prefix / "share" / "icons" / "hicolor" / "256x256" / "apps" / "inspector.png").is_file()

    removed = _script("uninstall.sh", "--prefix", prefix)
    assert removed.returncode == 0, removed.stderr
    left = [p for p in prefix.rglob("*") if p.is_file() or p.is_symlink()]
    assert not left, f"uninstall left {left}"


def test_install_without_a_bundle_says_what_to_do(tmp_path: Path) -> None:
    result = _script("install.sh", "--prefix", tmp_path / "prefix", "--bundle", tmp_path / "nothing")
    assert result.returncode == 2
    assert "run installer/build.sh first" in result.stderr
    assert not (tmp_path / "prefix" / "lib").exists()
