"""Building blocks shared by the local services (Dataverse now, Business Central later)."""

from __future__ import annotations

from accord.services.common.auth import Credentials, TokenIssuer
from accord.services.common.faults import FaultConfig
from accord.services.common.limiter import Budget, RequestLimiter
from accord.services.common.server import BackgroundServer
from accord.services.common.stats import RequestStats
from accord.services.common.tls import TlsFiles, make_tls_files

__all__ = [
    "BackgroundServer",
    "Budget",
    "Credentials",
    "FaultConfig",
    "RequestLimiter",
    "RequestStats",
    "TlsFiles",
    "TokenIssuer",
    "make_tls_files",
]
