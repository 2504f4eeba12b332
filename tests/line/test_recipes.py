"""Recipes: read from a TOML file, refused in one line when wrong, and chosen by the PLC mid-run."""

from __future__ import annotations

import threading
import time

import pytest
from pymodbus.client import ModbusTcpClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from inspector.errors import ConfigError
from inspector.lab.loopback_plc import LoopbackPlc
from inspector.line.config import LineConfig
from inspector.line.recipes import load_recipes
from inspector.line.station import Station
from inspector.outputs.config import OutputsConfig
from inspector.paths import demo_model_path
from inspector.storage.models import RunEvent

RECIPES = """
[[recipe]]
number = 1
name = "plates, every defect"
conf = 0.5

[[recipe]]
number = 2
name = "stains only"
classes = ["stain"]
min_frames = 4
exit_line = 0.9
"""


def write(tmp_path, text: str):
    path = tmp_path / "recipes.toml"
    path.write_text(text)
    return path


def test_a_recipes_file_gives_each_recipe_its_settings_and_leaves_the_rest(tmp_path):
    recipes = load_recipes(write(tmp_path, RECIPES))
    assert [r.label for r in recipes.values()] == ["1 · plates, every defect", "2 · stains only"]
    config = recipes[2].apply(LineConfig(min_confidence=0.6, seed=4))
    assert (config.defect_classes, config.min_frames, config.exit_line) == (("stain",), 4, 0.9)
    assert (config.min_confidence, config.seed) == (0.6, 4), "what it leaves out stays the station's"
    recipes[2].check(["scratch", "stain", "plate"], ["cam1"])
    with pytest.raises(ConfigError, match="recipe 2 · stains only: the model has no class stain"):
        recipes[2].check(["scratch", "plate"], ["cam1"])


def test_a_recipe_names_the_cameras_that_see_its_product_and_the_next_recipe_has_them_all(tmp_path):
    text = RECIPES + '\n[[recipe]]\nnumber = 3\nname = "top only"\ncameras = ["top"]\n'
    recipes = load_recipes(write(tmp_path, text))
    config = recipes[3].apply(LineConfig())
    assert config.judged_cameras == ("top",)
    assert recipes[1].apply(config).judged_cameras == (), "a recipe that lists none judges every camera"
    recipes[3].check(["scratch"], ["top", "side"])
    with pytest.raises(ConfigError, match=r"recipe 3 · top only: the line has no camera top \(it has cam1\)"):
        recipes[3].check(["scratch"], ["cam1"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[recipe]]\nnumber = 1\n", "recipe 1: give it a name"),
        ('[[recipe]]\nnumber = 0\nname = "a"\n', "number must be a whole number within 1..65535"),
        ('[[recipe]]\nnumber = "1"\nname = "a"\n', "number must be a whole number"),
        ('[[recipe]]\nnumber = 1\nname = "a"\nspeed = 3\n', "unknown setting speed"),
        ('[[recipe]]\nnumber = 1\nname = "a"\nconf = 3\n', "min confidence must be a number within 0..1"),
        ('[[recipe]]\nnumber = 1\nname = "a"\nmin_frames = "x"\n', "recipe 1:"),
        ('[[recipe]]\nnumber = 1\nname = "a"\nclasses = "dent"\n', "classes must be a list of class names"),
        ('[[recipe]]\nnumber = 1\nname = "a"\ncameras = "top"\n', "cameras must be a list of camera names"),
        ('[[recipe]]\nnumber = 1\nname = "a"\ncameras = []\n', "cameras names no camera"),
        (
            '[[recipe]]\nnumber = 1\nname = "a"\n[[recipe]]\nnumber = 1\nname = "b"\n',
            "two recipes have number 1",
        ),
        ("[recipe]\nnumber = 1\n", "expected one [[recipe]] table per recipe"),
        ("number = = 1", "recipes file"),
    ],
)
def test_a_wrong_recipes_file_is_one_line_that_names_what_is_wrong(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_recipes(write(tmp_path, text))


def test_the_plc_chooses_a_recipe_and_new_parts_are_judged_by_it(tmp_path):
    plc = LoopbackPlc().start()
    plant = OutputsConfig.parse("st", plc.url, None, None)
    station = Station(tmp_path / "d.sqlite", outputs=plant, recipes=load_recipes(write(tmp_path, RECIPES)))
    config = LineConfig(source="synthetic:fps=15", weights=str(demo_model_path()), device="cpu", imgsz=320)
    line = station.build_line(config)
    runner = threading.Thread(target=line.run)
    runner.start()
    asked = ModbusTcpClient("127.0.0.1", port=plc.port)
    try:
        deadline = time.monotonic() + 120
        while line.stats.parts < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        asked.connect()
        before = line.cameras[0].latest.get()[1].frame.index
        asked.write_register(17, 2, device_id=1)  # the PLC's own register: "recipe 2, please"
        while line.recipe is None and time.monotonic() < deadline:
            time.sleep(0.01)
        after = line.cameras[0].latest.get()[1].frame.index
        while line.stats.parts < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        asked.close()
        line.stop()
        runner.join(30)
    line.close()
    station.close()
    plc.stop()
    assert line.recipe is not None and line.recipe.number == 2 and station.recipe == line.recipe
    assert line.cameras[0].inspector.rules.defect_classes == frozenset({"stain"})
    assert plc.registers_now(0, 17)[16] == 2, "the recipe in force, told back to the PLC"
    with Session(station.db) as s:
        events = s.scalars(select(RunEvent).where(RunEvent.kind == "recipe")).all()
    assert [(e.detail, before <= e.frame_index <= after + 1) for e in events] == [("2 · stains only", True)]
