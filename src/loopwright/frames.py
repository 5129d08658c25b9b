"""Every frame a user has, as one pandas DataFrame: the single entry for tabular data.

``lw.evaluate``, ``lw.profile``, ``lw.drift``, ``lw.register_model(reference_data=…)``,
``lw.log_dataset`` and ``LoadedModel.predict`` take their data through :func:`to_pandas`: pandas,
polars (eager or lazy), pyarrow and any other frame narwhals knows (modin, cuDF, DuckDB, …),
anything exporting an Arrow stream (``__arrow_c_stream__``), a ``.parquet``/``.csv`` path, a list
of records (dicts) or a dict of columns. narwhals and Arrow are the interchange, so no library gets
its own converter. Spark DataFrames are told apart without importing pyspark
(:func:`is_spark_dataframe`): profiling and drift run them on Spark, evaluation collects small ones
(:func:`spark_to_pandas`), prediction points at ``loopwright.integrations.spark.score``.

Examples
--------
>>> import polars as pl, pyarrow as pa
>>> to_pandas(pl.DataFrame({"x": [1, 2]})).x.tolist()
[1, 2]
>>> to_pandas(pa.table({"x": [1.5]})).x.tolist()
[1.5]
>>> to_pandas([{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]).shape
(2, 2)
>>> to_pandas(42, what="reference_data")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: reference_data must be a pandas, polars or pyarrow table...; got int
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import pandas as pd

from loopwright.errors import InvalidInput

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

#: what :func:`to_pandas` takes, as error messages say it
ACCEPTED = (
    "a pandas, polars or pyarrow table (or another frame narwhals supports), "
    "a .parquet/.csv path, a list of records (dicts) or a dict of columns"
)
#: file suffixes read as data, and their readers
READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
    ".csv": pd.read_csv,
}
#: the largest Spark DataFrame collected to the driver where the work needs one local frame
SPARK_COLLECT_ROWS = 1_000_000


def to_pandas(data: Any, what: str = "data") -> pd.DataFrame:
    """``data`` as a pandas DataFrame, or :class:`InvalidInput` naming its type and the accepted ones.

    Parameters
    ----------
    data:
        A pandas/polars/pyarrow (or other narwhals-supported) frame, an object with
        ``__arrow_c_stream__``, a ``str``/``Path`` to a ``.parquet``/``.pq``/``.csv`` file, a list of
        records (dicts) or a dict of columns. A pandas DataFrame is returned as it is (no copy).
    what:
        What the caller calls the argument, for the error message (``"reference_data"``, …).

    Examples
    --------
    >>> to_pandas({"x": [1, 2], "y": ["a", "b"]}).columns.tolist()
    ['x', 'y']
    >>> to_pandas("no/such.txt")
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: unsupported data file 'such.txt': use .parquet, .pq or .csv
    """
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str | os.PathLike):
        return read_path(data, what)
    if is_spark_dataframe(data):
        raise InvalidInput(
            f"{what} is a Spark DataFrame, which this call does not collect to the driver; "
            f"pass a local frame, e.g. df.limit(n).toPandas() (or {ACCEPTED})"
        )
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({str(k): v for k, v in data.items()})
        except (ValueError, TypeError) as error:
            raise InvalidInput(f"{what}: cannot read the dict as columns: {error}") from None
    if isinstance(data, Sequence) and not isinstance(data, bytes | bytearray):
        if all(isinstance(row, Mapping) for row in data):
            return pd.DataFrame.from_records(list(data))
        raise InvalidInput(
            f"{what} must be {ACCEPTED}; got a {type(data).__name__} whose items are not all dicts"
        )
    native = _from_narwhals(data)
    if native is not None:
        return native
    if hasattr(data, "__arrow_c_stream__"):  # the Arrow PyCapsule interface: DuckDB, Daft, …
        import pyarrow as pa

        try:
            return pa.table(data).to_pandas()
        except (pa.ArrowInvalid, TypeError):  # a stream of one array (a Series), not of a table
            pass
    raise InvalidInput(f"{what} must be {ACCEPTED}; got {type_name(data)}")


def read_path(path: str | os.PathLike[str], what: str = "data") -> pd.DataFrame:
    """Read a ``.parquet``/``.pq``/``.csv`` file; a missing file or another suffix is :class:`InvalidInput`."""
    file = Path(path)
    reader = READERS.get(file.suffix.lower())
    if reader is None:
        raise InvalidInput(f"unsupported data file {file.name!r}: use .parquet, .pq or .csv")
    if not file.is_file():
        raise InvalidInput(f"{what}: no such data file: {file}")
    return reader(file)


def is_frame(data: Any) -> bool:
    """Whether ``data`` is a local frame :func:`to_pandas` converts (not a path, records or Spark).

    >>> import polars as pl
    >>> is_frame(pl.DataFrame({"x": [1]})), is_frame([{"x": 1}]), is_frame("a.csv")
    (True, False, False)
    """
    if isinstance(data, pd.DataFrame):
        return True
    if isinstance(data, str | os.PathLike | Mapping | Sequence) or is_spark_dataframe(data):
        return False
    if hasattr(data, "__arrow_c_stream__"):
        return True
    import narwhals as nw

    try:
        return isinstance(nw.from_native(data), nw.DataFrame | nw.LazyFrame)
    except TypeError:
        return False


def is_spark_dataframe(data: Any) -> TypeGuard[SparkDataFrame]:
    """Whether ``data`` is a Spark DataFrame (classic or Connect), told without importing pyspark.

    >>> is_spark_dataframe(pd.DataFrame()), is_spark_dataframe([1, 2])
    (False, False)
    """
    return type(data).__module__.startswith("pyspark.sql") and hasattr(data, "mapInPandas")


def spark_to_pandas(
    data: SparkDataFrame, what: str = "data", limit: int = SPARK_COLLECT_ROWS
) -> pd.DataFrame:
    """Collect a Spark DataFrame of at most ``limit`` rows to the driver (through Arrow).

    A bigger one is :class:`InvalidInput` naming the limit: the driver would hold every row.
    """
    rows = data.limit(limit + 1).count()
    if rows > limit:
        raise InvalidInput(
            f"{what} is a Spark DataFrame of more than {limit:,} rows, too many to collect to the driver; "
            "score it on the executors with loopwright.integrations.spark.score (or `loopwright spark score`) "
            f"or pass a sample, e.g. df.sample(fraction=...) under {limit:,} rows"
        )
    conf = data.sparkSession.conf
    key = "spark.sql.execution.arrow.pyspark.enabled"
    before = conf.get(key, None)
    conf.set(key, "true")  # Arrow: columnar transfer, far faster than pickled rows
    try:
        return data.toPandas()
    finally:
        if before is None:
            conf.unset(key)
        else:
            conf.set(key, before)


def _from_narwhals(data: Any) -> pd.DataFrame | None:
    """``data`` through narwhals (eager frames, lazy ones collected), or None when narwhals does not know it."""
    import narwhals as nw

    try:
        frame = nw.from_native(data)
    except TypeError:
        return None
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, nw.DataFrame):  # a Series: one column has no column names to check
        return None
    return frame.to_pandas()


def type_name(data: Any) -> str:
    """``polars.dataframe.frame.DataFrame`` rather than ``DataFrame``: two libraries share that name."""
    kind = type(data)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
