"""Naming a line's cameras, and the file that lists them."""

import pytest

from inspector.errors import ConfigError
from inspector.line.cameras import MAX_CAMERAS, named_sources, read_sources
from inspector.line.config import LineConfig


def test_cameras_are_named_by_their_place_unless_named():
    assert named_sources(("synthetic:seed=3", "top=rtsp://u:p@10.0.0.5/s?a=b", " side = 1")) == [
        ("cam1", "synthetic:seed=3"),
        ("top", "rtsp://u:p@10.0.0.5/s?a=b"),
        ("cam3", "side = 1"),  # a name has no spaces: this is all one source text
    ]
    assert LineConfig(source="0").camera_sources() == [("cam1", "0")]


def test_a_path_that_exists_is_a_source_even_with_an_equals_sign(tmp_path):
    video = tmp_path / "a=b.mp4"
    video.write_bytes(b"")
    assert named_sources((str(video),)) == [("cam1", str(video))]


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (("top=0", "top=1"), "two cameras are named top"),
        (("cam2=0", "1"), "two cameras are named cam2"),
        (("top=",), "camera top has no source"),
        ((), "at least one camera"),
        (("0",) * (MAX_CAMERAS + 1), f"at most {MAX_CAMERAS}"),
    ],
)
def test_camera_lists_a_line_cannot_run_are_refused(specs, message):
    with pytest.raises(ConfigError, match=message):
        named_sources(specs)
    if specs:
        with pytest.raises(ConfigError, match=message):
            LineConfig(source="synthetic", cameras=specs)


def test_a_sources_file_skips_blanks_and_comments(tmp_path):
    listing = tmp_path / "cameras.txt"
    listing.write_text("# the press line\ntop=synthetic:seed=1\n\n  side=rtsp://h/s#frag  # the side\n")
    assert read_sources(listing) == ("top=synthetic:seed=1", "side=rtsp://h/s#frag")
    listing.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="names no camera"):
        read_sources(listing)
    with pytest.raises(ConfigError, match="cannot read the sources file"):
        read_sources(tmp_path / "missing.txt")
