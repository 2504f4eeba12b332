"""A synthetic conveyor: machined plates and washers roll past a camera, some with defects.

Every frame is a pure function of ``(seed, frame index)``, and the line knows where it put each
defect, so detections can be scored against ground truth without labelling anything by hand.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from inspector.capture.base import Frame, FrameBuffers, PartTruth, TruthBox, make_frame

DEFECT_CLASSES: tuple[str, ...] = ("scratch", "dent", "stain", "missing_hole")
PART_CLASSES: tuple[str, ...] = ("plate", "washer")
LINE_CLASSES: tuple[str, ...] = DEFECT_CLASSES + PART_CLASSES
"""The classes the line produces, in the order the demo model's class ids follow."""

_MIN_VISIBLE = 0.5  # a defect cut by the frame edge counts while at least this much shows
_BELT_PERIOD = 480  # px between belt seams


@dataclass(frozen=True, slots=True)
class _Defect:
    class_name: str
    centre: tuple[int, int]  # sprite pixels
    mask: np.ndarray  # (h, w) uint8 over the sprite: where the defect shows


@dataclass(frozen=True, slots=True)
class _Sprite:
    """A part ready to blend into frames: each pixel's blend is worked out once, per channel (numpy
    multiplies a broadcast channel several times slower than a whole one), so that placing the part
    in a frame is three integer operations on its pixels."""

    shade: np.ndarray  # (h, w, 3) uint8: 255 - 6/10 of the blurred shadow's alpha, floored
    cover: np.ndarray  # (h, w, 3) uint8: 255 - the part's alpha
    paint: np.ndarray  # (h, w, 3) uint16: the part's BGR times its alpha
    defects: tuple[tuple[str, tuple[float, float, float, float]], ...]  # boxes in sprite pixels
    kind: str  # "plate" or "washer"
    box: tuple[float, float, float, float]  # the part itself, tight around its pixels

    @property
    def size(self) -> tuple[int, int]:
        """(h, w) in pixels."""
        return self.cover.shape[0], self.cover.shape[1]


@dataclass(frozen=True, slots=True)
class PartSpan:
    """A part that crossed the view: the frames with at least half of it in view, its kind, and the
    classes of the defects it carries (by their index on the part)."""

    part_id: int
    kind: str
    first_frame: int
    last_frame: int
    defects: tuple[str, ...]
    in_view: tuple[int, int]  # the frames showing any of it


@dataclass(frozen=True, slots=True)
class _PartPlan:
    width: int  # sprite width after rotation
    height: int
    start: int  # belt coordinate of the part's left edge (decreasing with index)
    y: int  # top of the sprite in frame pixels


