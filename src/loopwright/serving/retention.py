"""Retention and compaction of the serving prediction log (what ``loopwright gc`` runs).

**Expiry** (``gc --predictions-older-than 30d``) unindexes a prediction-log file when every row in
it is older than the cutoff, unless something still reads it:

* ``monitor``: the endpoint is monitored (has monitor windows) and the file holds rows at or after
  the end of its newest *closed* window -- the next monitor pass will read them;
* ``labels``: the file overlaps a closed, non-empty window whose labels are incomplete and that
  starts within ``label_horizon`` (the monitor's ``label_lookback``, default 7 days) -- returning
  labels are joined to these rows;
* ``canary``: a loop's canary is under way (state ``canary``, paused or not) and the file holds
  rows of its model at or after the canary started -- ``judge_canary`` reads the model's rows (the
  candidate's and the champion's) since then at every step until the verdict;
* ``run`` / ``model_version`` / ``pipeline_step`` / ``lineage``: the file's blob is also an artifact
  of a run or a registered version, a pipeline step's input or output, or named by a lineage edge.

A monitor window keeps its verdicts and metrics once computed, so rows older than every window
still to be computed or relabelled are safe to drop; so does a finished canary: its report (counts,
metrics, checks) is stored with the loop's transition and is never recomputed from rows. Endpoints never monitored are kept by the
cutoff alone.

**Compaction** (``gc --compact-predictions 1h``) merges the small files of one endpoint, model
version, shadow flag and column set whose rows all fall into the same bucket (an hour, a day) into
one Parquet file, replacing them in the index in one transaction (an endpoint logging rows of two
shapes, such as ``/predict`` records and ``/v1/embeddings`` texts, keeps one file per shape);
``list_predictions`` (and so monitoring) returns the same rows. Only buckets that ended ``settle_ms`` ago are touched, so the serving log's
own writes are not raced; a late file in a compacted bucket is merged by the next compaction.

Examples
--------
>>> import tempfile
>>> from loopwright.tracking.client import Client
>>> home = tempfile.mkdtemp()
>>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
>>> expire_predictions(client.store, cutoff_ms=0, now_ms=0).files  # nothing logged yet
0
>>> client.close()
"""

from __future__ import annotations

import io
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loopwright.artifacts.blobs import BlobStore
from loopwright.errors import Conflict
from loopwright.store.entities import PredictionLogFile
from loopwright.store.interface import Store

DAY_MS = 86_400_000


@dataclass
class LogPurge:
    """What one expiry or compaction pass did: files/rows unindexed, why others were kept.

    ``digests`` are the blobs no longer indexed (gc frees those no record points to);
    ``written`` counts compacted files written.

    Examples
    --------
    >>> LogPurge(files=3, rows=120).as_dict()["rows"]
    120
    """

    files: int = 0
    rows: int = 0
    written: int = 0
    digests: set[str] = field(default_factory=set)
    kept: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {"files": self.files, "rows": self.rows, "written": self.written, "kept": dict(self.kept)}


def expire_predictions(
    store: Store, cutoff_ms: int, now_ms: int, label_horizon_ms: int = 7 * DAY_MS
) -> LogPurge:
    """Unindex every prediction-log file whose rows are all older than ``cutoff_ms`` and that
    nothing still needs (see the module docstring); returns what went and why the rest stayed."""
    out = LogPurge()
    # model -> when its ongoing canary started: its rows from then on are still to be judged
    canaries = {
        s.model: int(s.details.get("canary_started_ms", s.since_ms))
        for s in store.list_loop_states()
        if s.state == "canary"
    }
    for endpoint in store.list_endpoints():
        old = [
            f
            for f in store.list_prediction_log_files(endpoint, until_ms=cutoff_ms, include_shadow=True)
            if f.max_ts_ms < cutoff_ms
        ]
        if not old:
            continue
        windows = store.list_monitor_windows(endpoint)
        closed = [w for w in windows if w.closed]
        # monitored but never closed a window: every row is still to be summarised
        done_until = max((w.end_ms for w in closed), default=None if not windows else -1)
        pending = [
            (w.start_ms, w.end_ms)
            for w in closed
            if w.status != "empty" and w.n_rows > w.labelled and w.start_ms >= now_ms - label_horizon_ms
        ]
        holders = store.digest_holders(sorted({f.digest for f in old}))
        doomed: list[PredictionLogFile] = []
        for f in old:
            if done_until is not None and f.max_ts_ms >= done_until:
                out.kept["monitor"] += 1
            elif any(f.min_ts_ms < e and f.max_ts_ms >= s for s, e in pending):
                out.kept["labels"] += 1
            elif f.model_name in canaries and f.max_ts_ms >= canaries[f.model_name]:
                out.kept["canary"] += 1
            elif f.digest in holders:
                out.kept[holders[f.digest][0]] += 1
            else:
                doomed.append(f)
        if doomed:
            store.replace_prediction_log_files(endpoint, [f.id for f in doomed])
            out.files += len(doomed)
            out.rows += sum(f.n_rows for f in doomed)
            out.digests.update(f.digest for f in doomed)
    return out


