"""The history: filter, sort and page through decided parts or their defects, look at one on its
part's image, export what is shown to CSV."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import cv2
from PySide6.QtCore import QDateTime, QStandardPaths, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QColor, QHideEvent, QImage, QPainter, QPen, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QProxyStyle,
    QPushButton,
    QSplitter,
    QStyle,
    QStyleOptionHeader,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Engine

from inspector.shifts import naive_utc
from inspector.storage.models import Defect, Part, Run
from inspector.storage.part_queries import PartFilter, export_parts_csv, parts_per_run
from inspector.storage.queries import DefectFilter, class_counts, export_csv, list_runs
from inspector.storage.retention import images_pruned
from inspector.ui.history_model import PagedTableModel, defect_model, local_time, part_model
from inspector.ui.live_view import CLASS_COLOURS

LIVE_REFRESH_MS = 2000  # while the history is on screen, rows the line logs appear this often


class ExportThread(QThread):
    """Runs ``job(progress)`` (a CSV export returning its row count) off the GUI thread."""

    progress = Signal(int, int)
    done = Signal(int, str)
    failed = Signal(str)

    def __init__(self, job: Callable[[Callable[[int, int], None]], int], path: Path) -> None:
        super().__init__()
        self.job, self.path = job, path

    def run(self) -> None:
        try:
            n = self.job(self.progress.emit)
        except OSError as exc:
            self.failed.emit(f"cannot write {self.path}: {exc.strerror or exc}")
            return
        self.done.emit(n, str(self.path))


class SortArrows(QProxyStyle):
    """Sort arrows that point the way a column's values grow down the table: smallest first ▲,
    largest first ▼. Qt's own styles draw them the other way round (an old Windows convention),
    which reads as inverted."""

    def drawPrimitive(self, element, option, painter, widget=None) -> None:
        arrow = element == QStyle.PrimitiveElement.PE_IndicatorHeaderArrow
        if arrow and isinstance(option, QStyleOptionHeader):
            option = QStyleOptionHeader(option)
            up, down = QStyleOptionHeader.SortIndicator.SortUp, QStyleOptionHeader.SortIndicator.SortDown
            option.sortIndicator = {up: down, down: up}.get(option.sortIndicator, option.sortIndicator)
        super().drawPrimitive(element, option, painter, widget)


def export_folder() -> Path:
    """Where an export is offered: the user's documents folder (the home folder without one), not
    wherever the program was started from."""
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(documents) if documents else Path.home()


def _run_label(run: Run, parts: int) -> str:
    """A run as the operator picks it: when, what it watched, with which model and backend, and
    how many parts it decided."""
    model = Path(run.model_path).name
    started = local_time(run.started_at)[:16]
    return f"run {run.id} · {started} · {run.source} · {model} · {run.backend} · {parts} parts"


def _to_utc(edit: QDateTimeEdit) -> datetime:
    return naive_utc(edit.dateTime().toPython())  # the edit's time is the operator's local time


class HistoryView(QWidget):
    def __init__(self, engine: Engine, db_dir: Path) -> None:
        super().__init__()
        self.engine = engine
        self.db_dir = db_dir
        self.class_ids: dict[str, int] = {}  # the running model's ids, so colours match the live view
        self.parts_model, self.defects_model = part_model(engine), defect_model(engine)
        self.model = self.parts_model
        self.export_thread: ExportThread | None = None

        self.show_combo = QComboBox()
        self.show_combo.addItem("Parts", "parts")
        self.show_combo.addItem("Defects", "defects")
        self.run_combo = QComboBox()
        self.verdict_combo = QComboBox()
        for text, data in (("all", None), ("NG", "NG"), ("OK", "OK")):
            self.verdict_combo.addItem(text, data)
        self.class_combo = QComboBox()
        self.min_conf = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, decimals=2)
        self.since_check, self.until_check = QCheckBox("since"), QCheckBox("until")
        now = QDateTime.currentDateTime()
        self.since_edit = QDateTimeEdit(now.addSecs(-3600), calendarPopup=True)
        self.until_edit = QDateTimeEdit(now, calendarPopup=True)
        for edit in (self.since_edit, self.until_edit):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.export_button = QPushButton("Export CSV…")
        self.export_bar = QProgressBar()
        self.export_bar.hide()
        self.summary = QLabel()

        bar = QHBoxLayout()
        self.min_conf_label = QLabel("Min. confidence")
        self.verdict_label = QLabel("Verdict")
        for label, widget in (
            (QLabel("Show"), self.show_combo),
            (QLabel("Run"), self.run_combo),
            (self.verdict_label, self.verdict_combo),
            (QLabel("Class"), self.class_combo),
            (self.min_conf_label, self.min_conf),
        ):
            bar.addWidget(label)
            bar.addWidget(widget)
        for check, edit in ((self.since_check, self.since_edit), (self.until_check, self.until_edit)):
            bar.addWidget(check)
            bar.addWidget(edit)
        bar.addStretch(1)
        bar.addWidget(self.export_bar)
        bar.addWidget(self.export_button)

        self.table = QTableView()
        self.table.setSortingEnabled(True)
        self._arrows = SortArrows()  # a widget does not own the style it is given
        self.table.horizontalHeader().setStyle(self._arrows)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self._show_model(self.parts_model)

        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumWidth(360)
        self.preview.setStyleSheet("background:#111418;color:#ccc;")
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        right = QWidget()
        rcol = QVBoxLayout(right)
        rcol.addWidget(self.preview, stretch=1)
        rcol.addWidget(self.detail)
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(split, stretch=1)
        layout.addWidget(self.summary)

        self.show_combo.currentIndexChanged.connect(self._switch_table)
        for signal in (
            self.run_combo.currentIndexChanged,
            self.verdict_combo.currentIndexChanged,
            self.class_combo.currentIndexChanged,
            self.min_conf.valueChanged,
            self.since_check.toggled,
            self.until_check.toggled,
            self.since_edit.dateTimeChanged,
            self.until_edit.dateTimeChanged,
        ):
            signal.connect(self.apply_filter)
        self.export_button.clicked.connect(self._ask_export)
        self._switch_table()
        self._live = QTimer(self, interval=LIVE_REFRESH_MS, timeout=self.refresh_live)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._live.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._live.stop()

    @property
    def showing_parts(self) -> bool:
        return self.model is self.parts_model

    def _show_model(self, model: PagedTableModel) -> None:
        self.model = model
        self.table.setModel(model)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _prev: self.show_row(cur.row()))

    def _switch_table(self) -> None:
        """Parts (verdict filter) or defects (confidence filter); the other filters serve both."""
        parts = self.show_combo.currentData() == "parts"
        if parts != self.showing_parts:
            self._show_model(self.parts_model if parts else self.defects_model)
        for widget in (self.verdict_label, self.verdict_combo):
            widget.setVisible(parts)
        for widget in (self.min_conf_label, self.min_conf):
            widget.setVisible(not parts)
        self.apply_filter()

    def reload(self) -> None:
        """Refill the filter choices from the log and re-run the query (the log grows while we look)."""
        self._follow_the_clock()
        parts = parts_per_run(self.engine)
        runs = [(_run_label(r, parts.get(r.id, 0)), r.id) for r in list_runs(self.engine)]
        for combo, items in (
            (self.run_combo, list(reversed(runs))),
            (self.class_combo, [(name, name) for name in sorted(class_counts(self.engine))]),
        ):
            keep = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("all", None)
            for text, data in items:
                combo.addItem(text, data)
            index = combo.findData(keep)
            combo.setCurrentIndex(max(0, index))
            combo.blockSignals(False)
        self.apply_filter()

    def _follow_the_clock(self) -> None:
        if not self.until_check.isChecked():  # unticked, "until" follows the clock for when it is ticked
            self.until_edit.blockSignals(True)
            self.until_edit.setDateTime(QDateTime.currentDateTime())
            self.until_edit.blockSignals(False)

    def refresh_live(self) -> None:
        """Rows the line logged since appear under the same filter and order; the row looked at
        stays selected and shown (rows added or pruned around it move it by at most that many)."""
        self._follow_the_clock()
        flt, before = self.current_filter(), self.model.rowCount()
        if self.model.count(flt) == before:
            return
        current = self.table.currentIndex().row()
        item = self.model.row_at(current)
        self.model.refresh(flt)
        after = self.model.rowCount()
        self._say_count()
        if item is None:
            return
        moved = abs(after - before)
        for row in range(max(0, current - moved), min(after, current + moved + 1)):
            found = self.model.row_at(row)
            if found is not None and found.id == item.id:
                self.table.selectRow(row)
                return
        self._clear_preview()

    def current_filter(self) -> DefectFilter | PartFilter:
        run, name = self.run_combo.currentData(), self.class_combo.currentData()
        since = _to_utc(self.since_edit) if self.since_check.isChecked() else None
        until = _to_utc(self.until_edit) if self.until_check.isChecked() else None
        if self.showing_parts:
            return PartFilter(run, self.verdict_combo.currentData(), name, since, until)
        return DefectFilter(run, name, since, until, self.min_conf.value() or None)

    def apply_filter(self) -> None:
        self.model.refresh(self.current_filter())
        self._say_count()
        self._clear_preview()

    @property
    def _what(self) -> str:
        return "parts" if self.showing_parts else "defects"

    def _say_count(self) -> None:
        self.summary.setText(f"{self.model.rowCount():,} {self._what} match")

    def _clear_preview(self) -> None:
        self.preview.clear()
        self.preview.setText(f"Select one of the {self._what} to see it")
        self.detail.clear()

    def show_row(self, row: int) -> None:
        item = self.model.row_at(row)
        if item is None:
            return
        if self.showing_parts:
            self._show_part(item)
        else:
            self._show_defect(item)

    def _show_part(self, p: Part) -> None:
        found = "".join(f" · {d.class_name} {d.confidence:.2f} ({d.frames} frames)" for d in p.defects)
        self.detail.setText(
            f"<b>Part {p.part} · {p.verdict}</b>{found}<br>{p.kind} · run {p.run_id} · "
            f"frames {p.first_frame} to {p.last_frame} · decided {local_time(p.decided_at)} · {p.backend}"
        )
        if p.image_path is None:
            self.preview.setText(
                "OK parts keep no image" if p.verdict == "OK" else "no image saved for this part"
            )
            return
        self._draw(p.image_path, (p.image_x, p.image_y), [(d, True) for d in p.defects], p.decided_at)

    def _show_defect(self, d: Defect) -> None:
        seen = (
            f"seen on {d.frames} frames ({d.first_frame} to {d.last_frame})"
            if d.frames
            else f"frame {d.frame_index}"
        )
        on = f"part {d.part.part} ({d.part.verdict})" if d.part is not None else "no part"
        self.detail.setText(
            f"<b>{d.class_name}</b> {d.confidence:.2f} · {on} · run {d.run_id} · {seen}<br>"
            f"box {d.x1:.0f},{d.y1:.0f} to {d.x2:.0f},{d.y2:.0f} on frame {d.frame_index} · "
            f"{local_time(d.detected_at)} · {d.backend}"
        )
        if d.image_path is None:
            self.preview.setText("no image saved for this defect")
            return
        others = [(o, False) for o in d.part.defects if o.id != d.id] if d.part is not None else []
        self._draw(d.image_path, (d.image_x, d.image_y), [*others, (d, True)], d.detected_at)

    def _draw(
        self, image_path: str, origin: tuple[int, int], boxes: list[tuple[Defect, bool]], at: datetime
    ) -> None:
        """The saved image with each defect's box (``True``: drawn bold and named); an image the
        disk budget deleted is said to be pruned, and when and why."""
        image = cv2.imread(str(self.db_dir / image_path))
        if image is None:
            pruned = images_pruned(self.engine)
            if pruned is not None and at <= pruned.before + timedelta(seconds=1):
                self.preview.setText(
                    f"image pruned: the disk budget deleted the images up to {local_time(pruned.before)} "
                    f"({pruned.why}); the record is kept"
                )
            else:
                self.preview.setText(f"image {image_path} is missing")
            return
        h, w = image.shape[:2]
        qimage = QImage(image.data, w, h, image.strides[0], QImage.Format.Format_BGR888).copy()
        scale = min(self.preview.width() / w, self.preview.height() / h)
        pixmap = QPixmap.fromImage(qimage).scaled(
            round(w * scale),
            round(h * scale),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        painter = QPainter(pixmap)
        for d, bold in boxes:
            colour = QColor(CLASS_COLOURS[self.class_ids.get(d.class_name, 0) % len(CLASS_COLOURS)])
            painter.setPen(
                QPen(colour, 3 if bold else 1, Qt.PenStyle.SolidLine if bold else Qt.PenStyle.DashLine)
            )
            x, y = (d.x1 - origin[0]) * scale, (d.y1 - origin[1]) * scale
            painter.drawRect(round(x), round(y), round((d.x2 - d.x1) * scale), round((d.y2 - d.y1) * scale))
            if bold:
                painter.drawText(round(x), max(12, round(y) - 4), d.class_name)
        painter.end()
        self.preview.setPixmap(pixmap)

    def _ask_export(self) -> None:
        what = self._what
        suggested = export_folder() / f"{what}.csv"
        path, _ = QFileDialog.getSaveFileName(self, f"Export {what}", str(suggested), "CSV (*.csv)")
        if path:
            self.export(Path(path))

    def export(self, path: Path) -> ExportThread:
        """Write what the table shows, filtered and sorted as shown, to ``path``."""
        flt, order, desc, engine = (
            self.current_filter(),
            self.model.order_by,
            self.model.descending,
            self.engine,
        )
        if isinstance(flt, PartFilter):
            what = "parts"
            thread = ExportThread(
                lambda progress: export_parts_csv(engine, path, flt, order, desc, progress), path
            )
        else:
            what = "defects"
            thread = ExportThread(lambda progress: export_csv(engine, path, flt, order, desc, progress), path)
        thread.progress.connect(self._on_export_progress)
        thread.done.connect(lambda n, p: self._on_export_done(f"{n:,} {what} exported to {p}"))
        thread.failed.connect(self._on_export_done)
        self.export_button.setEnabled(False)
        self.export_bar.setValue(0)
        self.export_bar.show()
        self.export_thread = thread
        thread.start()
        return thread

    def _on_export_progress(self, done: int, total: int) -> None:
        self.export_bar.setMaximum(max(total, 1))
        self.export_bar.setValue(done)

    def _on_export_done(self, message: str) -> None:
        self.export_button.setEnabled(True)
        self.export_bar.hide()
        self.summary.setText(message)

    def shutdown(self) -> None:
        if self.export_thread is not None:
            self.export_thread.wait()
