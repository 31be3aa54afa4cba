"""Iguana: boot a machine through installation containers, one explicit state at a time."""

__version__ = "0.1.0"

__all__ = ["__version__"]
