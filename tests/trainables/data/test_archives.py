"""extract_archive: good archives land in place; hostile ones write nothing anywhere."""

import io
import os
import tarfile

import pytest

from trainables.data.archives import DataError, extract_archive, scan_archive


def add_file(tar: tarfile.TarFile, name: str, payload: bytes = b"data") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def add_link(tar: tarfile.TarFile, name: str, target: str, kind: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


def snapshot(root) -> set[str]:
    return {os.path.relpath(os.path.join(dirpath, name), root) for dirpath, dirs, files in os.walk(root) for name in dirs + files}


@pytest.fixture
def layout(tmp_path):
    """tmp_path/data is the target; everything else under tmp_path is 'outside'."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return tmp_path, data_dir


def test_good_archive_is_extracted_without_leftovers(layout):
    root, data_dir = layout
    archive = root / "good.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_file(tar, "folder/a.bin", b"alpha")
        add_file(tar, "folder/sub/b.bin", b"beta")
    placed = extract_archive(archive, data_dir)
    assert placed == [data_dir / "folder"]
    assert (data_dir / "folder" / "a.bin").read_bytes() == b"alpha"
    assert (data_dir / "folder" / "sub" / "b.bin").read_bytes() == b"beta"
    assert snapshot(data_dir) == {"folder", "folder/a.bin", "folder/sub", "folder/sub/b.bin"}


def test_existing_entry_is_kept(layout):
    root, data_dir = layout
    archive = root / "good.tar"
    with tarfile.open(archive, "w") as tar:
        add_file(tar, "folder/a.bin", b"new")
    (data_dir / "folder").mkdir()
    (data_dir / "folder" / "a.bin").write_bytes(b"old")
    extract_archive(archive, data_dir)
    assert (data_dir / "folder" / "a.bin").read_bytes() == b"old"
    assert snapshot(data_dir) == {"folder", "folder/a.bin"}


def hostile_members(root):
    """(description, builder) pairs; each builder writes members into an open tar."""
    return [
        ("dotdot", lambda tar: add_file(tar, "../escaped.txt")),
        ("nested dotdot", lambda tar: add_file(tar, "folder/../../escaped.txt")),
        ("absolute", lambda tar: add_file(tar, str(root / "escaped.txt"))),
        (
            "symlink escaping",
            lambda tar: (add_link(tar, "folder/link", str(root), tarfile.SYMTYPE), add_file(tar, "folder/link/escaped.txt")),
        ),
        (
            "relative symlink escaping",
            lambda tar: (add_link(tar, "link", "..", tarfile.SYMTYPE), add_file(tar, "link/escaped.txt")),
        ),
        ("hardlink outside", lambda tar: add_link(tar, "folder/hard", str(root / "secret.txt"), tarfile.LNKTYPE)),
    ]


@pytest.mark.parametrize("case", range(6))
def test_hostile_archive_is_refused_and_nothing_is_written(layout, case):
    root, data_dir = layout
    (root / "secret.txt").write_text("keep me")
    description, build = hostile_members(root)[case]
    archive = root / "hostile.tar"
    with tarfile.open(archive, "w") as tar:
        add_file(tar, "folder/innocent.txt")  # a good member first: it must not be left behind either
        build(tar)
    before = snapshot(root)
    with pytest.raises(DataError, match="refusing"):
        extract_archive(archive, data_dir)
    assert snapshot(root) == before, description
    assert list(data_dir.iterdir()) == []
    assert (root / "secret.txt").read_text() == "keep me"


def test_corrupt_or_missing_archive_is_a_data_error(layout):
    root, data_dir = layout
    corrupt = root / "corrupt.tar.gz"
    corrupt.write_bytes(b"this is not a tar file")
    with pytest.raises(DataError, match="corrupt.tar.gz"):
        extract_archive(corrupt, data_dir)
    assert list(data_dir.iterdir()) == []
    with pytest.raises(DataError, match="does not exist"):
        extract_archive(root / "absent.tar.gz", data_dir)


@pytest.mark.parametrize("case", range(6))
def test_scan_refuses_hostile_members_and_writes_nothing(layout, case):
    root, data_dir = layout
    description, build = hostile_members(root)[case]
    archive = data_dir / "hostile.tar"
    with tarfile.open(archive, "w") as tar:
        add_file(tar, "folder/innocent.txt")
        build(tar)
    before = snapshot(root)
    with pytest.raises(DataError, match="refusing") as error:
        scan_archive(archive)
    assert str(archive) in str(error.value)
    assert snapshot(root) == before, description


def test_scan_reads_every_file_once_and_finds_truncation(layout):
    root, data_dir = layout
    archive = root / "good.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_file(tar, "folder/a.bin", b"alpha" * 1000)
        add_file(tar, "folder/b.bin", os.urandom(20000))
    seen = {}
    names = scan_archive(archive, lambda name, stream: seen.setdefault(name, stream.read()))
    assert names == ["folder/a.bin", "folder/b.bin"]
    assert seen["folder/a.bin"] == b"alpha" * 1000 and len(seen["folder/b.bin"]) == 20000
    archive.write_bytes(archive.read_bytes()[:-5000])
    with pytest.raises(DataError, match="cannot read .*good.tar.gz"):
        scan_archive(archive)