class SyntheticConveyor:
    """Frame source rendering the synthetic line.

    ``fps`` > 0 paces frames like a camera (a live source); ``fps`` = 0 renders as fast as the
    reader asks and drops nothing, which is what evaluation and dataset export want.
    """

    live: bool

    def __init__(
        self,
        seed: int = 0,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        speed: float = 9.0,
        defect_rate: float = 0.6,
        frames: int | None = None,
    ) -> None:
        if width < 320 or height < 240:
            raise ValueError("the synthetic line needs at least 320x240 pixels")
        if fps < 0 or speed <= 0 or not 0.0 <= defect_rate <= 1.0:
            raise ValueError("synthetic line: fps >= 0, speed > 0 and 0 <= defect_rate <= 1")
        self.seed = seed
        self.width = width
        self.height = height
        self.fps = fps
        self.speed = speed
        self.defect_rate = defect_rate
        self.frames = frames
        self.live = fps > 0
        self.name = f"synthetic:seed={seed}"
        self.frame_pool: FrameBuffers | None = None
        self._scale = height / 720.0
        self._plans: list[_PartPlan] = []
        self._starts_neg: list[int] = []  # -start, increasing, for bisect
        self._next_index = 0
        self._next_due = 0.0
        self._cancelled = threading.Event()
        self._belt = self._make_belt()
        self._vignette = self._make_vignette()
        noise_rng = np.random.default_rng([seed, 7])
        noise = noise_rng.normal(0.0, 4.0, (height + 64, width + 64, 3))
        self._noise_pos = np.clip(noise, 0, 255).astype(np.uint8)
        self._noise_neg = np.clip(-noise, 0, 255).astype(np.uint8)
        self._sprite = lru_cache(maxsize=24)(self._render_sprite)

    # FrameSource -----------------------------------------------------------------------------
    def open(self) -> None:
        self._next_index = 0
        self._next_due = time.perf_counter()
        self._cancelled.clear()

    def cancel(self) -> None:
        self._cancelled.set()

    def read(self) -> Frame | None:
        if self.frames is not None and self._next_index >= self.frames:
            return None
        if self.live:
            delay = self._next_due - time.perf_counter()
            if delay > 0 and self._cancelled.wait(delay):
                return None
            self._next_due = max(self._next_due + 1.0 / self.fps, time.perf_counter() - 1.0)
        frame = self.render(self._next_index)
        self._next_index += 1
        return frame

    def close(self) -> None:
        self._sprite.cache_clear()

    # Rendering -------------------------------------------------------------------------------
    def render(self, index: int) -> Frame:
        """Render frame ``index`` with its ground truth (independent of what was rendered before)."""
        h, w = self.height, self.width
        offset = round(self.speed * index)
        belt_x = (-offset) % _BELT_PERIOD
        image = self._belt[:, belt_x : belt_x + w].copy()
        truth: list[TruthBox] = []
        truncated: list[TruthBox] = []
        parts: list[PartTruth] = []
        for part_id in self._visible_parts(offset):
            plan = self._plans[part_id]
            x = plan.start + offset
            sprite = self._sprite(part_id)
            self._composite(image, sprite, x, plan.y)
            boxes = [(sprite.kind, sprite.box, -1), *((c, b, i) for i, (c, b) in enumerate(sprite.defects))]
            for class_name, (bx1, by1, bx2, by2), n in boxes:
                box = _clip_box((bx1 + x, by1 + plan.y, bx2 + x, by2 + plan.y), w, h)
                if box is not None:
                    whole = _area(box) >= _MIN_VISIBLE * (bx2 - bx1) * (by2 - by1)
                    (truth if whole else truncated).append(TruthBox(class_name, *box, part=part_id, index=n))
            if x >= 0 and x + plan.width <= w:
                px1, py1, px2, py2 = sprite.box
                parts.append(
                    PartTruth(
                        part_id,
                        (float(px1 + x), float(py1 + plan.y), float(px2 + x), float(py2 + plan.y)),
                        tuple(
                            TruthBox(c, b[0] + x, b[1] + plan.y, b[2] + x, b[3] + plan.y, part_id, i)
                            for i, (c, b) in enumerate(sprite.defects)
                        ),
                        sprite.kind,
                    )
                )
        image = self._camera(image, index)
        return make_frame(image, index, truth=tuple(truth), truncated=tuple(truncated), parts=tuple(parts))

    def _camera(self, image: np.ndarray, index: int) -> np.ndarray:
        """Lighting drift, vignetting, occasional motion blur and sensor noise."""
        rng = np.random.default_rng([self.seed, index, 3])
        gain = 1.0 + 0.10 * math.sin(index / 90.0 + self.seed) + rng.normal(0.0, 0.02)
        image = cv2.multiply(image, self._vignette, scale=gain, dtype=cv2.CV_8U)
        blur = int(rng.choice([1, 1, 1, 3, 5]))
        if blur > 1:
            image = cv2.blur(image, (blur, 1))
        oy, ox = rng.integers(0, 64, size=2)
        sl = (slice(oy, oy + self.height), slice(ox, ox + self.width))
        image = cv2.add(image, self._noise_pos[sl])
        out = self.frame_pool.acquire(image.shape) if self.frame_pool is not None else None
        return cv2.subtract(image, self._noise_neg[sl], dst=out)

    def _make_belt(self) -> np.ndarray:
        h, w = self.height, self.width
        rng = np.random.default_rng([self.seed, 1])
        belt = np.empty((h, w + _BELT_PERIOD, 3), np.uint8)
        grain = rng.normal(0, 6, (h, _BELT_PERIOD)).astype(np.float32)
        grain = cv2.GaussianBlur(grain, (0, 0), 1.2)
        tile = 58 + grain
        tile[:, :3] -= 18  # seam
        tile = np.clip(tile, 0, 255).astype(np.uint8)
        reps = math.ceil((w + _BELT_PERIOD) / _BELT_PERIOD)
        row = np.tile(tile, (1, reps))[:, : w + _BELT_PERIOD]
        belt[...] = row[..., None]
        belt[..., 0] = cv2.add(belt[..., 0], 4)  # a slightly cool rubber
        rail = int(70 * self._scale)
        for y0, y1 in ((0, rail), (h - rail, h)):
            shade = np.linspace(150, 105, y1 - y0, dtype=np.float32)
            if y0 > 0:
                shade = shade[::-1]
            belt[y0:y1] = shade[:, None, None].astype(np.uint8)
            belt[y0:y1:9] = cv2.subtract(belt[y0:y1:9], 25)
        return belt

    def _make_vignette(self) -> np.ndarray:
        h, w = self.height, self.width
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - w * 0.55) / w) ** 2 + ((yy - h * 0.45) / h) ** 2
        v = np.clip(1.08 - 0.7 * r2, 0.6, 1.1).astype(np.float32)
        return cv2.merge([v, v, v])

    # Parts -----------------------------------------------------------------------------------
    def part_spans(self, frames: int) -> list[PartSpan]:
        """Every part at least half in view in some frame of ``0 .. frames - 1``, worked out from
        where the line puts its parts, without rendering a frame."""
        self._visible_parts(round(self.speed * max(0, frames - 1)))
        spans = []
        for part_id, plan in enumerate(self._plans):
            sprite = self._sprite(part_id)
            bx1, bx2 = sprite.box[0], sprite.box[2]
            enter = max(0, math.floor((-plan.start - bx2) / self.speed))
            leave = min(frames - 1, math.ceil((self.width - plan.start - bx1) / self.speed))
            shown = [
                t
                for t in range(enter, leave + 1)
                if _visible(plan.start + round(self.speed * t), bx1, bx2, self.width) >= _MIN_VISIBLE
            ]
            if shown:
                defects = tuple(c for c, _ in sprite.defects)
                spans.append(PartSpan(part_id, sprite.kind, shown[0], shown[-1], defects, (enter, leave)))
        return spans

    def part_boxes(self, part_id: int, index: int) -> tuple[TruthBox, tuple[TruthBox, ...]]:
        """Part ``part_id`` and its defects in frame ``index``, unclipped, in frame pixels."""
        plan, sprite = self._plans[part_id], self._sprite(part_id)
        x, y = plan.start + round(self.speed * index), plan.y
        px1, py1, px2, py2 = sprite.box
        own = TruthBox(sprite.kind, px1 + x, py1 + y, px2 + x, py2 + y, part_id, -1)
        defects = tuple(
            TruthBox(c, b[0] + x, b[1] + y, b[2] + x, b[3] + y, part_id, i)
            for i, (c, b) in enumerate(sprite.defects)
        )
        return own, defects

    def _visible_parts(self, offset: int) -> range:
        # part i occupies belt coordinates [start_i, start_i + width_i); frame x = start_i + offset
        while not self._plans or self._plans[-1].start + offset > -400 * self._scale:
            self._plan_next()
        first = bisect.bisect_left(self._starts_neg, offset - self.width)  # start + offset <= width
        first = max(0, first - 1)
        ids = [
            i
            for i in range(first, len(self._plans))
            if self._plans[i].start + offset < self.width
            and self._plans[i].start + offset + self._plans[i].width > 0
        ]
        return range(ids[0], ids[-1] + 1) if ids else range(0)

    def _plan_next(self) -> None:
        i = len(self._plans)
        rng = np.random.default_rng([self.seed, i, 11])
        h, w = self._sprite(i).size
        gap = int(rng.integers(30, 220) * self._scale)
        if i == 0:
            start = int(self.width * 0.55)
        else:
            prev = self._plans[-1]
            start = prev.start - gap - w
        belt_top = int(70 * self._scale)
        belt_h = self.height - 2 * belt_top
        y = belt_top + int(rng.integers(0, max(1, belt_h - h)))
        self._plans.append(_PartPlan(w, h, start, y))
        self._starts_neg.append(-start)

    def _render_sprite(self, part_id: int) -> _Sprite:
        rng = np.random.default_rng([self.seed, part_id, 13])
        kind = "plate" if rng.random() < 0.55 else "washer"
        k = self._scale
        if kind == "plate":
            rgb, alpha, holes, surface = _draw_plate(rng, k)
        else:
            rgb, alpha, holes, surface = _draw_washer(rng, k)
        defects: list[_Defect] = []
        if rng.random() < self.defect_rate:
            n = 1 + int(rng.random() < 0.35) + int(rng.random() < 0.1)
            for _ in range(n):
                defect = _add_defect(rng, rgb, alpha, holes, surface, kind, k, defects)
                if defect is not None:
                    defects.append(defect)
        angle = float(rng.uniform(-12, 12))
        rgb, alpha, rot = _rotate(rgb, alpha, angle)
        boxes = []
        for d in defects:
            # the box is taken from the rotated pixels, so it stays tight around a thin scratch
            mask = cv2.warpAffine(d.mask, rot, (alpha.shape[1], alpha.shape[0]), flags=cv2.INTER_LINEAR)
            ys, xs = np.nonzero(mask > 64)
            if len(xs) == 0:
                continue
            m = 2 * k
            boxes.append((d.class_name, (xs.min() - m, ys.min() - m, xs.max() + 1 + m, ys.max() + 1 + m)))
        shadow = cv2.GaussianBlur(alpha, (0, 0), 6 * k)
        ys, xs = np.nonzero(alpha > 64)
        part_box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        shade = 255 - (shadow.astype(np.uint16) * 6) // 10
        paint = rgb.astype(np.uint16) * alpha[..., None]
        return _Sprite(
            np.repeat(shade.astype(np.uint8)[..., None], 3, axis=2),
            np.repeat((255 - alpha)[..., None], 3, axis=2),
            paint,
            tuple(boxes),
            kind,
            part_box,
        )

    @staticmethod
    def _composite(image: np.ndarray, sprite: _Sprite, x: int, y: int) -> None:
        """Blend a part (and its soft shadow) into the frame, clipping at the edges: the shadow
        scales a pixel by ``shade / 255``, the part mixes in by its alpha, each floored."""
        h, w = image.shape[:2]
        sh, sw = sprite.size
        for layer, dx, dy in (("shadow", 7, 9), ("part", 0, 0)):
            sx0, sy0 = max(0, -(x + dx)), max(0, -(y + dy))
            fx0, fy0 = max(0, x + dx), max(0, y + dy)
            fx1, fy1 = min(w, x + dx + sw), min(h, y + dy + sh)
            if fx1 <= fx0 or fy1 <= fy0:
                continue
            region = image[fy0:fy1, fx0:fx1]
            crop = (slice(sy0, sy0 + fy1 - fy0), slice(sx0, sx0 + fx1 - fx0))
            mixed = region.astype(np.uint16)
            if layer == "shadow":
                mixed *= sprite.shade[crop]
            else:
                mixed *= sprite.cover[crop]
                mixed += sprite.paint[crop]
            np.copyto(region, _floor_255ths(mixed), casting="unsafe")


