"""A loopback S3 server for tests: moto's ThreadedMotoServer, reached the way a MinIO user would.

`s3_server()` starts the server on 127.0.0.1 and a port the OS picks, puts fake credentials and the
endpoint in the environment (``AWS_ENDPOINT_URL``, which boto3 and pyarrow honour; a user's own AWS
configuration files are hidden), creates a bucket, and on exit stops the server and restores the
environment. Nothing here depends on timing: the server is ready when `start()` returns.

moto 5.2.1 answers CompleteMultipartUpload with the root element ``CompleteMultipartUploadResponse``
instead of S3's ``CompleteMultipartUploadResult`` (getmoto/moto#10055, fixed upstream by #10056),
and pyarrow's S3 client then takes every multipart upload (every file pyarrow writes without
``allow_delayed_open``, Ray's uploads included) for a failure. `_S3ConformingApp` renames that one
element in the response, so the server behaves as S3 and MinIO do; with a fixed moto it does nothing.

`S3Server.without_trailing_checksums()` makes the server, for a block, one that predates trailing
checksums (older MinIO, Ceph RGW and NAS gateways): it ignores the headers that announce an
aws-chunked body (``Content-Encoding: aws-chunked``, ``x-amz-content-sha256: STREAMING-...``,
``x-amz-decoded-content-length``, ``x-amz-trailer``), so moto stores the body as it came, framing
and trailing checksum included, as such a server does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAKE_KEY_ID = "AKIAACTSWEEPTESTKEY0"
FAKE_SECRET = "actsweep-test-secret-d0-not-log-me"  # tests assert this never appears in output
_WRONG_ROOT = b"CompleteMultipartUploadResponse"
_RIGHT_ROOT = b"CompleteMultipartUploadResult"
_AWS_CHUNKED_HEADERS = ("HTTP_CONTENT_ENCODING", "HTTP_X_AMZ_CONTENT_SHA256", "HTTP_X_AMZ_DECODED_CONTENT_LENGTH",
                        "HTTP_X_AMZ_TRAILER")


@dataclass
class _Quirks:
    """What the running server gets wrong on purpose (shared by the app and S3Server)."""

    ignores_aws_chunked: bool = False


class _S3ConformingApp:
    """WSGI middleware: the CompleteMultipartUpload answer with S3's root element (see module doc)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], quirks: _Quirks) -> None:
        self._app = app
        self._quirks = quirks

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._quirks.ignores_aws_chunked and environ.get("HTTP_CONTENT_ENCODING", "").startswith("aws-chunked"):
            for header in _AWS_CHUNKED_HEADERS:  # as a server that predates trailing checksums: the body as sent
                environ.pop(header, None)
        if environ.get("REQUEST_METHOD") != "POST" or "uploadId=" not in environ.get("QUERY_STRING", ""):
            return self._app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured.update(status=status, headers=headers, exc_info=exc_info)
            return lambda data: None

        body = b"".join(self._app(environ, capture)).replace(_WRONG_ROOT, _RIGHT_ROOT)
        headers = [(name, str(len(body)) if name.lower() == "content-length" else value)
                   for name, value in captured["headers"]]
        start_response(captured["status"], headers, captured["exc_info"])
        return [body]


def _server_class(quirks: _Quirks) -> type:
    from moto.server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    class ConformingMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:  # ThreadedMotoServer's own, with the app wrapped
            app = _S3ConformingApp(DomainDispatcherApplication(create_backend_app), quirks)
            self._server = make_server(self._ip_address, self._port, app, True)
            self._server_ready_event.set()
            self._server.serve_forever()

    return ConformingMotoServer


@dataclass(frozen=True)
class S3Server:
    """A running loopback server and one bucket on it."""

    endpoint: str  # http://127.0.0.1:PORT, as AWS_ENDPOINT_URL holds it
    bucket: str
    quirks: _Quirks = field(default_factory=_Quirks)

    @contextmanager
    def without_trailing_checksums(self) -> Iterator[None]:
        """For the block, a server that stores aws-chunked uploads verbatim (module docstring)."""
        self.quirks.ignores_aws_chunked = True
        try:
            yield
        finally:
            self.quirks.ignores_aws_chunked = False

    @property
    def host_port(self) -> str:
        return self.endpoint.removeprefix("http://")

    def uri(self, *parts: str) -> str:
        """s3://bucket/part/...: the endpoint comes from the environment."""
        return "/".join([f"s3://{self.bucket}", *(part.strip("/") for part in parts if part)])

    def query_uri(self, *parts: str) -> str:
        """The same place with the endpoint in pyarrow's URI query (no environment needed)."""
        return f"{self.uri(*parts)}?endpoint_override={self.host_port}&scheme=http"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under prefix, sorted (independent of the code under test)."""
        paginator = self.client().get_paginator("list_objects_v2")
        return sorted(item["Key"] for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
                      for item in page.get("Contents", []))

    def upload_tree(self, local_dir: Path, prefix: str) -> str:
        """Copy a local directory to s3://bucket/prefix/<its name> with boto3; returns that URI."""
        client = self.client()
        base = f"{prefix.strip('/')}/{local_dir.name}".strip("/")
        for path in sorted(local_dir.rglob("*")):
            key = f"{base}/{path.relative_to(local_dir).as_posix()}"
            if path.is_file():
                client.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes())
            elif not any(path.iterdir()):
                client.put_object(Bucket=self.bucket, Key=f"{key}/", Body=b"")  # an empty directory
        return self.uri(base)


def _free_of_user_config() -> dict[str, str]:
    """Fake credentials and no AWS config files of the user's, nor an instance-metadata lookup."""
    return {
        "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@contextmanager
def patched_environ(values: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) environment variables; restore them all on exit."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def s3_server(bucket: str = "actsweep-test", endpoint_in_environment: bool = True) -> Iterator[S3Server]:
    """Start the loopback server, set the environment, create `bucket`; stop and restore on exit.

    endpoint_in_environment=False leaves AWS_ENDPOINT_URL unset, for URIs that carry the endpoint
    in their query (`S3Server.query_uri`).
    """
    import logging
    import urllib.request

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    quirks = _Quirks()
    server = _server_class(quirks)(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        environment: dict[str, str | None] = {**_free_of_user_config(), "AWS_ENDPOINT_URL_S3": None,
                                              "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None,
                                              "AWS_REQUEST_CHECKSUM_CALCULATION": None,
                                              "AWS_ENDPOINT_URL": endpoint if endpoint_in_environment else None}
        with patched_environ(environment):
            running = S3Server(endpoint=endpoint, bucket=bucket, quirks=quirks)
            # moto keeps its buckets per process, not per server: start from an empty store.
            reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
            urllib.request.urlopen(reset, timeout=30).close()
            running.client().create_bucket(Bucket=bucket)
            yield running
    finally:
        server.stop()
