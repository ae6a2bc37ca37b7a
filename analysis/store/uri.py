"""Storage paths as text: a local path or an object-storage URI, checked, normalized and joined.

No filesystem is touched here (analysis.store.storage opens them). `is_remote` is the one test
for a scheme (nothing else tests for '://'); `normalize`, `join`, `name` and `parent` build
paths, `redact` and `one_line` word them for messages.

Credentials never travel in a path. A URI with user info (``s3://KEY:SECRET@bucket``) or a
secret-looking query parameter (``secret_key``, ``access_key``, ``account_key``, ``session_token``,
``sig``, ...) is refused in one line that names the part, never its value (pyarrow itself would
accept the user info as credentials). One kind of user info is no secret: Azure's
``abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/...`` (also abfs://, wasb://, wasbs://) names the
container there, so for those schemes user info without a ``:`` is accepted and shown; with a
``:`` (a password) it is refused like any other. Keys come from the environment or the filesystem's own configuration
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, ``~/.aws``, an instance
or pod role; for gs://, ``GOOGLE_APPLICATION_CREDENTIALS``), and no filesystem is ever built
with explicit keys (analysis.store.storage says why). A URI's query is kept: pyarrow's endpoint
options live there (``?endpoint_override=host:port&scheme=http``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
# Query keys that carry credentials, by any filesystem's or signer's spelling.
_SECRET_KEY = re.compile(r"secret|token|passw|credential|access_?key|key_?id|signature|^sig$|(^|_)key$|private", re.I)
# Schemes whose user info is a container, not a credential: abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/
_CONTAINER_IN_USER_INFO = frozenset({"abfs", "abfss", "wasb", "wasbs"})
_SAFE_IN_PATH = "/=,:@!$&'()*+;-._~"  # kept readable in URIs (Tune's folder names use = and ,)
# pyarrow 26's URI options for S3 and GCS: shown by `redact`; any other query value is hidden.
_PUBLIC_QUERY_KEYS = frozenset({
    "region", "scheme", "endpoint_override", "allow_bucket_creation", "allow_bucket_deletion",
    "allow_delayed_open", "tls_ca_file_path", "retry_limit_seconds", "project_id",
})


class StorageError(ValueError):
    """A path or URI that cannot be used, or storage that failed; one line, never a secret."""


def is_remote(path: str | os.PathLike) -> bool:
    """True for a URI other than file:// (s3://, gs://, ...); the one test for a scheme."""
    match = _SCHEME.match(path) if isinstance(path, str) else None  # a Path is never a URI
    return bool(match) and match.group(1).lower() != "file"


def _printable(text: str) -> str:
    """One line, whatever a path holds."""
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)


def query_items(query: str) -> list[tuple[str, str | None]]:
    """(key, value) pairs as written; value None for an item without '='."""
    items = []
    for item in filter(None, query.split("&")):
        key, equals, value = item.partition("=")
        items.append((unquote(key), unquote(value) if equals else None))
    return items


def _user_info_is_a_secret(scheme: str, netloc: str) -> bool:
    """User info in a URI's netloc, unless it is an Azure container (no ':'), is a credential."""
    if "@" not in netloc:
        return False
    user_info = netloc.rpartition("@")[0]
    return scheme.lower() not in _CONTAINER_IN_USER_INFO or ":" in user_info or not user_info


def redact(uri: str | os.PathLike) -> str:
    """The URI with user info and every query value but pyarrow's known options replaced by ***."""
    text = os.fspath(uri)
    if not is_remote(text):
        return _printable(text)
    try:
        parts = urlsplit(text)
    except ValueError:
        return f"{text.split('://', 1)[0]}://***"
    host = parts.netloc.rpartition("@")[2]
    netloc = f"***@{host}" if _user_info_is_a_secret(parts.scheme, parts.netloc) else parts.netloc
    shown = [f"{key}={value}" if key in _PUBLIC_QUERY_KEYS and value is not None
             else ("***" if value is None else f"{key}=***") for key, value in query_items(parts.query)]
    return _printable(urlunsplit((parts.scheme, netloc, parts.path, "&".join(shown), "***" if parts.fragment else "")))


