"""The eager ⇄ compiled policy without a window: a real engine, a real compile worker, real frames.

Compiles are for 160 px on the CPU and share the test run's compile cache, so after the first one
each takes seconds.
"""

import threading

import pytest

from inspector.capture.synthetic import SyntheticConveyor
from inspector.inference.backends import CompiledBackend
from inspector.inference.engine import Engine
from inspector.line.switch import (
    CANCELLED,
    FAILED,
    FELL_BACK,
    PROGRESS,
    READY,
    SWAPPED,
    BackendSwitch,
    SwitchEvent,
)

SHAPE = (720, 1280)


class Events:
    """What the switch said, in order, with a wait for a kind."""

    def __init__(self) -> None:
        self.seen: list[SwitchEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: SwitchEvent) -> None:
        with self._cond:
            self.seen.append(event)
            self._cond.notify_all()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.seen if e.kind != PROGRESS]

    def wait_for(self, kind: str, timeout: float = 600) -> SwitchEvent:
        with self._cond:
            assert self._cond.wait_for(lambda: any(e.kind == kind for e in self.seen), timeout), self.kinds()
            return next(e for e in self.seen if e.kind == kind)


@pytest.fixture
def frames():
    line = SyntheticConveyor(seed=7, fps=0)
    return [line.render(i) for i in range(0, 400, 20)]


@pytest.fixture
def switch(demo_model):
    engine = Engine(demo_model, imgsz=160)
    s = BackendSwitch(engine, CompiledBackend(demo_model, 160, "default"), "default")
    events = Events()
    s.subscribe(events)
    s.events = events
    yield s
    s.close()


def test_eager_is_in_charge_until_asked_and_flipping_to_eager_needs_no_compile(switch, frames):
    assert switch.at_frame_boundary(frames[0]) is False
    switch.want_eager()
    switch.at_frame_boundary(frames[1])
    assert switch.engine.backend is switch.engine.eager and switch.events.kinds() == []
    assert not switch.compiling


def test_a_compile_asked_before_the_first_frame_waits_for_it_to_know_the_size(switch, frames):
    switch.want_compiled("default")
    assert not switch.compiling, "no frame yet: the frame size is unknown"
    switch.cancel()  # nothing running: nothing to say
    assert switch.events.kinds() == []


@pytest.mark.slow
def test_compiled_swaps_in_on_a_frame_boundary_and_eager_takes_over_when_it_breaks(switch, frames):
    engine = switch.engine
    switch.at_frame_boundary(frames[0])
    switch.want_compiled("default")
    assert switch.compiling
    ready = switch.events.wait_for(READY)
    assert not ready.ahead and ready.progress.stage == "ready"
    assert engine.backend is engine.eager, "ready, but nothing swaps between two frames"
    switch.at_frame_boundary(frames[1])
    swapped = switch.events.wait_for(SWAPPED)
    assert swapped.frame == frames[1].index and swapped.detail == "compiled (default)"
    assert engine.detect(frames[1].image).backend == "compiled (default)"

    switch.compiled._process.kill()  # the worker dies mid-run
    switch.compiled._process.join(5)
    out = engine.detect(frames[2].image)
    switch.after_frame(frames[2])
    fell = switch.events.wait_for(FELL_BACK)
    assert out.backend == "eager" and fell.frame == frames[2].index and "worker exited" in fell.detail
    assert switch.wanted == "eager" and engine.backend is engine.eager

    # asked again, the backend compiles anew (from the cache) and swaps in again
    switch.want_compiled("default")
    assert switch.compiling
    switch.events.seen.clear()
    switch.events.wait_for(READY)
    switch.at_frame_boundary(frames[3])
    assert switch.events.wait_for(SWAPPED).frame == frames[3].index

    switch.want_eager()
    assert engine.backend is not engine.eager, "eager too waits for the frame boundary"
    switch.at_frame_boundary(frames[4])
    assert engine.backend is engine.eager and switch.events.seen[-1].detail == "eager"


@pytest.mark.slow
def test_a_run_that_waits_compiles_at_its_first_frame_in_its_own_thread(switch, frames):
    switch.want_compiled("default", wait=True)
    assert switch.at_frame_boundary(frames[0]) is True
    assert switch.events.kinds() == [READY, SWAPPED]
    assert switch.events.seen[-1].frame == frames[0].index
    assert switch.engine.backend is switch.compiled and not switch.compiling


@pytest.mark.slow
def test_a_compile_the_cache_holds_is_done_ahead_without_swapping(demo_model, frames):
    warm = CompiledBackend(demo_model, 160, "default")
    try:
        warm.prepare(SHAPE)  # the cache now holds this compile, as after an earlier switch
    finally:
        warm.close()
    engine = Engine(demo_model, imgsz=160)
    compiled = CompiledBackend(demo_model, 160, "default")
    switch = BackendSwitch(engine, compiled, "default", compiles_ahead=True)
    events = Events()
    switch.subscribe(events)
    try:
        switch.at_frame_boundary(frames[0])
        assert switch.compiling_ahead
        ready = events.wait_for(READY)
        assert ready.ahead and "cache" in ready.progress.detail
        switch.at_frame_boundary(frames[1])
        assert engine.backend is engine.eager, "nobody asked for compiled"
        switch.want_compiled("default")
        assert events.kinds()[-1] == READY and events.seen[-1].detail == "compiled earlier in this run"
        switch.at_frame_boundary(frames[2])
        assert engine.backend is switch.compiled and events.seen[-1].frame == frames[2].index
    finally:
        switch.close()


@pytest.mark.slow
def test_cancel_stops_the_operator_s_compile_and_a_compile_ahead_survives_a_flip_to_eager(switch, frames):
    switch.at_frame_boundary(frames[0])
    switch.want_compiled("default")
    switch.cancel()
    assert switch.events.kinds() == [CANCELLED] and not switch.events.seen[-1].ahead
    assert switch.wanted == "eager" and not switch.compiling
    switch.at_frame_boundary(frames[1])
    assert switch.engine.backend is switch.engine.eager

    switch.want_compiled("default")
    switch.want_eager()  # the operator's compile: cancelled with the flip
    assert switch.events.kinds() == [CANCELLED, CANCELLED] and not switch.compiling


@pytest.mark.slow
def test_a_failing_compile_says_why_and_eager_stays(demo_model, frames, monkeypatch, tmp_path):
    # The compile worker inherits this: no working C++ compiler and a cold cache.
    monkeypatch.setenv("CXX", "/bin/false")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    engine = Engine(demo_model, imgsz=160)
    switch = BackendSwitch(engine, CompiledBackend(demo_model, 160, "default"), "default")
    events = Events()
    switch.subscribe(events)
    try:
        switch.at_frame_boundary(frames[0])
        switch.want_compiled("default")
        failed = events.wait_for(FAILED)
        assert not failed.ahead and "torch.compile failed" in failed.detail
        assert switch.wanted == "eager" and not switch.compiling
        switch.at_frame_boundary(frames[1])
        assert engine.backend is engine.eager
    finally:
        switch.close()
