"""Turning detections into defects and a pass/fail verdict."""
