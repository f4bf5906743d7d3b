"""``accord.toml`` → validated model objects, with file:line errors."""

from __future__ import annotations

from accord.config.load import Config, SystemConfig, dependency_order, find_config, load_config

__all__ = ["Config", "SystemConfig", "dependency_order", "find_config", "load_config"]
