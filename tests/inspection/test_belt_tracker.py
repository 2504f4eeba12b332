"""The belt tracker on boxes as a camera over a conveyor sees them: moving right, cut by the
frame's edge as they enter and leave, missed now and then, sometimes faint."""

import numpy as np

from inspector.inspection.belt_tracker import BeltTracker, assign, edge_motion

SIZE = (1280, 720)


def box_at(x: float, y: float = 200.0, w: float = 200.0, h: float = 150.0) -> list[float]:
    return [max(0.0, x), y, min(1280.0, x + w), y + h]  # cut by the frame


def test_each_part_keeps_one_id_through_entering_leaving_and_missed_frames():
    tracker = BeltTracker()
    ids: dict[str, set[int]] = {"a": set(), "b": set()}
    for frame in range(110):
        xs = {"a": -190 + 15 * frame, "b": -500 + 15 * frame}  # two plates 310 px apart at 15 px/frame
        shown = {k: x for k, x in xs.items() if -200 < x < 1280 and frame % 7 != 3}  # every 7th frame missed
        names = list(shown)
        boxes = np.array([box_at(shown[k], y=200 if k == "a" else 210) for k in names]).reshape(-1, 4)
        for track_id, index, _ in tracker.update(frame, boxes, np.full(len(names), 0.9), SIZE):
            ids[names[index]].add(track_id)
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"]


def test_velocity_comes_from_the_edges_the_frame_does_not_cut():
    tracker = BeltTracker()
    tracker.update(0, np.array([box_at(-150)]), np.array([0.9]), SIZE)  # only its right edge is real
    ((_, _, velocity),) = tracker.update(1, np.array([box_at(-138)]), np.array([0.9]), SIZE)
    assert velocity == (12.0, 0.0), "the left edge sits at the frame's border: not motion"
    # cut on the left: x from the right edge alone; y from both edges; no y motion
    assert edge_motion((0.0, 10.0, 60.0, 50.0), (0.0, 10.0, 80.0, 50.0), SIZE, 1, (5.0, 5.0)) == (20.0, 0.0)
    # whole on both sightings, three frames apart
    assert edge_motion((100.0, 100.0, 200.0, 200.0), (130.0, 100.0, 230.0, 200.0), SIZE, 3, (0.0, 0.0)) == (
        10.0,
        0.0,
    )
    # a box the frame cuts on every side keeps its last velocity
    whole = (0.0, 0.0, 1280.0, 720.0)
    assert edge_motion(whole, whole, SIZE, 1, (7.0, 1.0)) == (7.0, 1.0)


def test_a_faint_box_continues_a_track_but_never_starts_one():
    tracker = BeltTracker(high=0.5, low=0.1)
    assert tracker.update(0, np.array([box_at(100)]), np.array([0.15]), SIZE) == []
    ((first, _, _),) = tracker.update(1, np.array([box_at(110)]), np.array([0.9]), SIZE)
    ((again, _, _),) = tracker.update(2, np.array([box_at(120)]), np.array([0.15]), SIZE)
    assert again == first


def test_a_track_unseen_for_longer_than_its_buffer_is_forgotten():
    tracker = BeltTracker(buffer=5)
    ((first, _, _),) = tracker.update(0, np.array([box_at(100)]), np.array([0.9]), SIZE)
    assert tracker.tracking == 1
    ((later, _, _),) = tracker.update(7, np.array([box_at(100)]), np.array([0.9]), SIZE)
    assert later != first and tracker.tracking == 1


def test_assignment_takes_the_most_overlap_in_all_and_nothing_below_the_threshold():
    tracks = [(0.0, 0.0, 10.0, 10.0), (100.0, 0.0, 110.0, 10.0)]
    # one box each, far apart: read off directly
    assert assign(tracks, [(101.0, 0.0, 111.0, 10.0), (1.0, 0.0, 11.0, 10.0)], 0.2) == [(0, 1), (1, 0)]
    # a box that overlaps too little is no match
    assert assign(tracks, [(8.0, 0.0, 18.0, 10.0)], 0.2) == []
    # two tracks want one box, one of them also another: the pairing that overlaps most in all
    crowded = [(0.0, 0.0, 10.0, 10.0), (3.0, 0.0, 13.0, 10.0)]
    boxes = [(2.0, 0.0, 12.0, 10.0), (6.0, 0.0, 16.0, 10.0)]
    assert sorted(assign(crowded, boxes, 0.2)) == [(0, 0), (1, 1)]
    assert assign([], boxes, 0.2) == [] and assign(crowded, [], 0.2) == []


def test_numpy_rows_are_taken_as_boxes():
    tracker = BeltTracker()
    ((first, _, _),) = tracker.update(0, np.array([box_at(100)]), np.array([0.9]), SIZE)
    ((again, index, velocity),) = tracker.update(1, [tuple(box_at(110))], [0.9], SIZE)
    assert again == first and index == 0 and velocity == (10.0, 0.0)
