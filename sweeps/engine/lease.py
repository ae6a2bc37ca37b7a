"""One driver per experiment: a lease file in the experiment folder that the live driver renews.

Two drivers on one experiment (a `--resume` started while the first still runs, by the same
user in another terminal or by a batch system that restarted a job it thought lost) would
restore and run the same trials into the same folders. So a driver holds a lease on each
experiment it runs (the search's folder for the whole run; the confirmation's, `<name>-confirm`,
once that stage starts): `driver.lease.json`, holding who holds it (host, pid), a random token,
when it was renewed and for how long it is good (`ttl_s`). A daemon thread renews it every
`RENEW_SECONDS`; the driver deletes it when it ends, however it ends short of SIGKILL.

Another driver (with or without `--resume`) reads the lease before Ray starts and before it
writes anything, and stops with one line naming the holder while the lease is live:

- the holder is on this machine (same host name, boot and pid namespace): live while its
  process runs (the same pid with the same start time), so after a SIGKILL or a crash of the
  driver alone, `--resume` works at once;
- on another machine: live until `ttl_s` (TTL_SECONDS = 60) after its last renewal, so after
  that machine died `--resume` works at most 60 s later. The clocks of the two machines must
  agree to within a few seconds (NTP); a lease renewed "in the future" counts from then.

The file goes through `analysis.store.storage`, so the lease works on every storage the project
supports, object storage included. Taking a lease is: read it; if another driver holds it
live, refuse; else write ours, wait `settle_seconds` and read it back: of two drivers that
started at the same moment, the one whose lease was overwritten sees the other's token and
refuses. Object storage has no atomic create-if-absent that pyarrow exposes, so this is a
window of a few milliseconds between one driver's read and its write (0.2 s settle on a local
disk, 2 s on object storage, where one request can take that long); the renewal closes the
rest: a driver that finds another driver's token in its lease stops (as on SIGTERM).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from analysis.store import storage
from analysis.store.schema import DRIVER_LEASE_FILE
from analysis.store.storage import Location
from sweeps.engine.errors import UsageError

log = logging.getLogger(__name__)

LEASE_FILE = DRIVER_LEASE_FILE  # analysis reads its presence: no lease, no running trial
TTL_SECONDS = 60.0  # how long a lease of a driver on another machine outlives its last renewal
RENEW_SECONDS = 10.0  # six renewals per TTL: a driver stalled for a while (swapping, a busy disk) keeps it
SETTLE_SECONDS = {False: 0.2, True: 2.0}  # by storage.is_remote: see the module docstring


class LeaseHeld(UsageError):
    """Another live driver holds the experiment: refused, and nothing of its experiment is touched."""


@dataclass(frozen=True)
class Holder:
    """What a lease file says about the driver that holds it."""

    host: str
    boot_id: str  # /proc/sys/kernel/random/boot_id: a reboot is another machine for pids
    pid_namespace: str  # containers on one kernel share the boot id, not their pids
    pid: int
    pid_started: str  # the process' start time (/proc/PID/stat): a reused pid is another process
    token: str
    renewed_at: float  # the holder's wall clock (time.time())
    ttl_s: float

    def describe(self, now: float) -> str:
        ago = max(0.0, now - self.renewed_at)
        return f"pid {self.pid} on host {self.host}, lease renewed {ago:.0f} s ago"


def _read_proc(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """The start time of a running process (clock ticks since boot), "" where /proc has none,
    None when no such process runs (a zombie, killed and not yet reaped, is not running)."""
    stat = _read_proc(f"/proc/{pid}/stat")
    if stat:
        fields = stat.rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: alive
    return ""


def this_driver(token: str, now: float, ttl_s: float = TTL_SECONDS) -> Holder:
    pid = os.getpid()
    return Holder(host=socket.gethostname(), boot_id=_read_proc("/proc/sys/kernel/random/boot_id"),
                  pid_namespace=_pid_namespace(), pid=pid, pid_started=_process_start(pid) or "",
                  token=token, renewed_at=now, ttl_s=ttl_s)


def same_machine(holder: Holder, here: Holder) -> bool:
    """Pids mean the same process on both: one host name, one boot, one pid namespace."""
    return (holder.host, holder.boot_id, holder.pid_namespace) == (here.host, here.boot_id, here.pid_namespace)


def is_live(holder: Holder, here: Holder, now: float) -> bool:
    """Whether the holder may still be running the experiment (see the module docstring)."""
    if same_machine(holder, here):
        started = _process_start(holder.pid)
        return started is not None and (not holder.pid_started or not started or started == holder.pid_started)
    return now < holder.renewed_at + holder.ttl_s


def lease_location(storage_path: str, name: str) -> Location:
    return storage.locate(storage.join(storage_path, name, LEASE_FILE))


def read_holder(location: Location) -> Holder | None:
    """The lease's holder; None without a lease, or for one that is not a lease (a torn write)."""
    try:
        data = json.loads(location.read_text())
        return Holder(**{field: data[field] for field in Holder.__dataclass_fields__})
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        log.warning("ignoring an unreadable lease %s: %s", location.uri, error)
        return None


