"""The package's own error types (a leaf module: every other module may import it)."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type (one message naming the
    key), raised by :func:`selcn.config.validate_config` and :func:`selcn.grid.grid`."""
