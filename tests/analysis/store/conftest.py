"""Fixtures of the store's tests: a loopback S3 server (tests/support/s3.py) for the object-storage ones."""

from __future__ import annotations

import pytest


@pytest.fixture()
def s3():
    """A loopback S3 server for this test only (skipped where moto's server is not installed)."""
    pytest.importorskip("moto.server", reason="the S3 tests need moto's server: pip install 'moto[server]'")
    from support.s3 import s3_server

    with s3_server() as server:
        yield server