def _floor_255ths(x: np.ndarray) -> np.ndarray:
    """``x // 255`` in place for uint16 ``x`` up to 255 * 255, by shifts: numpy's integer division
    is the slowest step of a blend."""
    x += x >> 8
    x += 1
    x >>= 8
    return x


def _visible(x: float, bx1: float, bx2: float, width: int) -> float:
    """The share of a part's width inside the frame, its sprite at ``x``."""
    return max(0.0, min(width, x + bx2) - max(0.0, x + bx1)) / (bx2 - bx1)


def _area(box: tuple[float, float, float, float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _clip_box(
    box: tuple[float, float, float, float], w: int, h: int
) -> tuple[float, float, float, float] | None:
    x1, y1 = max(0.0, box[0]), max(0.0, box[1])
    x2, y2 = min(float(w), box[2]), min(float(h), box[3])
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def _metal(rng: np.random.Generator, h: int, w: int, base: float, tint: np.ndarray) -> np.ndarray:
    """Brushed metal: streaks along x, a soft light gradient across the part."""
    streaks = rng.normal(0, 14, (h, w)).astype(np.float32)
    streaks = cv2.blur(streaks, (41, 1))
    light = np.linspace(1.08, 0.88, h, dtype=np.float32)[:, None]
    gray = (base + streaks) * light
    return np.clip(gray[..., None] * tint[None, None, :], 0, 255).astype(np.float32)


def _draw_plate(rng: np.random.Generator, k: float):
    w = int(rng.integers(230, 300) * k)
    h = int(rng.integers(170, 225) * k)
    pad = int(8 * k)
    H, W = h + 2 * pad, w + 2 * pad
    tint = np.array([1.0, 1.0, 1.0]) * rng.uniform(0.96, 1.04, 3)
    rgb = _metal(rng, H, W, rng.uniform(150, 195), tint)
    alpha = np.zeros((H, W), np.uint8)
    r = int(14 * k)
    cv2.rectangle(alpha, (pad + r, pad), (pad + w - r, pad + h), 255, -1)
    cv2.rectangle(alpha, (pad, pad + r), (pad + w, pad + h - r), 255, -1)
    for cx, cy in (
        (pad + r, pad + r),
        (pad + w - r, pad + r),
        (pad + r, pad + h - r),
        (pad + w - r, pad + h - r),
    ):
        cv2.circle(alpha, (cx, cy), r, 255, -1, cv2.LINE_AA)
    edge = cv2.morphologyEx(alpha, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8))
    rgb *= (1.0 - 0.35 * (edge[..., None] / 255.0)).astype(np.float32)
    holes: list[tuple[int, int, int]] = []
    hr = int(rng.integers(11, 15) * k)
    inset = int(30 * k)
    for cx, cy in (
        (pad + inset, pad + inset),
        (pad + w - inset, pad + inset),
        (pad + inset, pad + h - inset),
        (pad + w - inset, pad + h - inset),
    ):
        holes.append((cx, cy, hr))
    bore = int(rng.integers(22, 34) * k)
    holes.append((W // 2, H // 2, bore))
    for cx, cy, rr in holes:
        cv2.circle(rgb, (cx, cy), rr + int(3 * k), (120, 120, 120), int(2 * k) + 1, cv2.LINE_AA)
        cv2.circle(alpha, (cx, cy), rr, 0, -1, cv2.LINE_AA)
    surface = alpha.copy()
    for cx, cy, rr in holes:
        cv2.circle(surface, (cx, cy), rr + int(10 * k), 0, -1)
    surface = cv2.erode(surface, np.ones((int(12 * k) | 1,) * 2, np.uint8))
    return rgb, alpha, holes, surface


def _draw_washer(rng: np.random.Generator, k: float):
    R = int(rng.integers(88, 118) * k)
    r = int(rng.integers(30, 44) * k)
    pad = int(8 * k)
    S = 2 * (R + pad)
    brass = rng.random() < 0.3
    tint = np.array([0.55, 0.85, 1.05]) if brass else np.array([1.02, 1.0, 0.97])
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    dist = np.hypot(xx - S / 2, yy - S / 2)
    ring = 1.0 + 0.12 * np.cos((dist - r) / max(1.0, R - r) * math.pi)
    ang = np.arctan2(yy - S / 2, xx - S / 2)
    spin = rng.normal(0, 10, 720).astype(np.float32)
    spin = np.convolve(np.concatenate([spin, spin[:15]]), np.ones(15) / 15, "valid")[:720]
    streak = spin[((ang + math.pi) / (2 * math.pi) * 719).astype(np.int32)]
    gray = (rng.uniform(140, 190) + streak) * ring
    rgb = np.clip(gray[..., None] * tint[None, None, :], 0, 255).astype(np.float32)
    alpha = np.zeros((S, S), np.uint8)
    c = (S // 2, S // 2)
    cv2.circle(alpha, c, R, 255, -1, cv2.LINE_AA)
    cv2.circle(alpha, c, r, 0, -1, cv2.LINE_AA)
    edge = cv2.morphologyEx(alpha, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8))
    rgb *= (1.0 - 0.35 * (edge[..., None] / 255.0)).astype(np.float32)
    surface = np.zeros_like(alpha)
    cv2.circle(surface, c, R - int(14 * k), 255, -1)
    cv2.circle(surface, c, r + int(14 * k), 0, -1)
    return rgb, alpha, [(c[0], c[1], r)], surface


def _add_defect(rng, rgb, alpha, holes, surface, kind, k, existing) -> _Defect | None:
    """Paint one defect onto the part and return where it shows (None when it found no room)."""
    classes = ["scratch", "dent", "stain"] + (["missing_hole"] if kind == "plate" else [])
    cls = str(rng.choice(classes))
    mask = np.zeros(alpha.shape, np.uint8)
    if cls == "missing_hole":
        cx, cy, rr = holes[int(rng.integers(0, 4))]
        if any(d.centre == (cx, cy) for d in existing):
            return None
        cv2.circle(alpha, (cx, cy), rr + 1, 255, -1)
        cv2.circle(rgb, (cx, cy), rr + int(5 * k), tuple(float(v) for v in rgb[cy, cx - rr - 8]), -1)
        cv2.circle(mask, (cx, cy), rr + int(4 * k), 255, -1)
        return _Defect(cls, (cx, cy), mask)
    ys, xs = np.nonzero(surface)
    for _ in range(20):
        j = int(rng.integers(0, len(xs)))
        cx, cy = int(xs[j]), int(ys[j])
        if all(math.hypot(d.centre[0] - cx, d.centre[1] - cy) > 85 * k for d in existing):
            break
    else:
        return None
    if cls == "scratch":
        # a groove: a dark cut with a bright burr along one side, wide enough to survive the
        # camera's resolution and the model's downscaling; only what lies on the part shows
        length = rng.uniform(60, 140) * k
        theta = rng.uniform(0, math.pi)
        t = np.linspace(-0.5, 0.5, 8)
        bend = rng.normal(0, 0.04, 8).cumsum()
        px = cx + t * length * math.cos(theta) - bend * length * math.sin(theta)
        py = cy + t * length * math.sin(theta) + bend * length * math.cos(theta)
        pts = np.stack([px, py], 1)
        normal = np.array([-math.sin(theta), math.cos(theta)]) * 2.5 * k
        on_part = cv2.erode(alpha, np.ones((5, 5), np.uint8)).astype(np.float32) / 255.0
        cut = float(rng.uniform(45, 85))
        for offset, width, colour in ((normal, round(2 * k), 240.0), (0.0, round(3 * k), cut)):
            line = np.zeros(alpha.shape, np.uint8)
            cv2.polylines(line, [(pts + offset).astype(np.int32)], False, 255, max(1, width), cv2.LINE_AA)
            weight = (line.astype(np.float32) / 255.0 * on_part)[..., None]
            rgb[...] = rgb * (1 - weight) + colour * weight
            mask = np.maximum(mask, (weight[..., 0] * 255).astype(np.uint8))
        if int((mask > 64).sum()) < 0.5 * length * 2 * k:
            return None  # it fell off the part
        return _Defect(cls, (cx, cy), mask)
    if cls == "dent":
        r = rng.uniform(9, 17) * k
        ax = (int(r), int(r * rng.uniform(0.7, 1.0)))
        ang = float(rng.uniform(0, 180))
        cv2.ellipse(rgb, (cx, cy), ax, ang, 0, 360, (55, 55, 55), -1, cv2.LINE_AA)
        cv2.ellipse(
            rgb,
            (cx - 2, cy - 2),
            (max(1, ax[0] - 4), max(1, ax[1] - 4)),
            ang,
            180,
            300,
            (225, 225, 225),
            max(1, int(2 * k)),
            cv2.LINE_AA,
        )
        cv2.ellipse(rgb, (cx, cy), (ax[0] + 3, ax[1] + 3), ang, 0, 360, (110, 110, 110), 1, cv2.LINE_AA)
        cv2.ellipse(mask, (cx, cy), (ax[0] + 3, ax[1] + 3), ang, 0, 360, 255, -1)
        return _Defect(cls, (cx, cy), mask)
    # stain: an irregular translucent blot of oil or coolant residue
    blot = np.zeros(rgb.shape[:2], np.float32)
    size = rng.uniform(14, 28) * k
    for _ in range(int(rng.integers(3, 7))):
        ox, oy = rng.normal(0, size * 0.45, 2)
        cv2.ellipse(
            blot,
            (int(cx + ox), int(cy + oy)),
            (int(size * rng.uniform(0.4, 0.8)), int(size * rng.uniform(0.3, 0.6))),
            float(rng.uniform(0, 180)),
            0,
            360,
            1.0,
            -1,
            cv2.LINE_AA,
        )
    blot = cv2.GaussianBlur(blot, (0, 0), 2.0 * k) * (surface > 0)
    colour = np.array(rng.choice([[30, 60, 95], [40, 45, 50], [20, 90, 110]]), np.float32)
    strength = rng.uniform(0.55, 0.8)
    rgb[...] = rgb * (1 - strength * blot[..., None]) + colour * strength * blot[..., None]
    mask[blot > 0.25] = 255
    if not mask.any():
        return None
    return _Defect(cls, (cx, cy), mask)


def _rotate(rgb: np.ndarray, alpha: np.ndarray, angle: float):
    h, w = alpha.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(rot[0, 0]), abs(rot[0, 1])
    nw, nh = int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2
    rot[0, 2] += nw / 2 - w / 2
    rot[1, 2] += nh / 2 - h / 2
    rgb8 = np.clip(rgb, 0, 255).astype(np.uint8)
    rgb_r = cv2.warpAffine(rgb8, rot, (nw, nh), flags=cv2.INTER_LINEAR)
    alpha_r = cv2.warpAffine(alpha, rot, (nw, nh), flags=cv2.INTER_LINEAR)
    return rgb_r, alpha_r, rot
