"""Hostile data files for the --data-dir tests: a CIFAR archive with chosen batches, an unpickling exploit."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np

BATCHES = [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]


class Exploit:
    """Unpickling this runs a shell command: a CIFAR reader must refuse it."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def good_batch(rows: int = 2) -> dict:
    rng = np.random.default_rng(rows)
    return {b"data": rng.integers(0, 256, (rows, 3072), dtype=np.uint8), b"labels": [1] * rows}


def add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(payload)
    tar.addfile(member, io.BytesIO(payload))


def cifar_archive(data_dir, replace: dict | None = None, extra: dict | None = None):
    """cifar-10-python.tar.gz with good batches, some replaced (by a dict or raw bytes)."""
    replace = replace or {}
    archive = data_dir / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for batch in BATCHES:
            content = replace.get(batch, good_batch())
            if content is not None:
                payload = content if isinstance(content, bytes) else pickle.dumps(content, protocol=2)
                add_bytes(tar, f"cifar-10-batches-py/{batch}", payload)
        for name, payload in (extra or {}).items():
            add_bytes(tar, name, payload)
    return archive


def hostile_cifar_archive(directory) -> None:
    """cifar-10-python.tar.gz whose one member would be written outside the data directory."""
    with tarfile.open(directory / "cifar-10-python.tar.gz", "w:gz") as archive:
        member = tarfile.TarInfo("../x")
        payload = b"outside"
        member.size = len(payload)
        archive.addfile(member, io.BytesIO(payload))
