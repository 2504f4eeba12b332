"""A one-line label: long text ends in an ellipsis and the label keeps its height."""

from PySide6.QtGui import QFont, QFontMetrics

from inspector.ui.elided_label import ElidedLabel


def test_long_text_is_elided_in_one_line_and_kept_whole(qtbot):
    label = ElidedLabel("short")
    qtbot.addWidget(label)
    label.resize(120, label.sizeHint().height())
    label.show()
    height = label.height()
    assert label.text() == "short" and label.toolTip() == ""
    long = "compiled ahead, OpenVINO f32 (no AMX here), from the on-disk cache, in 3.1 s"
    label.setText(long)
    assert label.text() == long and label.toolTip() == long, "the whole text, for the tooltip"
    shown = super(ElidedLabel, label).text()
    assert shown.endswith("…") and len(shown) < len(long)
    assert label.height() == height, "one line, whatever the text"
    label.resize(2000, height)  # wide enough: nothing cut, no tooltip
    assert super(ElidedLabel, label).text() == long and label.toolTip() == ""


def test_a_label_that_may_shrink_shows_the_whole_text_smaller_before_it_cuts_it(qtbot):
    big = QFont()
    big.setPointSize(15)
    label = ElidedLabel("—", smallest_pt=10.5)
    label.setFont(big)
    qtbot.addWidget(label)
    text = "compiled (openvino-bf16)"
    label.resize(QFontMetrics(big).horizontalAdvance(text) * 4 // 5, 40)
    label.show()
    height = label.height()
    label.setText(text)
    assert super(ElidedLabel, label).text() == text and label.toolTip() == "", "whole, smaller"
    assert 10.5 <= label.font().pointSizeF() < 15 and label.height() == height
    label.setText(text * 3)  # too wide at the smallest size too: cut there, whole in the tooltip
    assert super(ElidedLabel, label).text().endswith("…") and label.font().pointSizeF() == 10.5
    assert label.toolTip() == text * 3 and label.height() == height
    label.setText("eager")  # fits at its own size again
    assert label.font().pointSizeF() == 15 and super(ElidedLabel, label).text() == "eager"
