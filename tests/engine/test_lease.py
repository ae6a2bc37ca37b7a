"""sweeps.engine.lease without Ray: who holds an experiment, when a lease is live, and that it
works through analysis.store.storage on a local disk and on a loopback S3 server. The two-driver case
through the real command line is in test_faults.py."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from sweeps.engine import lease
from sweeps.engine.errors import UsageError
from sweeps.engine.lease import LEASE_FILE, Lease, LeaseHeld, check_free, read_holder, this_driver

NO_SETTLE = 0.0  # one process here: nobody else can write between our write and our read-back


def write_holder(path: Path, holder: lease.Holder) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(holder)))


def a_dead_pid() -> int:
    """The pid of a process that ran on this machine and has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def test_a_lease_is_written_renewed_and_removed(tmp_path: Path) -> None:
    held = Lease(str(tmp_path), "exp", renew_seconds=0.05)
    held.acquire(settle_seconds=NO_SETTLE)
    path = tmp_path / "exp" / LEASE_FILE
    first = read_holder(lease.lease_location(str(tmp_path), "exp"))
    assert first is not None and first.token == held.token and first.pid == this_driver("", 0).pid
    assert first.ttl_s == lease.TTL_SECONDS and first.pid_started
    wait_for(lambda: read_holder(lease.lease_location(str(tmp_path), "exp")).renewed_at > first.renewed_at)
    held.release()
    assert not path.exists()


def test_a_live_holder_refuses_a_second_driver_with_one_line_naming_it(tmp_path: Path) -> None:
    first = Lease(str(tmp_path), "exp")
    first.acquire(settle_seconds=NO_SETTLE)
    try:
        with pytest.raises(LeaseHeld) as refused:
            check_free(str(tmp_path), ["exp"])
        message = str(refused.value)
        assert "\n" not in message and f"pid {this_driver('', 0).pid} on host " in message
        assert message.startswith("experiment 'exp' is being run by another driver") and "--resume" in message
        with pytest.raises(LeaseHeld):
            Lease(str(tmp_path), "exp").acquire(settle_seconds=NO_SETTLE)
        assert read_holder(first.location).token == first.token  # the refused one wrote nothing
    finally:
        first.release()


def test_the_lease_of_a_dead_driver_on_this_machine_is_taken_at_once(tmp_path: Path) -> None:
    dead = replace(this_driver("old-token", time.time()), pid=a_dead_pid(), pid_started="1")
    write_holder(tmp_path / "exp" / LEASE_FILE, dead)
    check_free(str(tmp_path), ["exp"])  # no error: that driver is gone
    taken = Lease(str(tmp_path), "exp")
    taken.acquire(settle_seconds=NO_SETTLE)
    assert read_holder(taken.location).token == taken.token
    taken.release()


def test_a_reused_pid_is_not_the_driver_that_held_the_lease(tmp_path: Path) -> None:
    here = this_driver("old-token", time.time())  # this pid, but another process start time
    write_holder(tmp_path / "exp" / LEASE_FILE, replace(here, pid_started=str(int(here.pid_started) - 1)))
    check_free(str(tmp_path), ["exp"])


def test_a_driver_on_another_machine_holds_until_its_ttl_after_the_last_renewal(tmp_path: Path) -> None:
    now = time.time()
    elsewhere = replace(this_driver("other", now), host="other-host", boot_id="another-boot", pid=1)
    write_holder(tmp_path / "fresh" / LEASE_FILE, replace(elsewhere, renewed_at=now - 5))
    write_holder(tmp_path / "stale" / LEASE_FILE, replace(elsewhere, renewed_at=now - lease.TTL_SECONDS - 1))
    with pytest.raises(LeaseHeld) as refused:
        check_free(str(tmp_path), ["fresh"])
    assert "on host other-host" in str(refused.value) and "the lease expires at " in str(refused.value)
    check_free(str(tmp_path), ["stale"])  # that machine stopped renewing more than a TTL ago
    same_host_other_namespace = replace(elsewhere, host=this_driver("", 0).host, renewed_at=now)
    write_holder(tmp_path / "container" / LEASE_FILE, same_host_other_namespace)
    with pytest.raises(LeaseHeld):  # pid 1 of another boot or container means nothing here: the TTL decides
        check_free(str(tmp_path), ["container"])


def test_a_driver_whose_lease_was_taken_is_told_to_stop(tmp_path: Path) -> None:
    lost = threading.Event()
    held = Lease(str(tmp_path), "exp", on_lost=lambda holder: lost.set(), renew_seconds=0.05)
    held.acquire(settle_seconds=NO_SETTLE)
    usurper = replace(this_driver("usurper", time.time()), host="other-host")
    write_holder(tmp_path / "exp" / LEASE_FILE, usurper)
    assert lost.wait(30)
    held.release()
    assert read_holder(held.location).token == "usurper"  # not ours to delete


def test_of_two_drivers_writing_at_once_only_the_last_writer_runs(tmp_path: Path, monkeypatch) -> None:
    """The race the settle time is for: B writes after A's write, before A reads it back."""
    first, second = Lease(str(tmp_path), "exp"), Lease(str(tmp_path), "exp")
    sleep = time.sleep

    def other_driver_writes_meanwhile(seconds: float) -> None:
        monkeypatch.setattr(lease.time, "sleep", sleep)
        second._write()

    monkeypatch.setattr(lease.time, "sleep", other_driver_writes_meanwhile)
    with pytest.raises(LeaseHeld):
        first.acquire()
    assert read_holder(first.location).token == second.token


def test_a_lease_that_reads_back_mangled_is_blamed_on_the_store_not_on_another_driver(tmp_path, monkeypatch):
    """A store that keeps an upload's aws-chunked framing once made this driver's own lease
    unreadable, and the driver said "another driver took its lease" (issue 32)."""
    held = Lease(str(tmp_path), "exp")
    location_type = type(held.location)
    write = location_type.write_bytes_atomically

    def framed(location, body: bytes) -> None:
        write(location, b"%x\r\n" % len(body) + body + b"\r\n0\r\nx-amz-checksum-crc64nvme:AAAAAAAAAAA=\r\n\r\n")

    monkeypatch.setattr(location_type, "write_bytes_atomically", framed)
    with pytest.raises(UsageError) as refused:
        held.acquire(settle_seconds=NO_SETTLE)
    assert not isinstance(refused.value, LeaseHeld)
    assert "did not read back as written: the server stored the upload's aws-chunked framing" in str(refused.value)
    assert "another driver" not in str(refused.value)


def test_an_unreadable_lease_is_no_lease(tmp_path: Path) -> None:
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / LEASE_FILE).write_text("{not json")
    check_free(str(tmp_path), ["exp"])


def test_the_lease_on_object_storage(tmp_path: Path) -> None:
    pytest.importorskip("moto.server", reason="the S3 tests need moto's server: pip install 'moto[server]'")
    from support.s3 import s3_server

    with s3_server() as server:
        storage_path = server.uri("results")
        held = Lease(storage_path, "exp")
        held.acquire(settle_seconds=NO_SETTLE)
        assert server.keys("results/") == [f"results/exp/{LEASE_FILE}"]
        with pytest.raises(LeaseHeld):
            check_free(storage_path, ["exp"])
        check_free(storage_path, ["other"])
        held.release()
        assert f"results/exp/{LEASE_FILE}" not in server.keys("results/")  # (pyarrow leaves the folder marker)
        check_free(storage_path, ["exp"])
