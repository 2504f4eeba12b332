"""Recipes: named, numbered sets of judging settings, one per product the line makes.

A recipes file (``--recipes FILE``) is TOML, one ``[[recipe]]`` table each::

    [[recipe]]
    number = 1                       # what a PLC writes to select it (1..65535)
    name = "plates, every defect"
    conf = 0.5                       # optional, as --conf
    classes = ["scratch", "dent"]    # optional, as --classes (default: every class not a part)
    part_classes = ["plate"]         # optional, as --part-classes
    min_frames = 3                   # optional, as --min-frames
    exit_line = 0.8                  # optional, as --exit-line
    trigger = false                  # optional: true judges one frame per trigger (see the README)
    cameras = ["top", "side"]        # optional: the cameras that see this product (default: all)

A setting a recipe leaves out keeps the station's. A recipe changes how parts are judged, not the
model: parts already in view when it changes are judged by the recipe they came in under. A
camera a recipe leaves out keeps capturing, but its frames are let go uninspected while it is in
force (a product that one side of the station does not see).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.errors import ConfigError
from inspector.line.config import LineConfig

_SETTINGS = {
    "conf": "min_confidence",
    "classes": "defect_classes",
    "part_classes": "part_classes",
    "min_frames": "min_frames",
    "exit_line": "exit_line",
    "trigger": "trigger",
    "cameras": "judged_cameras",
}


@dataclass(frozen=True)
class Recipe:
    number: int
    name: str
    settings: tuple[tuple[str, Any], ...] = ()  # (LineConfig field, value), only those it sets

    @property
    def label(self) -> str:
        return f"{self.number} · {self.name}"

    @property
    def cameras(self) -> tuple[str, ...]:
        """The cameras whose frames it judges (none named: every camera)."""
        return dict(self.settings).get("judged_cameras", ())

    def apply(self, config: LineConfig) -> LineConfig:
        """``config`` with this recipe's settings (every camera, unless it lists some); raises
        ``ConfigError`` on a value out of range."""
        return config.with_(**{**dict(self.settings), "judged_cameras": self.cameras})

    def check(self, names: Iterable[str], cameras: Iterable[str]) -> None:
        """Refuse a recipe that names a class the model does not have (it would never match), or a
        camera the line does not have."""
        known, line_cameras = set(names), list(cameras)
        for field, value in self.settings:
            if field in ("defect_classes", "part_classes") and set(value) - known:
                missing = ", ".join(sorted(set(value) - known))
                raise ConfigError(f"recipe {self.label}: the model has no class {missing}")
            if field == "judged_cameras" and set(value) - set(line_cameras):
                missing = ", ".join(sorted(set(value) - set(line_cameras)))
                has = ", ".join(line_cameras)
                raise ConfigError(f"recipe {self.label}: the line has no camera {missing} (it has {has})")


def load_recipes(path: Path) -> dict[int, Recipe]:
    """The recipes in ``path`` by number; anything wrong is one ``ConfigError`` naming it."""
    try:
        data = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"recipes file {path} not found") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"recipes file {path}: {exc}") from exc
    tables = data.get("recipe")
    if not isinstance(tables, list) or not tables or set(data) != {"recipe"}:
        raise ConfigError(f"recipes file {path}: expected one [[recipe]] table per recipe")
    recipes: dict[int, Recipe] = {}
    for i, table in enumerate(tables, start=1):
        recipe = _recipe(table, f"recipes file {path}, recipe {i}")
        if recipe.number in recipes:
            raise ConfigError(f"recipes file {path}: two recipes have number {recipe.number}")
        recipes[recipe.number] = recipe
    return recipes


def _recipe(table: Mapping[str, Any], where: str) -> Recipe:
    unknown = set(table) - {"number", "name", *_SETTINGS}
    if unknown:
        raise ConfigError(f"{where}: unknown setting {', '.join(sorted(unknown))}")
    number, name = table.get("number"), table.get("name")
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
        raise ConfigError(f"{where}: number must be a whole number within 1..65535, got {number!r}")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: give it a name")
    settings = []
    for key, field in _SETTINGS.items():
        if key not in table:
            continue
        value = table[key]
        if key == "trigger" and not isinstance(value, bool):
            raise ConfigError(f"{where}: trigger must be true or false")
        if key in ("classes", "part_classes", "cameras"):
            what = "camera" if key == "cameras" else "class"
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ConfigError(f"{where}: {key} must be a list of {what} names")
            value = tuple(v.strip() for v in value)
            if key == "cameras" and not value:
                raise ConfigError(f"{where}: cameras names no camera (leave it out for all of them)")
        settings.append((field, value))
    recipe = Recipe(number, name.strip(), tuple(settings))
    try:
        recipe.apply(LineConfig())
    except (TypeError, ValueError) as exc:  # a number given as text, say
        raise ConfigError(f"{where}: {exc}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return recipe
