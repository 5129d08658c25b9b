"""The prediction log's on-disk spool: answered requests kept on local disk until the store has them.

Layout: ``ROOT/ENDPOINT/MS-ID.arrow``, where ``ROOT`` is ``LOOPWRIGHT_HOME/spool/predictions/STORE``
(``STORE`` a digest of the store and artifact URIs: a spool is replayed only into the store it was
written for). A *segment* is an Arrow IPC stream holding the rows of one group (endpoint, model
version, shadow, hour) and one column set, with the group in its schema metadata; one process
appends a record batch to it every spool tick and seals it after ``flush_interval`` seconds.

Who may touch a segment is decided by ``flock``: its writer holds an exclusive lock from creation
(under a ``.tmp`` name, renamed once locked, so nobody sees it unlocked) until it seals it. Any
process sharing the folder (the other workers of a server, the next start after a crash) may take
a segment whose lock it gets: a sealed one, or one whose writer died -- the kernel drops a dead
process's locks, and a SIGKILL leaves every batch written before it (a batch cut short is ignored).
Whoever takes a segment writes it to the store under the segment's id and unlinks it, so a retry
after a commit whose acknowledgement was lost finds the id already recorded instead of logging the
rows twice.

Examples
--------
>>> import tempfile, pyarrow as pa
>>> spool = Spool(Path(tempfile.mkdtemp()), max_bytes=1 << 20)
>>> key = Group("churn", "churn", 3, False, 0)
>>> spool.append(key, pa.table({"request_id": ["r1"], "timestamp_ms": [5]}))
>>> spool.append(key, pa.table({"request_id": ["r2"], "timestamp_ms": [6]}))
>>> spool.seal()
1
>>> [path] = spool.segments()
>>> with spool.take(path) as segment:
...     print(segment.group, segment.table.column("request_id").to_pylist())
...     spool.remove(segment)
Group(endpoint='churn', model_name='churn', model_version=3, shadow=False, hour=0) ['r1', 'r2']
>>> spool.segments()
[]
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyarrow as pa

log = logging.getLogger(__name__)

SUFFIX = ".arrow"
STALE_TMP_S = 60.0  # a .tmp this old belongs to a writer killed between creating and locking it
METADATA_KEY = b"loopwright.prediction_log"


def spool_root(home: Path, store_uri: str, artifact_uri: str) -> Path:
    """The spool folder of one store under ``LOOPWRIGHT_HOME`` (URIs hashed: they may hold passwords).

    >>> spool_root(Path("/lw"), "sqlite:////lw/lw.db", "/lw/artifacts").parent
    PosixPath('/lw/spool/predictions')
    """
    digest = hashlib.sha256(f"{store_uri}\n{artifact_uri}".encode()).hexdigest()[:16]
    return home / "spool" / "predictions" / digest


@dataclass(frozen=True)
class Group:
    """What one segment (and one log file) holds rows of."""

    endpoint: str
    model_name: str | None
    model_version: int | None
    shadow: bool
    hour: int  # epoch hours


@dataclass
class Segment:
    """A segment taken for writing to the store (locked until the ``take`` block ends)."""

    id: str
    path: Path
    group: Group
    table: pa.Table
    created_ms: int


class _Writer:
    """The open segment of one group: an Arrow stream appended one batch per spool tick."""

    def __init__(self, folder: Path, group: Group, schema: pa.Schema):
        folder.mkdir(parents=True, exist_ok=True)
        self.created_ms = time.time_ns() // 1_000_000
        self.opened = time.monotonic()
        name = f"{self.created_ms:013d}-{uuid.uuid4().hex}"
        temporary = folder / f"{name}.tmp"
        self.path = folder / f"{name}{SUFFIX}"
        self.file: IO[bytes] = open(temporary, "xb")  # noqa: SIM115 (held open while appending)
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            meta = json.dumps(group.__dict__).encode()
            self.stream = pa.ipc.new_stream(self.file, schema.with_metadata({METADATA_KEY: meta}))
            self.file.flush()
            os.rename(temporary, self.path)
        except BaseException:
            self.file.close()
            temporary.unlink(missing_ok=True)
            raise

    def append(self, table: pa.Table, sync: bool) -> None:
        self.stream.write_table(table)
        self.file.flush()  # in the kernel now: survives a SIGKILL of this process
        if sync:
            os.fsync(self.file.fileno())  # on the disk: survives the machine too

    def seal(self) -> None:
        with contextlib.suppress(OSError):  # a full disk may refuse the end-of-stream marker
            self.stream.close()
        self.file.close()  # releases the lock: the segment may be uploaded


class Spool:
    """Segments of one store's prediction log on local disk.

    Parameters
    ----------
    root:
        The store's spool folder (see :func:`spool_root`); one subfolder per endpoint.
    max_bytes:
        Bound per endpoint: past it the oldest segments are dropped (``bound`` says how many rows).
    sync:
        ``fsync`` every append (the synchronous log: each answer waits for it).
    """

    def __init__(self, root: Path, max_bytes: int, sync: bool = False):
        self.root = root
        self.max_bytes = max_bytes
        self.sync = sync
        # one open segment per group and column set: an endpoint answering rows of two shapes
        # (``/predict`` records, ``/v1/embeddings`` texts) appends each to its own, not resealing
        # one every tick; a column that was all missing so far (null-typed) also opens another
        self._open: dict[tuple[Group, pa.Schema], _Writer] = {}

    def append(self, group: Group, table: pa.Table) -> None:
        """Append rows to the open segment of the group and the table's columns (new if none is open)."""
        key = (group, table.schema)
        writer = self._open.get(key)
        if writer is None:
            writer = self._open[key] = _Writer(self.root / group.endpoint, group, table.schema)
        try:
            writer.append(table, self.sync)
        except BaseException:
            self._seal(key)  # a half-written batch ends this segment; the next append starts another
            raise

    def seal(self) -> int:
        """Seal every open segment (each becomes uploadable); returns how many."""
        keys = list(self._open)
        for key in keys:
            self._seal(key)
        return len(keys)

    def seal_idle(self, max_age: float, active: set[Group]) -> int:
        """Seal the segments opened ``max_age`` seconds ago or more, and those not in ``active``
        (not appended this tick: an idle group holds no file open); returns how many."""
        now = time.monotonic()
        done = [k for k, w in self._open.items() if k[0] not in active or now - w.opened >= max_age]
        for key in done:
            self._seal(key)
        return len(done)

    def _seal(self, key: tuple[Group, pa.Schema]) -> None:
        writer = self._open.pop(key, None)
        if writer is not None:
            writer.seal()

    def segments(self) -> list[Path]:
        """Every segment of every endpoint, oldest first (removing stale ``.tmp`` leftovers)."""
        found: list[Path] = []
        with contextlib.suppress(OSError):  # no spool yet, or none possible (then appends say why)
            for folder in self.root.iterdir():
                with contextlib.suppress(OSError):
                    for path in folder.iterdir():
                        if path.suffix == SUFFIX:
                            found.append(path)
                        elif path.suffix == ".tmp":
                            _remove_stale(path)
        return sorted(found, key=lambda p: p.name)

    def bound(self, endpoint: str) -> int:
        """Drop the oldest segments of ``endpoint`` while its folder is over ``max_bytes``; returns
        the rows dropped."""
        folder = self.root / endpoint
        sizes = []
        with contextlib.suppress(OSError):
            for path in folder.iterdir():
                with contextlib.suppress(OSError):
                    sizes.append((path.name, path, path.stat().st_size))
        total = sum(size for _, _, size in sizes)
        dropped = 0
        for _, path, size in sorted(sizes):
            if total <= self.max_bytes:
                break
            if path.suffix != SUFFIX:
                continue
            with self.take(path) as segment:  # an open segment (ours or a live peer's) stays
                if segment is None:
                    continue
                dropped += segment.table.num_rows
                total -= size
                self.remove(segment)
        return dropped

    @contextlib.contextmanager
    def take(self, path: Path) -> Iterator[Segment | None]:
        """Lock and read a segment for the block; :meth:`remove` it inside once the store has it.

        Yields ``None`` when someone else holds it (its writer, or another uploader) or it is gone.
        """
        try:
            file = open(path, "rb")  # noqa: SIM115 (the lock lives as long as this file)
        except FileNotFoundError:
            yield None
            return
        with file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            try:  # another uploader may have finished and unlinked it between our open and lock
                if os.stat(path).st_ino != os.fstat(file.fileno()).st_ino:
                    raise FileNotFoundError(path)
            except FileNotFoundError:
                yield None
                return
            yield _read(path, file.read())

    @staticmethod
    def remove(segment: Segment) -> None:
        """Delete a taken segment (while its lock is held, so nobody else takes it meanwhile)."""
        segment.path.unlink(missing_ok=True)


def _read(path: Path, data: bytes) -> Segment:
    """A segment's rows: every whole batch (a writer killed mid-batch leaves a cut-short last one)."""
    created_ms, _, file_id = path.stem.partition("-")
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(data))
    except (pa.ArrowInvalid, OSError) as error:  # killed before the schema was written: no rows
        log.warning("prediction log spool: %s has no readable rows (%s); removed", path.name, error)
        empty = Group(path.parent.name, None, None, False, 0)
        return Segment(file_id, path, empty, pa.table({}), int(created_ms))
    group = Group(**json.loads(reader.schema.metadata[METADATA_KEY]))
    batches = []
    while True:
        try:
            batches.append(reader.read_next_batch())
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError):
            break
    schema = reader.schema.remove_metadata()
    return Segment(file_id, path, group, pa.Table.from_batches(batches, schema), int(created_ms))


def _remove_stale(path: Path) -> None:
    with contextlib.suppress(OSError):
        if time.time() - path.stat().st_mtime > STALE_TMP_S:
            path.unlink()
