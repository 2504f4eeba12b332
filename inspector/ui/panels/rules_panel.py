"""The defect rules: the minimum confidence and which classes count as defects."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QVBoxLayout,
)

from inspector.ui.live_view import class_colour


class RulesPanel(QGroupBox):
    """Emits ``changed(min_confidence, defect_classes)``; ``None`` classes means every class."""

    changed = Signal(float, object)

    def __init__(self, min_confidence: float, defect_classes: tuple[str, ...] | None) -> None:
        super().__init__("Defect rules")
        self._classes = defect_classes
        col = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("min. confidence"))
        self.conf_slider = QSlider(Qt.Orientation.Horizontal)
        self.conf_slider.setRange(5, 95)
        self.conf_slider.setValue(round(min_confidence * 100))
        self.conf_value = QLabel(f"{min_confidence:.2f}")
        self.conf_slider.valueChanged.connect(self._on_conf_changed)
        row.addWidget(self.conf_slider)
        row.addWidget(self.conf_value)
        col.addLayout(row)
        self.class_list = QListWidget()
        self.class_list.setFlow(QListWidget.Flow.LeftToRight)
        self.class_list.setWrapping(True)
        self.class_list.setFixedHeight(56)
        self.class_list.itemChanged.connect(self._on_classes_changed)
        col.addWidget(QLabel("classes that count as defects"))
        col.addWidget(self.class_list)

    @property
    def min_confidence(self) -> float:
        return self.conf_slider.value() / 100

    def fill_classes(self, names: dict[int, str], chosen: tuple[str, ...] | None) -> None:
        self._classes = chosen
        wanted = set(chosen or names.values())
        self.class_list.blockSignals(True)
        self.class_list.clear()
        for i, name in sorted(names.items()):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in wanted else Qt.CheckState.Unchecked)
            swatch = QPixmap(12, 12)
            swatch.fill(class_colour(i))
            item.setIcon(QIcon(swatch))
            self.class_list.addItem(item)
        self.class_list.blockSignals(False)

    def show(self, min_confidence: float, defect_classes: tuple[str, ...] | None) -> None:
        """Settings that changed elsewhere (a recipe), shown without asking for a change."""
        self._classes = defect_classes
        self.conf_slider.blockSignals(True)
        self.conf_slider.setValue(round(min_confidence * 100))
        self.conf_slider.blockSignals(False)
        self.conf_value.setText(f"{min_confidence:.2f}")
        items = [self.class_list.item(i) for i in range(self.class_list.count())]
        wanted = set(defect_classes or (it.text() for it in items))
        self.class_list.blockSignals(True)
        for it in items:
            it.setCheckState(Qt.CheckState.Checked if it.text() in wanted else Qt.CheckState.Unchecked)
        self.class_list.blockSignals(False)

    def _on_conf_changed(self, value: int) -> None:
        self.conf_value.setText(f"{value / 100:.2f}")
        self.changed.emit(value / 100, self._classes)

    def _on_classes_changed(self, _item: QListWidgetItem) -> None:
        items = [self.class_list.item(i) for i in range(self.class_list.count())]
        chosen = tuple(it.text() for it in items if it.checkState() == Qt.CheckState.Checked)
        self._classes = None if len(chosen) == len(items) else chosen
        self.changed.emit(self.min_confidence, self._classes)