def check_no_secrets(uri: str | os.PathLike) -> None:
    """Refuse a URI that embeds credentials: user info, a secret-looking query key, or a query item
    without a key (a pasted token)."""
    text = os.fspath(uri)
    if not is_remote(text):
        return
    try:
        parts = urlsplit(text)
    except ValueError as error:
        raise StorageError(f"cannot parse {redact(text)}: {error}") from None
    items = query_items(parts.query)
    found = ["user info (KEY:SECRET@)"] if _user_info_is_a_secret(parts.scheme, parts.netloc) else []
    found += [f"query parameter {key!r}" for key, value in items if value is not None and _SECRET_KEY.search(key)]
    found += ["a query item without a key"] if any(value is None for _, value in items) else []
    if found:
        raise StorageError(
            f"{redact(text)} embeds credentials ({', '.join(found)}); give them through the environment "
            "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; GOOGLE_APPLICATION_CREDENTIALS) "
            "or the filesystem's own configuration, never in the path")


def split_uri(uri: str) -> tuple[str, str, list[str], str]:
    """(scheme, bucket/host, path segments unquoted, query) of a checked URI."""
    parts = urlsplit(uri)
    if parts.fragment or uri.endswith("#"):
        raise StorageError(f"{redact(uri)}: '#' is not allowed in a storage URI")
    if not parts.netloc:
        raise StorageError(f"{redact(uri)} names no bucket (expected {parts.scheme}://BUCKET/PREFIX)")
    segments = [unquote(segment) for segment in parts.path.split("/") if segment]
    if any(segment in (".", "..") for segment in segments):
        raise StorageError(f"{redact(uri)}: '.' and '..' are not allowed in a storage URI")
    return parts.scheme.lower(), parts.netloc, segments, parts.query


def _unsplit(scheme: str, netloc: str, segments: list[str], query: str) -> str:
    path = "".join(f"/{quote(segment, safe=_SAFE_IN_PATH)}" for segment in segments)
    return urlunsplit((scheme, netloc, path, query, ""))


def normalize(path: str | os.PathLike) -> str:
    """A local path made absolute (~ expanded); a URI checked for secrets, its scheme lower-case,
    without a trailing slash, its query kept (pyarrow's endpoint options live there)."""
    text = os.fspath(path)
    if not text:
        raise StorageError("an empty storage path")
    if not is_remote(text):
        if _SCHEME.match(text):  # file://
            text = unquote(urlsplit(text).path)
        return os.path.abspath(os.path.expanduser(text))
    check_no_secrets(text)
    return _unsplit(*split_uri(text))


def join(base: str | os.PathLike, *parts: str) -> str:
    """base/part/...: each part a folder or file name (or several, separated by '/')."""
    base = normalize(base)
    names = [name for part in parts for name in part.split("/") if name]
    if any(name in (".", "..") for name in names):
        raise StorageError(f"cannot join {names} to {redact(base)}: '.' and '..' are not names")
    if not is_remote(base):
        return str(Path(base, *names))
    scheme, netloc, segments, query = split_uri(base)
    return _unsplit(scheme, netloc, segments + names, query)


def name(path: str | os.PathLike) -> str:
    """The last component (an experiment's or a checkpoint's name)."""
    text = normalize(path)
    if not is_remote(text):
        return Path(text).name
    segments = split_uri(text)[2]
    return segments[-1] if segments else split_uri(text)[1]


def parent(path: str | os.PathLike) -> str:
    """The folder holding path (for `<name>-confirm` beside an experiment)."""
    text = normalize(path)
    if not is_remote(text):
        return str(Path(text).parent)
    scheme, netloc, segments, query = split_uri(text)
    if not segments:
        raise StorageError(f"{redact(text)} is a bucket; it has no parent folder")
    return _unsplit(scheme, netloc, segments[:-1], query)


def one_line(error: BaseException) -> str:
    """The first non-empty line of an error (pyarrow's can run to many), for `error: ...` lines."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
