"""The side panels of the live tab; each binds its widgets to the line it is shown."""
