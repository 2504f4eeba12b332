"""The defect history: filter, sort and page through the log, look at a defect, export to CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
from PySide6.QtCore import QDateTime, Qt, QThread, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
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
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Engine

from inspector.storage.queries import DefectFilter, class_counts, export_csv, list_runs
from inspector.ui.history_model import DefectTableModel
from inspector.ui.live_view import CLASS_COLOURS


class ExportThread(QThread):
    progress = Signal(int, int)
    done = Signal(int, str)
    failed = Signal(str)

    def __init__(
        self, engine: Engine, path: Path, flt: DefectFilter, order_by: str, descending: bool
    ) -> None:
        super().__init__()
        self.args = (engine, path, flt, order_by, descending)

    def run(self) -> None:
        engine, path, flt, order_by, descending = self.args
        try:
            n = export_csv(engine, path, flt, order_by, descending, progress=self.progress.emit)
        except OSError as exc:
            self.failed.emit(f"cannot write {path}: {exc.strerror or exc}")
            return
        self.done.emit(n, str(path))


def _to_utc(edit: QDateTimeEdit) -> datetime:
    local = edit.dateTime().toPython()
    return local.astimezone(UTC).replace(tzinfo=None)


class HistoryView(QWidget):
    def __init__(self, engine: Engine, db_dir: Path) -> None:
        super().__init__()
        self.engine = engine
        self.db_dir = db_dir
        self.class_ids: dict[str, int] = {}  # the running model's ids, so colours match the live view
        self.model = DefectTableModel(engine)
        self.export_thread: ExportThread | None = None

        self.run_combo = QComboBox()
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
        for label, widget in (
            ("Run", self.run_combo),
            ("Class", self.class_combo),
            ("Min. confidence", self.min_conf),
        ):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        for check, edit in ((self.since_check, self.since_edit), (self.until_check, self.until_edit)):
            bar.addWidget(check)
            bar.addWidget(edit)
        bar.addStretch(1)
        bar.addWidget(self.export_bar)
        bar.addWidget(self.export_button)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.selectionModel().currentRowChanged.connect(lambda cur, _prev: self.show_defect(cur.row()))

        self.preview = QLabel("Select a defect to see it")
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

        for signal in (
            self.run_combo.currentIndexChanged,
            self.class_combo.currentIndexChanged,
            self.min_conf.valueChanged,
            self.since_check.toggled,
            self.until_check.toggled,
            self.since_edit.dateTimeChanged,
            self.until_edit.dateTimeChanged,
        ):
            signal.connect(self.apply_filter)
        self.export_button.clicked.connect(self._ask_export)

    def reload(self) -> None:
        """Refill the filter choices from the log and re-run the query (the log grows while we look)."""
        for combo, items in (
            (self.run_combo, [(f"run {r.id} · {r.source}", r.id) for r in reversed(list_runs(self.engine))]),
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

    def current_filter(self) -> DefectFilter:
        return DefectFilter(
            run_id=self.run_combo.currentData(),
            class_name=self.class_combo.currentData(),
            since=_to_utc(self.since_edit) if self.since_check.isChecked() else None,
            until=_to_utc(self.until_edit) if self.until_check.isChecked() else None,
            min_confidence=self.min_conf.value() or None,
        )

    def apply_filter(self) -> None:
        self.model.refresh(self.current_filter())
        n = self.model.rowCount()
        self.summary.setText(f"{n:,} defects match")

    def show_defect(self, row: int) -> None:
        d = self.model.defect_at(row)
        if d is None:
            return
        self.detail.setText(
            f"<b>{d.class_name}</b> {d.confidence:.2f} · run {d.run_id} · frame {d.frame_index} · "
            f"box {d.x1:.0f},{d.y1:.0f} to {d.x2:.0f},{d.y2:.0f} · {d.backend}"
        )
        image = cv2.imread(str(self.db_dir / d.image_path)) if d.image_path else None
        if image is None:
            self.preview.setText("no image saved for this defect")
            return
        h, w = image.shape[:2]
        qimage = QImage(image.data, w, h, image.strides[0], QImage.Format.Format_BGR888).copy()
        pixmap = QPixmap.fromImage(qimage)
        painter = QPainter(pixmap)
        colour = QColor(CLASS_COLOURS[self.class_ids.get(d.class_name, 0) % len(CLASS_COLOURS)])
        painter.setPen(QPen(colour, 2))
        painter.drawRect(
            round(d.x1 - d.image_x), round(d.y1 - d.image_y), round(d.x2 - d.x1), round(d.y2 - d.y1)
        )
        painter.end()
        self.preview.setPixmap(
            pixmap.scaled(
                self.preview.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export defects", "defects.csv", "CSV (*.csv)")
        if path:
            self.export(Path(path))

    def export(self, path: Path) -> ExportThread:
        thread = ExportThread(
            self.engine, path, self.current_filter(), self.model.order_by, self.model.descending
        )
        thread.progress.connect(self._on_export_progress)
        thread.done.connect(lambda n, p: self._on_export_done(f"{n:,} defects exported to {p}"))
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
