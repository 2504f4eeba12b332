import threading
import time
from datetime import UTC, datetime

import numpy as np

from inspector.capture.base import SourceError, make_frame
from inspector.capture.synthetic import SyntheticConveyor
from inspector.inference.engine import Engine
from inspector.inspection.rules import InspectionRules
from inspector.pipeline import FrameSlot, Inspector, capture_loop
from inspector.storage.database import open_database
from inspector.storage.queries import query_defects
from inspector.storage.writer import DefectWriter, RunInfo


def frame(i):
    return make_frame(np.zeros((4, 4, 3), np.uint8), i)


def test_live_slot_keeps_the_newest_and_counts_drops():
    slot, stop = FrameSlot(keep_latest=True), threading.Event()
    for i in range(5):
        slot.put(frame(i), stop)
    assert slot.take(0).index == 4
    assert slot.dropped == 4
    assert slot.take(0.01) is None and not slot.closed


def test_recorded_slot_hands_over_every_frame_in_order():
    slot, stop = FrameSlot(keep_latest=False), threading.Event()
    producer = threading.Thread(target=lambda: [slot.put(frame(i), stop) for i in range(50)] and slot.close())
    producer.start()
    got = []
    while (f := slot.take(1.0)) is not None:
        got.append(f.index)
        time.sleep(0.001)
    producer.join()
    assert got == list(range(50)) and slot.dropped == 0 and slot.closed


def test_capture_loop_opens_reads_and_closes_in_its_thread_and_reports_errors():
    class Source:
        name, live = "probe", False

        def __init__(self):
            self.threads = []
            self.n = 0

        def open(self):
            self.threads.append(("open", threading.get_ident()))

        def read(self):
            self.n += 1
            if self.n > 3:
                raise SourceError("probe unplugged")
            return frame(self.n)

        def cancel(self):
            pass

        def close(self):
            self.threads.append(("close", threading.get_ident()))

    source, slot, stop = Source(), FrameSlot(keep_latest=False), threading.Event()
    t = threading.Thread(target=capture_loop, args=(source, slot, stop))
    t.start()
    got = [slot.take(1).index for _ in range(3)]
    t.join(2)
    assert got == [1, 2, 3]
    assert slot.closed and slot.error == "probe unplugged"
    assert {ident for _, ident in source.threads} == {t.ident}
    assert [name for name, _ in source.threads] == ["open", "close"]


def test_inspector_logs_only_defects_that_pass_the_rules(demo_model, db_path):
    engine = open_database(db_path)
    writer = DefectWriter(engine, db_path).start()
    run_id = writer.begin_run(RunInfo("synthetic", "demo.pt", None, "eager", "cpu"))
    inspector = Inspector(Engine(demo_model, imgsz=416), InspectionRules(frozenset({"dent"})), writer, run_id)
    line = SyntheticConveyor(seed=21, fps=0)
    results = [inspector.process(line.render(i)) for i in range(0, 200, 10)]
    writer.stop()
    rows = query_defects(engine, limit=1000)
    assert len(rows) == inspector.defects_logged == sum(len(r.verdict.defects) for r in results) > 0
    assert {r.class_name for r in rows} == {"dent"}
    seen = {r.frame.index: datetime.fromtimestamp(r.frame.wall_time, UTC) for r in results}
    assert all(row.detected_at == seen[row.frame_index].replace(tzinfo=None) for row in rows), "frame's time"
    assert any(d.class_name != "dent" for r in results for d in r.detections), "other classes were seen"
    assert all(r.latency_ms >= r.times.infer_ms for r in results)
