"""A one-line label: long text ends in an ellipsis and the label keeps its height."""

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
