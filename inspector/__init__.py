"""inspector: a desktop inspection station for factory lines."""

__version__ = "0.1.0"
