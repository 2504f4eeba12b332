"""The desktop station (PySide6). Everything Qt lives here; the core never imports it."""
