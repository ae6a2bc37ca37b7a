"""The store's file API: where experiments live, a local path or an object-storage URI, reached
through pyarrow.fs.

The one module that decides which filesystem a path means. `locate` gives a `Location` (a pyarrow
filesystem, the path on it, and the path or URI a user would write) whose methods read, list,
write and delete; the path-level functions below do one such call each, and `ray_storage` says
what to hand Ray Tune. Paths as text (`is_remote`, `normalize`, `join`, `name`, `parent`,
`redact`, `one_line`, `StorageError`) are analysis.store.uri's, and re-exported here because this
module is the store's one public face for files: callers write `storage.join(...)` beside
`storage.locate(...)`.

No filesystem here is ever built with explicit keys: pyarrow pickles explicit keys with the
filesystem (Ray stores the filesystem in ``tuner.pkl``), but never keys it found in the
environment; a URI that carries keys is refused before (analysis.store.uri.check_no_secrets).

What was measured (pyarrow 26.0.1, Ray 2.60.0, boto3 1.43, a moto 5.2.1 server on 127.0.0.1;
tests/analysis/store/test_storage.py repeats the endpoint cases; tests/engine/test_object_storage.py the
URI-query case with Tune, killed and resumed through the command line):

- S3-compatible endpoint. pyarrow 26's ``FileSystem.from_uri`` honours ``AWS_ENDPOINT_URL_S3``,
  else ``AWS_ENDPOINT_URL`` (a full ``http://host:port``; boto3 reads the same two), and the URI
  query ``?endpoint_override=host:port&scheme=http``, which wins over the environment. It copies
  the endpoint into the filesystem's options, which are what pickling keeps; ``S3FileSystem()``
  built directly keeps ``endpoint_override=''`` there. Other query keys pyarrow 26 accepts:
  ``region``, ``allow_bucket_creation``, ``allow_bucket_deletion``, ``allow_delayed_open``,
  ``tls_ca_file_path``; any other (``secret_key`` too) is "Unexpected query parameter". Without
  an endpoint or a region, ``from_uri`` asks the bucket for its region (one HeadBucket request).
  `locate` puts the environment's endpoint into the query itself, so it does not depend on
  pyarrow reading the environment (Ray's code said in 2025 that pyarrow did not; not tested here).
- Credentials: keys from the environment are not pickled with a filesystem; every process that
  touches storage (the driver, every trial worker, on every node) finds its own.
- Ray Tune. Trial workers whose environment had no endpoint wrote their checkpoints to the
  driver's endpoint, whether the driver had it from the environment, from the URI query, or from
  ``RunConfig(storage_filesystem=...)``: Tune ships the storage context, filesystem included, to
  the trial actors. ``Tuner.restore`` (``resume_errored=True``) of such an experiment resumed its
  trials from their checkpoints on that server, given the experiment as a URI (with the query, if
  the endpoint is there) or as the filesystem path plus ``storage_filesystem=`` (the loss of the
  endpoint in ray-project/ray#34489 did not occur). ``ResultGrid.experiment_path`` and
  ``Result.path`` are filesystem paths without the scheme (``bucket/prefix/exp``): restore from the
  URI, not from those. `ray_storage` returns (filesystem path, filesystem), so Ray uses the
  filesystem resolved here, for ``RunConfig``, ``Tuner.restore``, ``Tuner.can_restore`` and
  ``ExperimentAnalysis`` alike; ``tuner.pkl`` then holds that filesystem, without keys.
- Trial folder names. Tune's default names (``train_0a1b2_00000_0_activation=relu,bn_momentum=0.9000_<date>``)
  were written, listed, read and restored against moto without error through pyarrow's S3 client
  (ray-project/ray#29845 saw signature errors for ``=`` with Ray 2.1 and another server; only
  moto was tried here). For a server that rejects them, `trial_dirname` is a
  ``TuneConfig(trial_dirname_creator=...)`` without ``=`` or ``,``.
- moto 5.2.1 itself answers CompleteMultipartUpload with the wrong XML root element, which
  pyarrow 26 takes for an error; tests/support/s3.py corrects it (real S3 and MinIO are right).
- Trailing checksums. The AWS SDK inside pyarrow 26 (aws-sdk-cpp 1.11) uploads, by default, with
  ``Content-Encoding: aws-chunked`` and a trailing CRC64 checksum, as every current AWS SDK does
  since January 2025. AWS decodes that; an S3-compatible server that predates it stores the
  framing as the object: ``{"a": 1}`` read back as ``8\r\n{"a": 1}\r\n0\r\nx-amz-checksum-crc64nvme:...``
  (tests/support/s3.py plays such a server). With ``AWS_REQUEST_CHECKSUM_CALCULATION=when_required``
  the SDK sends the plain body (SigV4 still signs its SHA-256 over http), as every SDK did before,
  and the same write reads back intact. The SDK reads the variable when a filesystem is built or
  unpickled, not later. So for S3 with an endpoint (an S3-compatible server) `s3_settings` sets it
  in this process unless the user set it, before the filesystem is built, and returns it for the
  runner to give every trial (sweeps/engine/ray_session.py); AWS itself keeps the SDK's default.
  Whatever the setting, the sweep writes a probe and reads it back before anything else
  (sweeps.engine.locations.check_object_storage; `round_trip_problem` words a difference).

Atomic writes: on a local disk `write_bytes_atomically` writes a temporary file beside the
target and renames it over the target. Object storage has no rename; there each object is
written from memory in one upload and becomes visible whole when the upload completes (one
PutObject, or pyarrow's CompleteMultipartUpload), replacing the old object at once: a reader
sees the old or the new object, never a part. Several objects are not replaced together.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlunsplit

import pyarrow.fs as pafs

from analysis.store.uri import (
    StorageError,
    check_no_secrets,
    is_remote,
    join,
    name,
    normalize,
    one_line,
    parent,
    query_items,
    redact,
    split_uri,
)

__all__ = [
    "Entry", "Location", "StorageError", "check_no_secrets", "copy_to_local", "delete_dir", "delete_file", "exists",
    "is_dir", "is_file", "is_remote", "join", "list_dir", "locate", "name", "normalize", "one_line", "parent",
    "ray_storage", "read_bytes", "read_text", "redact", "resolve", "round_trip_problem", "s3_settings", "trial_dirname",
    "write_bytes_atomically",
]

logger = logging.getLogger(__name__)

_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")  # boto3's and pyarrow's order
CHECKSUM_VARIABLE = "AWS_REQUEST_CHECKSUM_CALCULATION"  # read by every current AWS SDK (module docstring)
CHECKSUM_FOR_ENDPOINTS = "when_required"  # a plain body, which every S3-compatible server stores as sent
_AWS_CHUNKED = re.compile(rb"^[0-9a-fA-F]+(;[^\r\n]*)?\r\n")  # a chunk's size line: 8\r\n, 1a;chunk-signature=...\r\n


# --- filesystems ----------------------------------------------------------------------------


def _endpoint_from_environment() -> str | None:
    for variable in _ENDPOINT_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    return None


def _has_endpoint(scheme: str, query: str, endpoint: str | None) -> bool:
    return scheme == "s3" and bool(endpoint or "endpoint_override" in {key for key, _ in query_items(query)})


def s3_settings(path: str | os.PathLike) -> dict[str, str]:
    """The AWS SDK settings every process that writes under `path` needs: for S3 with an endpoint
    (env or URI query), AWS_REQUEST_CHECKSUM_CALCULATION, set here to `when_required` unless the
    user set it (module docstring: trailing checksums); nothing for a local path, gs:// or AWS."""
    text = normalize(path)
    if not is_remote(text):
        return {}
    scheme, _, _, query = split_uri(text)
    if not _has_endpoint(scheme, query, _endpoint_from_environment()):
        return {}
    os.environ.setdefault(CHECKSUM_VARIABLE, CHECKSUM_FOR_ENDPOINTS)
    return {CHECKSUM_VARIABLE: os.environ[CHECKSUM_VARIABLE]}


