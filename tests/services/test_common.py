"""The shared building blocks: TLS files, the background server, the request limiter."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from accord.services.common import Budget, RequestLimiter, make_tls_files
from accord.services.dataverse import LocalDataverse


def test_tls_files_are_reused_while_valid(tmp_path: Path):
    first = make_tls_files(tmp_path)
    ca = first.ca_file.read_bytes()
    again = make_tls_files(tmp_path)
    assert again.ca_file.read_bytes() == ca  # a client that saved the CA keeps working
    assert (first.key_file.stat().st_mode & 0o777) == 0o600


def test_the_certificate_is_good_for_localhost_and_127_0_0_1(dv: LocalDataverse):
    port = dv.url.rsplit(":", 1)[1]
    context = ssl.create_default_context(cafile=str(dv.ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    with httpx.Client(verify=context) as client:
        for host in ("127.0.0.1", "localhost"):
            response = client.get(
                f"https://{host}:{port}/api/data/v9.2/WhoAmI",
                headers={"Authorization": f"Bearer {dv.token}"},
            )
            assert response.status_code == 200


def test_a_taken_port_fails_at_once(dv: LocalDataverse):
    port = int(dv.url.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        LocalDataverse.start(port=port)


def test_the_limiter_admits_again_once_the_window_slides():
    now = [0.0]
    limiter = RequestLimiter(Budget(requests=2, window=10), clock=lambda: now[0])
    assert limiter.admit("u") is None and limiter.admit("u") is None
    assert limiter.admit("u") == 10
    now[0] = 4.0
    assert limiter.admit("u") == 6
    now[0] = 10.0
    assert limiter.admit("u") is None
