"""Safe extraction of dataset archives, and the package's one error type.

A data directory may be shared or come from elsewhere, so an archive in it is
untrusted: no member may land outside the target directory. Members are checked
before anything is written (tarfile's ``data`` filter is used as a second line of
defence, never as the only one), everything is extracted into a temporary folder
next to the target, and each top-level entry is moved into place with one atomic
``rename``. A crash or a refused archive therefore leaves nothing half-written.
``scan_archive`` does the same member checks (and lets the caller read each file)
in one streaming pass that writes nothing, for the pre-flight check before Ray starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """A dataset cannot be found, downloaded, read or extracted.

    The message is one line naming the file and what is wrong with it, so the CLI
    can print it as is; line breaks from a library's error text are folded here.
    """

    def __init__(self, message: object) -> None:
        super().__init__(" ".join(str(message).split()))


def reason(error: BaseException) -> str:
    """An exception's text for a one-line message; its type where the text is empty."""
    return str(error) or type(error).__name__


def _unsafe_reason(member: tarfile.TarInfo) -> str | None:
    """Why this member must not be extracted, or None when it is safe.

    Links are refused outright: no standard dataset archive has them, and a link
    that points inside can still be chained with later members to escape.
    """
    name = member.name
    path = PurePosixPath(name)
    if name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in path.parts or ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "'..' in path"
    if member.issym() or member.islnk():
        return f"link to {member.linkname!r}"
    if not (member.isfile() or member.isdir()):
        return "not a regular file or directory"
    return None


def _check_member(archive: Path, member: tarfile.TarInfo) -> None:
    reason = _unsafe_reason(member)
    if reason is not None:
        raise DataError(
            f"refusing to extract {archive}: member {member.name!r} ({reason}) "
            "could write outside the target directory"
        )


def scan_archive(
    archive: str | os.PathLike, read_file: Callable[[str, IO[bytes]], None] | None = None
) -> list[str]:
    """Read a tar archive once, end to end, writing nothing; return its member names.

    Refuses unsafe members as ``extract_archive`` does and finds truncated or
    corrupt archives (reading to the end is the only way to find either: a tar
    has no index). ``read_file(name, stream)`` is called for each regular file
    so a caller can check contents in the same pass.
    """
    archive = Path(archive)
    names = []
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                _check_member(archive, member)
                if member.isfile() and read_file is not None:
                    read_file(member.name, tar.extractfile(member))
                names.append(member.name)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DataError(f"cannot read {archive}: {reason(error)}") from error
    return names


def _check_extracted_tree(root: Path) -> None:
    """Defence in depth: after extraction nothing may resolve outside ``root``."""
    resolved_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in (*dirnames, *filenames):
            path = Path(dirpath) / entry
            if path.is_symlink() or not path.resolve().is_relative_to(resolved_root):
                raise DataError(f"refusing extracted entry {path}: it points outside {root}")


def extract_archive(archive: str | os.PathLike, destination: str | os.PathLike) -> list[Path]:
    """Extract a tar archive (any compression) into ``destination``.

    Returns the paths of the top-level entries now in ``destination``. An entry
    that already exists there is kept as is (another process got there first),
    so concurrent extraction of the same archive is harmless.
    """
    archive = Path(archive)
    destination = Path(destination)
    if not archive.is_file():
        raise DataError(f"archive {archive} does not exist")
    destination.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{archive.name}.", suffix=".partial", dir=destination))
    try:
        try:
            with tarfile.open(archive, mode="r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(archive, member)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, members=members, filter="data")
                else:  # Python without PEP 706: our own checks above still hold.
                    tar.extractall(staging, members=members)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise DataError(f"cannot extract {archive}: {error}") from error
        _check_extracted_tree(staging)
        placed = []
        for entry in sorted(staging.iterdir()):
            target = destination / entry.name
            try:
                os.rename(entry, target)
            except OSError:
                if not target.exists():
                    raise
                logger.info("%s already exists; keeping it", target)
            placed.append(target)
        return placed
    finally:
        shutil.rmtree(staging, ignore_errors=True)