def round_trip_problem(written: bytes, read: bytes) -> str | None:
    """Why an object read back differs from what was written (None when it does not), in words."""
    if read == written:
        return None
    sizes = f"{len(written)} bytes written, {len(read)} read back"
    if _AWS_CHUNKED.match(read) and b"x-amz-checksum-" in read:
        setting = os.environ.get(CHECKSUM_VARIABLE)
        now = f"it is {setting!r} here" if setting else "it is unset here"
        return (f"the server stored the upload's aws-chunked framing as the object ({sizes}): it does not "
                "decode the trailing checksums current AWS SDKs send; "
                f"set {CHECKSUM_VARIABLE}={CHECKSUM_FOR_ENDPOINTS} on the driver and every node ({now}; the sweep sets it itself when an endpoint is given and "
                "it is unset), or upgrade the server")
    return f"an object written there reads back different ({sizes}): the server does not store what it is sent"


@lru_cache(maxsize=64)
def _root_filesystem(scheme: str, netloc: str, query: str, endpoint: str | None,
                     checksum: str | None) -> tuple[pafs.FileSystem, str]:
    """One filesystem per bucket and options (and environment endpoint and checksum setting, which
    the SDK reads when the filesystem is built): from_uri may ask the bucket for its region, which
    need not happen for every file."""
    keys = {key for key, _ in query_items(query)}
    if scheme == "s3" and endpoint and "endpoint_override" not in keys:
        logger.debug("S3 endpoint from the environment: %s", endpoint)
        query = "&".join(filter(None, [query, urlencode({"endpoint_override": endpoint})]))
    uri = urlunsplit((scheme, netloc, "", query, ""))
    try:
        filesystem, root = pafs.FileSystem.from_uri(uri)
    except (OSError, ValueError) as error:  # pyarrow.ArrowInvalid is a ValueError
        raise StorageError(f"cannot open {redact(uri)}: {one_line(error)}") from None
    return filesystem, root.rstrip("/") or root  # "bucket" for s3/gs; "/" where paths are absolute