def compact_predictions(
    store: Store, blobs: BlobStore, bucket_ms: int, settle_ms: int, now_ms: int
) -> LogPurge:
    """Merge each bucket's small files (same endpoint, model version, shadow flag) into one file."""
    out = LogPurge()
    for endpoint in store.list_endpoints():
        groups: dict[tuple[str | None, int | None, bool, int], list[PredictionLogFile]] = {}
        for f in store.list_prediction_log_files(endpoint, until_ms=now_ms - settle_ms, include_shadow=True):
            bucket = f.min_ts_ms // bucket_ms
            if f.max_ts_ms // bucket_ms != bucket or (bucket + 1) * bucket_ms > now_ms - settle_ms:
                continue  # spans buckets (written before compaction by another width) or still filling
            groups.setdefault((f.model_name, f.model_version, f.shadow, bucket), []).append(f)
        for (_, _, _, bucket), bucket_files in groups.items():
            if len(bucket_files) < 2:
                continue
            # files of one column set merge together: an endpoint logging rows of two shapes (records
            # and embedding texts) keeps two files a bucket, each as list_predictions reads it
            by_schema: dict[pa.Schema, list[tuple[PredictionLogFile, pa.Table]]] = {}
            for f in bucket_files:
                table = pq.read_table(pa.BufferReader(blobs.get_bytes(f.digest)))
                by_schema.setdefault(table.schema, []).append((f, table))
            for pairs in by_schema.values():
                if len(pairs) < 2:
                    out.kept["schema"] += len(pairs)  # the only file of its columns in the bucket
                    continue
                files = [f for f, _ in pairs]
                table = pa.concat_tables([t for _, t in pairs])
                # list_predictions sorts by time (stable) over files ordered by (min_ts, id): same order
                table = table.take(pc.sort_indices(table, [("timestamp_ms", "ascending")]))
                merged = _write(blobs, files[0], table, bucket * bucket_ms, bucket_ms)
                try:
                    store.replace_prediction_log_files(endpoint, [f.id for f in files], merged)
                except Conflict:  # a concurrent gc compacted or expired some of them: its result stands
                    out.kept["concurrent"] += len(files)
                    continue
                out.files += len(files)
                out.rows += sum(f.n_rows for f in files)
                out.written += 1
                out.digests.update(f.digest for f in files)
    return out


def _write(
    blobs: BlobStore, like: PredictionLogFile, table: pa.Table, start_ms: int, bucket_ms: int
) -> PredictionLogFile:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy", use_dictionary=False, write_statistics=False)
    digest, size = blobs.put_bytes(buffer.getvalue())
    stamps = table.column("timestamp_ms")
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    folder = f"{start:date=%Y-%m-%d/hour=%H}" if bucket_ms < DAY_MS else f"{start:date=%Y-%m-%d}"
    file_id = uuid.uuid4().hex
    return PredictionLogFile(
        file_id,
        like.endpoint,
        like.model_name,
        like.model_version,
        like.shadow,
        int(pc.min(stamps).as_py()),
        int(pc.max(stamps).as_py()),
        table.num_rows,
        f"{like.endpoint}/{folder}/{file_id}.parquet",
        digest,
        size,
    )
