"""Durable engine state: couplings, jobs, job errors, watermarks, key series."""

from __future__ import annotations

from accord.state.store import CouplingStats, StateStore, StateTransaction

__all__ = ["CouplingStats", "StateStore", "StateTransaction"]
