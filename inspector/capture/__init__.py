"""Frame sources: cameras, streams, video files, image folders and the synthetic line."""

from inspector.capture.base import Frame, FrameSource, PartTruth, SourceError, TruthBox
from inspector.capture.spec import SOURCE_HELP, open_source

__all__ = ["SOURCE_HELP", "Frame", "FrameSource", "PartTruth", "SourceError", "TruthBox", "open_source"]