def resolve(path: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path on it) for a local path or a URI."""
    location = locate(path)
    return location.filesystem, location.path


@dataclass(frozen=True)
class Entry:
    """One item of a folder listing."""

    name: str
    is_dir: bool


@dataclass(frozen=True)
class Location:
    """A place on some storage: its filesystem, the path on it, and the path or URI users see."""

    filesystem: pafs.FileSystem
    path: str  # on `filesystem` (local: absolute; S3: bucket/key)
    uri: str  # normalize()d: what goes into tables and messages

    @property
    def remote(self) -> bool:
        return is_remote(self.uri)

    @property
    def name(self) -> str:
        return name(self.uri)

    def child(self, *parts: str) -> Location:
        names = [item for part in parts for item in part.split("/") if item]
        return Location(self.filesystem, posixpath.join(self.path, *names), join(self.uri, *names))

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Remote failures as one StorageError line naming the URI; local ones stay OSErrors."""
        try:
            yield
        except FileNotFoundError:
            raise
        except OSError as error:
            if not self.remote:
                raise
            raise StorageError(f"cannot {doing} {redact(self.uri)}: {one_line(error)}") from None

    def _type(self) -> pafs.FileType:
        with self._errors("reach"):
            return self.filesystem.get_file_info(self.path).type

    def exists(self) -> bool:
        return self._type() != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        return self._type() == pafs.FileType.Directory

    def is_file(self) -> bool:
        return self._type() == pafs.FileType.File

    def list_dir(self) -> list[Entry]:
        """The folder's direct children, by name; empty when it does not exist."""
        selector = pafs.FileSelector(self.path, allow_not_found=True, recursive=False)
        with self._errors("list"):
            infos = self.filesystem.get_file_info(selector)
        return sorted((Entry(info.base_name, info.type == pafs.FileType.Directory) for info in infos),
                      key=lambda entry: entry.name)

    def read_bytes(self) -> bytes:
        with self._errors("read"), self.filesystem.open_input_stream(self.path) as stream:
            return stream.read()

    def read_text(self, errors: str = "strict") -> str:
        """UTF-8 with universal newlines, as Path.read_text reads."""
        with io.TextIOWrapper(io.BytesIO(self.read_bytes()), encoding="utf-8", errors=errors) as text:
            return text.read()

    def open_text(self) -> io.TextIOWrapper:
        """The file's lines as open(path, encoding='utf-8') iterates them."""
        return io.TextIOWrapper(io.BytesIO(self.read_bytes()), encoding="utf-8")

    def write_bytes_atomically(self, data: bytes) -> None:
        """Replace the file whole (module docstring: what 'atomic' means on object storage)."""
        if not self.remote:
            _replace_local_file(Path(self.path), data)
            return
        with self._errors("write"):
            with self.filesystem.open_output_stream(self.path) as stream:
                stream.write(data)

    def delete_dir(self) -> None:
        """The folder and everything in it."""
        with self._errors("delete"):
            self.filesystem.delete_dir(self.path)

    def delete_file(self) -> None:
        with self._errors("delete"):
            self.filesystem.delete_file(self.path)

    def copy_to_local(self, local_dir: str | os.PathLike) -> Path:
        """Copy this file or folder into local_dir (created); returns local_dir/<name>."""
        target = Path(local_dir) / self.name
        (target if self.is_dir() else target.parent).mkdir(parents=True, exist_ok=True)
        with self._errors("copy"):
            pafs.copy_files(self.path, str(target), source_filesystem=self.filesystem,
                            destination_filesystem=pafs.LocalFileSystem())
        return target