def refusal(name: str, holder: Holder, here: Holder, now: float) -> str:
    """The one line for a second driver: who holds the experiment, and what to do."""
    line = f"experiment {name!r} is being run by another driver ({holder.describe(now)}); "
    if same_machine(holder, here):
        return line + f"wait for it to end, or stop it (kill {holder.pid}) and then --resume"
    expires = time.strftime("%H:%M:%S", time.localtime(holder.renewed_at + holder.ttl_s))
    return line + (f"wait for it to end, or stop it there; if that machine is gone, the lease expires at "
                   f"{expires} ({holder.ttl_s:.0f} s after its last renewal) and --resume works then")


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Storage that cannot be reached (or a URI that cannot be used) is the user's one line."""
    try:
        yield
    except storage.StorageError as error:
        raise UsageError(str(error)) from None


def check_free(storage_path: str, names: Sequence[str]) -> None:
    """Refuse (LeaseHeld) when a live driver holds one of these experiments; reads only."""
    with _one_line_errors():
        _check_free(storage_path, names)


def _check_free(storage_path: str, names: Sequence[str]) -> None:
    here = this_driver("", time.time())
    for name in names:
        holder = read_holder(lease_location(storage_path, name))
        now = time.time()
        if holder is not None and is_live(holder, here, now):
            raise LeaseHeld(refusal(name, holder, here, now))


class Lease:
    """This driver's lease on one experiment: `acquire`, renewed by a daemon thread, `release`."""

    def __init__(self, storage_path: str, name: str, on_lost: Callable[[Holder], None] | None = None,
                 ttl_s: float = TTL_SECONDS, renew_seconds: float = RENEW_SECONDS) -> None:
        self.name = name
        self.location = lease_location(storage_path, name)
        self.token = secrets.token_hex(16)
        self.ttl_s = ttl_s
        self.renew_seconds = renew_seconds
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        holder = this_driver(self.token, time.time(), self.ttl_s)
        self._written = json.dumps(asdict(holder), indent=1).encode()
        self.location.write_bytes_atomically(self._written)

    def _refuse(self, holder: Holder | None) -> NoReturn:
        """Why the lease read back after writing is not this driver's: another driver's, or (when it
        is not a lease at all) a store that did not keep what was written, never blamed on a driver."""
        if holder is not None:
            raise LeaseHeld(refusal(self.name, holder, this_driver(self.token, time.time(), self.ttl_s), time.time()))
        try:
            problem = storage.round_trip_problem(self._written, self.location.read_bytes())
        except FileNotFoundError:
            problem = None
        if problem:
            raise UsageError(f"experiment {self.name!r}: its lease {self.location.uri} did not read back as written: "
                             f"{problem}")
        raise LeaseHeld(f"experiment {self.name!r}: another driver took its lease as this one started")

    def acquire(self, settle_seconds: float | None = None) -> None:
        here = this_driver(self.token, time.time(), self.ttl_s)
        holder = read_holder(self.location)
        if holder is not None and holder.token != self.token:
            if is_live(holder, here, time.time()):
                raise LeaseHeld(refusal(self.name, holder, here, time.time()))
            log.info("taking over the lease of %s: that driver is gone", holder.describe(time.time()))
        self._write()
        time.sleep(SETTLE_SECONDS[self.location.remote] if settle_seconds is None else settle_seconds)
        holder = read_holder(self.location)
        if holder is None or holder.token != self.token:  # another driver wrote after us: it runs, we do not
            self._refuse(holder)
        self._thread = threading.Thread(target=self._renew, name=f"lease-{self.name}", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.renew_seconds):
            try:
                holder = read_holder(self.location)
                if holder is not None and holder.token != self.token:
                    log.error("the lease of experiment %r was taken by another driver (%s); stopping this one",
                              self.name, holder.describe(time.time()))
                    if self._on_lost is not None:
                        self._on_lost(holder)
                    return
                self._write()
            except (OSError, storage.StorageError) as error:  # storage hiccup: retried at the next renewal
                log.warning("could not renew the lease of %r: %s", self.name, error)

    def release(self) -> None:
        """Stop renewing and delete the lease, if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.renew_seconds + 5)
        try:
            holder = read_holder(self.location)
            if holder is not None and holder.token == self.token:
                self.location.delete_file()
        except (OSError, storage.StorageError) as error:
            log.warning("could not remove the lease of %r: %s (it expires by itself)", self.name, error)


class Leases:
    """The leases one run holds (the search's, then the confirmation's); all released at the end."""

    def __init__(self, storage_path: str, on_lost: Callable[[Holder], None] | None = None) -> None:
        self.storage_path = storage_path
        self._on_lost = on_lost
        self._held: list[Lease] = []

    def hold(self, name: str) -> None:
        if any(lease.name == name for lease in self._held):
            return
        lease = Lease(self.storage_path, name, on_lost=self._on_lost)
        with _one_line_errors():
            lease.acquire()
        self._held.append(lease)

    def release(self) -> None:
        while self._held:
            self._held.pop().release()


@contextmanager
def holding(storage_path: str, names: Sequence[str], on_lost: Callable[[Holder], None] | None = None
            ) -> Iterator[Leases]:
    """Hold leases on `names` (more with `.hold`) until the block ends."""
    leases = Leases(storage_path, on_lost)
    try:
        for name in names:
            leases.hold(name)
        yield leases
    finally:
        leases.release()
