"""The live picture: the newest frame, scaled to fit, with boxes and the verdict, or the line's state
when it is not inspecting live."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from inspector.inspection.parts import PartVerdict
from inspector.pipeline import InspectionResult

# Colour-blind-safe (Okabe-Ito) colours, one per class id; stable for a given model.
CLASS_COLOURS = ("#E69F00", "#56B4E9", "#CC79A7", "#F0E442", "#0072B2", "#D55E00", "#009E73", "#FFFFFF")
PASS_COLOUR = QColor("#1B9E4B")
FAIL_COLOUR = QColor("#D62728")
PART_COLOUR = QColor("#E8E8E8")  # a part not decided yet
WAITING_COLOUR = QColor("#555B63")

# The line's states when it is not inspecting live, as the verdict area names them
STARTING, STOPPED, PAUSED = "STARTING", "STOPPED", "PAUSED"
SOURCE_LOST, SOURCE_ENDED, NO_FRAMES = "SOURCE LOST", "SOURCE ENDED", "NO NEW FRAMES"
LEFT_OUT = "NOT IN RECIPE"  # a camera the recipe in force does not judge
STATE_COLOURS = {
    STARTING: QColor("#555B63"),
    STOPPED: QColor("#555B63"),
    PAUSED: QColor("#2F5D8A"),
    SOURCE_LOST: QColor("#B25E00"),
    SOURCE_ENDED: QColor("#555B63"),
    NO_FRAMES: QColor("#B25E00"),
    LEFT_OUT: QColor("#555B63"),
}
STALE_S = 1.0  # a verdict older than this is not shown as current


THUMBNAIL_MIN_WIDTH = 110  # a thumbnail's verdict ("NG · Part 123") stays whole at this width


def class_colour(class_id: int) -> QColor:
    return QColor(CLASS_COLOURS[class_id % len(CLASS_COLOURS)])


def frame_to_qimage(image: np.ndarray) -> QImage:
    """Wrap the BGR frame without copying; the caller keeps ``image`` alive while it is shown."""
    h, w = image.shape[:2]
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_BGR888)


class LiveView(QWidget):
    """One camera's newest frame with its parts, defects and verdict; ``compact``: a thumbnail of
    a line of several cameras (smaller text), ``title``: the camera's name, in a corner."""

    def __init__(self, compact: bool = False) -> None:
        super().__init__()
        self.compact = compact
        self.title = ""
        self.setMinimumSize(*((THUMBNAIL_MIN_WIDTH, 56) if compact else (480, 300)))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._result: InspectionResult | None = None
        self._image: QImage | None = None
        self.state: str | None = STOPPED  # what the line is doing when it is not inspecting live
        self.shown = 0  # new results handed to the view (repaints of the same one do not count)
        self.part_classes: frozenset[str] = frozenset()  # drawn as parts, with their ids, not as defects
        self._last_part: PartVerdict | None = None

    def show_result(self, result: InspectionResult, last_part: PartVerdict | None = None) -> None:
        """The newest frame; ``last_part`` is the line's last decided part, the verdict to show."""
        self._last_part = last_part
        self._result = result
        self._image = frame_to_qimage(result.frame.image)  # the frame (kept in _result) owns the pixels
        self.shown += 1
        self.update()

    def show_state(self, state: str | None) -> None:
        """The line is not inspecting live (STOPPED, PAUSED, SOURCE LOST, ...): the last frame is
        dimmed and the state takes the verdict's place, so no old verdict passes for a current one.
        ``None``: live (a new line starts with no frame at all)."""
        if state is None and self.state in (STARTING, STOPPED, SOURCE_LOST, SOURCE_ENDED):
            self._result = self._image = None  # the last line's frame is not this line's
        self.state = state
        self.update()

    def banner(self) -> tuple[str, QColor, bool]:
        """What the verdict area says now, its colour, and whether it is live: the line's state, a
        warning that frames stopped coming, or the verdict."""
        if self.state is not None:
            return self.state, STATE_COLOURS.get(self.state, WAITING_COLOUR), False
        if self._result is not None and time.perf_counter() - self._result.done_at > STALE_S:
            return NO_FRAMES, STATE_COLOURS[NO_FRAMES], False
        verdict = self._part_verdict() if self.part_classes else self._frame_verdict()
        return (*verdict, True)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#111418"))
        if self._result is None or self._image is None:
            if self.state:  # in its colour, where a verdict would be: the same sign as with a picture
                text, colour, _ = self.banner()
                self._draw_banner(p, QRectF(self.rect()), text, colour)
            self._draw_centre_text(p, "No picture yet" if self.state else "Waiting for frames…")
            p.end()
            return
        frame = self._result.frame
        scale = min(self.width() / frame.width, self.height() / frame.height)
        w, h = frame.width * scale, frame.height * scale
        target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(target, self._image)
        self._draw_parts(p, target, scale)
        self._draw_boxes(p, target, scale)
        text, colour, live = self.banner()
        if not live:
            p.fillRect(target, QColor(0, 0, 0, 150))  # not live: the frame is only a memory
        self._draw_banner(p, target, text, colour)
        self._draw_title(p, target)
        p.end()

    def _draw_title(self, p: QPainter, target: QRectF) -> None:
        if not self.title:
            return
        font = QFont(self.font())
        font.setPointSize(10 if self.compact else 14)
        font.setBold(True)
        p.setFont(font)
        w, h = p.fontMetrics().horizontalAdvance(self.title) + 16, p.fontMetrics().height() + 8
        # a thumbnail's verdict fills its top: the name goes to the bottom
        top = target.bottom() - h - 6 if self.compact else target.top() + 8
        box = QRectF(target.right() - w - 8, top, w, h)
        p.fillRect(box, QColor(0, 0, 0, 170))
        p.setPen(QColor("#FFFFFF"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, self.title)

    def _draw_boxes(self, p: QPainter, target: QRectF, scale: float) -> None:
        assert self._result is not None
        defects = {id(d) for d in self._result.verdict.defects}
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, 10.0 * min(1.5, scale * 1.4)))
        font.setBold(True)
        p.setFont(font)
        metrics = p.fontMetrics()
        placed: list[QRectF] = []  # labels already drawn: a new one moves down until it is clear
        for d in self._result.detections:
            if d.class_name in self.part_classes:
                continue  # drawn as a tracked part
            colour = class_colour(d.class_id)
            rect = _on_screen(d.box, target, scale)
            pen = QPen(colour, 3 if id(d) in defects else 1.5)
            if id(d) not in defects:
                pen.setStyle(Qt.PenStyle.DashLine)  # seen, but below the rules' threshold or outside them
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(rect)
            if self.compact:
                continue  # a thumbnail: the box in its class's colour says enough
            label = f"{d.class_name} {d.confidence:.2f}"
            tw, th = metrics.horizontalAdvance(label) + 8, metrics.height() + 2
            y = rect.top() - th if rect.top() - th >= target.top() else rect.bottom()
            tag = QRectF(rect.left(), y, tw, th)
            while any(tag.intersects(other) for other in placed):
                tag.translate(0, th)
            placed.append(tag)
            p.fillRect(tag, colour)
            p.setPen(QColor("#000000"))
            p.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)

    def _draw_parts(self, p: QPainter, target: QRectF, scale: float) -> None:
        """Each tracked part: a thin frame, its id, and once decided an OK / NG badge."""
        assert self._result is not None
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, 10.0 * min(1.5, scale * 1.4)))
        font.setBold(True)
        p.setFont(font)
        metrics = p.fontMetrics()
        for part in self._result.parts:
            rect = _on_screen(part.box, target, scale)
            colour = {"OK": PASS_COLOUR, "NG": FAIL_COLOUR}.get(part.verdict or "", PART_COLOUR)
            p.setPen(QPen(colour, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(rect)
            if self.compact:
                continue
            label = f"Part {part.part}" + (f" · {part.verdict}" if part.verdict else "")
            tw, th = metrics.horizontalAdvance(label) + 10, metrics.height() + 4
            tag = QRectF(rect.left(), rect.bottom() - th, tw, th).intersected(target)
            p.fillRect(tag, colour)
            p.setPen(QColor("#FFFFFF") if part.verdict else QColor("#000000"))
            p.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)

    def _part_verdict(self) -> tuple[str, QColor]:
        """The last decided part, not the frame: what the operator acts on."""
        part = self._last_part
        if part is None:
            return "Waiting for the first part", WAITING_COLOUR
        colour = FAIL_COLOUR if part.ng else PASS_COLOUR
        if self.compact:  # a thumbnail's banner is short: the verdict first, what cannot fit cut off
            return f"{part.verdict} · Part {part.part}", colour
        found = f" · {', '.join(part.defect_classes)}" if part.ng else ""
        return f"Part {part.part} · {part.verdict}{found}", colour

    def _draw_banner(self, p: QPainter, target: QRectF, text: str, colour: QColor) -> None:
        font = QFont(self.font())
        font.setPointSize(11 if self.compact else 22)
        font.setBold(True)
        p.setFont(font)
        margin, pad = (4, 12) if self.compact else (12, 36)
        # a verdict wider than the picture ends in "…" rather than running off it
        text = p.fontMetrics().elidedText(
            text, Qt.TextElideMode.ElideRight, int(target.width() - 2 * margin - pad)
        )
        w = p.fontMetrics().horizontalAdvance(text) + pad
        box = QRectF(target.left() + margin, target.top() + margin, w, p.fontMetrics().height() + margin + 2)
        p.fillRect(box, colour)
        p.setPen(QColor("#FFFFFF"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _frame_verdict(self) -> tuple[str, QColor]:
        assert self._result is not None
        n = len(self._result.verdict.defects)
        text = "PASS" if n == 0 else f"FAIL · {n} defect{'s' if n > 1 else ''}"
        return text, PASS_COLOUR if n == 0 else FAIL_COLOUR

    def _draw_centre_text(self, p: QPainter, text: str) -> None:
        font = QFont(self.font())
        font.setPointSize(16)
        p.setFont(font)
        rect = QRectF(self.rect())
        p.fillRect(QRectF(0, rect.height() / 2 - 30, rect.width(), 60), QColor(0, 0, 0, 170))
        p.setPen(QColor("#FFFFFF"))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def _on_screen(box: tuple[float, float, float, float], target: QRectF, scale: float) -> QRectF:
    """A box in frame pixels, where it is drawn in the scaled frame."""
    x1, y1, x2, y2 = box
    return QRectF(target.x() + x1 * scale, target.y() + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