def locate(path: str | os.PathLike) -> Location:
    """The Location of a local path or a URI (checked for secrets)."""
    text = normalize(path)
    if not is_remote(text):
        return Location(pafs.LocalFileSystem(), text, text)
    scheme, netloc, segments, query = split_uri(text)
    s3_settings(text)  # before the filesystem is built: the SDK reads them then
    endpoint = _endpoint_from_environment() if scheme == "s3" else None
    filesystem, root = _root_filesystem(scheme, netloc, query, endpoint, os.environ.get(CHECKSUM_VARIABLE))
    return Location(filesystem, posixpath.join(root, *segments) if segments else root, text)


def _replace_local_file(target: Path, data: bytes) -> None:
    """Temp file beside the target, fsync, os.replace: a crash leaves the old file or the new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp_path = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        descriptor = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0666 less the umask
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_path, target)
    finally:
        if temp_path.exists():
            temp_path.unlink()


# --- the path-level API (one Location per call) ----------------------------------------------


def exists(path: str | os.PathLike) -> bool:
    return locate(path).exists()


def is_dir(path: str | os.PathLike) -> bool:
    return locate(path).is_dir()


def is_file(path: str | os.PathLike) -> bool:
    return locate(path).is_file()


def read_bytes(path: str | os.PathLike) -> bytes:
    return locate(path).read_bytes()


def read_text(path: str | os.PathLike) -> str:
    return locate(path).read_text()


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> None:
    locate(path).write_bytes_atomically(data)


def list_dir(path: str | os.PathLike) -> list[Entry]:
    return locate(path).list_dir()


def delete_dir(path: str | os.PathLike) -> None:
    locate(path).delete_dir()


def delete_file(path: str | os.PathLike) -> None:
    locate(path).delete_file()


def copy_to_local(uri: str | os.PathLike, local_dir: str | os.PathLike) -> Path:
    return locate(uri).copy_to_local(local_dir)


# --- Ray Tune ----------------------------------------------------------------------------------


def ray_storage(path: str | os.PathLike) -> tuple[str, pafs.FileSystem | None]:
    """(storage_path, storage_filesystem) for RunConfig, or (experiment path, filesystem) for
    Tuner.restore / Tuner.can_restore / ExperimentAnalysis: a local path alone, or a URI's path on
    the filesystem resolved here (so driver, trial workers and a restore share one endpoint)."""
    location = locate(path)
    if not location.remote:
        return location.path, None
    return location.path, location.filesystem


def trial_dirname(trial: Any) -> str:
    """A trial folder name without '=' or ',' (TuneConfig(trial_dirname_creator=...)): the
    trainable and the trial id, unique in an experiment, e.g. 'train_0a1b2_00003'."""
    return f"{trial.trainable_name}_{trial.trial_id}"
