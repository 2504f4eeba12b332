"""The errors the operator can act on: one base, so every front end catches the same thing.

A message of an ``InspectorError`` is one line meant for the operator; anything else that escapes is
a bug, and goes to the log with its traceback.
"""

from __future__ import annotations


class InspectorError(Exception):
    """Bad input or a broken part of the line, said in one line the operator can act on."""


class ConfigError(InspectorError, ValueError):
    """A setting out of range or of the wrong kind (a threshold, a size, a mode, a class name)."""
