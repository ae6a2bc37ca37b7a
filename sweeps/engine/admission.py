"""A cluster joined by address: that it answers, and whether it admits this driver, asked before
anything heavy is imported.

The cluster's GCS is asked through Ray's generated gRPC stubs (not public API; one of the project's
three reaches into Ray, counted in `sweeps.engine.ray_session`) whether it answers a stranger (no
token) and this driver's token. A refusal is one line (`UsageError`) at once: `sweeps.engine.
early_checks` asks right after parsing, before Keras and Ray Tune are imported (about 6 s of a
driver's start on two cores), and `ray_session.join_cluster` asks again just before `ray.init`
(the cluster may have changed meanwhile). This module imports Ray's core and gRPC only.
"""

from __future__ import annotations

import os
import socket

import grpc  # Ray's own dependency
from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc  # Ray's generated stubs, not public API

from sweeps.engine.errors import UsageError


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast on an address with no cluster: `ray.init` would retry for minutes.

    "auto" is left to `ray.init`, which fails at once when no local cluster is recorded
    (there is no public Ray API to resolve it beforehand; start_ray turns that into one line).
    """
    if address == "auto":
        return
    host_port = address.removeprefix("ray://")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise UsageError(f"no Ray cluster answers at {address} ({error.strerror or error}); "
                         "start one with `ray start --head`") from None


def check_admission(address: str) -> bool | None:
    """Raise UsageError, in one line, when the cluster at `address` wants a token this driver lacks,
    refuses the one it has, or wants one while RAY_AUTH_MODE=disabled here. Returns whether it
    admits strangers (True: an open cluster); None where this cannot be told beforehand ("auto" and
    ray:// addresses, a GCS that does not reply)."""
    if address == "auto" or address.startswith("ray://"):
        return None
    open_to_strangers = gcs_admits(address)
    if open_to_strangers is False:
        if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":  # Ray would send no token at all
            raise UsageError(f"the Ray cluster at {address} requires Ray's token authentication and "
                             "RAY_AUTH_MODE=disabled here: unset it (or set it to token) and run the sweep again")
        token = read_token()
        if token is None:
            raise UsageError(no_token_line(address))
        if gcs_admits(address, token) is False:
            raise UsageError(token_refused_line(address))
    return open_to_strangers


def gcs_admits(gcs_address: str, token: str | None = None, timeout: float = 10.0) -> bool | None:
    """Whether the cluster's GCS answers a request carrying `token` (None: no token, as a stranger
    would send it): True, False when it refuses it as unauthenticated, None where this cannot be
    told (no reply, e.g. from a cluster with TLS)."""
    metadata = [("authorization", f"Bearer {token}")] if token else []  # the header Ray's own clients send
    with grpc.insecure_channel(gcs_address) as channel:  # without Ray's interceptor, which adds this driver's token
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        try:
            stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=timeout, metadata=metadata)
        except grpc.RpcError as error:
            return False if error.code() == grpc.StatusCode.UNAUTHENTICATED else None
    return True


def open_cluster_warning(address: str) -> str:
    return (f"warning: the Ray cluster at {address} does not require Ray's token authentication: anyone who "
            "reaches its ports can run code on its nodes; restart every node with RAY_AUTH_MODE=token and "
            "the same token (docs/clusters.md)")


def token_source() -> str | None:
    """Where this driver's Ray token comes from, in Ray's order; None when it has none."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    return path if os.path.isfile(path) else None


def read_token() -> str | None:
    """This driver's Ray token (what Ray's token loader reads, whitespace trimmed), or None."""
    source = token_source()
    if source is None:
        return None
    if source == "RAY_AUTH_TOKEN":
        return os.environ["RAY_AUTH_TOKEN"].strip()
    try:
        with open(source, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def no_token_line(address: str) -> str:
    return (f"the Ray cluster at {address} requires Ray's token authentication and this driver has no token "
            "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token): copy the cluster's token there "
            "(`ray get-auth-token` on its head prints it) and run the sweep again")


def token_refused_line(address: str) -> str:
    return (f"the Ray cluster at {address} refused this driver's token (from {token_source() or 'nowhere'}): "
            "use the cluster's own token (`ray get-auth-token` on its head prints it)")
