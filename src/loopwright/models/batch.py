"""Batch prediction over a file, in chunks, so a file larger than memory streams through.

Examples
--------
>>> import os, tempfile, pandas as pd, loopwright as lw
>>> from sklearn.linear_model import LogisticRegression
>>> home = os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
>>> with lw.start_run():
...     info = lw.log_model(LogisticRegression().fit(X, [0, 0, 1, 1]), "model", input_example=X)
>>> X.to_csv(f"{home}/in.csv", index=False)
>>> model = lw.load_model(info.uri)
>>> predict_file(model, f"{home}/in.csv", f"{home}/out.csv")
4
>>> list(pd.read_csv(f"{home}/out.csv")["prediction"])
[0, 0, 1, 1]
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from loopwright.errors import InvalidInput, NotFound
from loopwright.models.loaded import LoadedModel

READERS = (".csv", ".parquet", ".jsonl", ".json")


def predict_file(
    model: LoadedModel,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    chunk_rows: int = 50_000,
    proba: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Predict every row of a CSV / Parquet / JSON-lines file into another such file.

    Parameters
    ----------
    model:
        A model from :func:`loopwright.load_model`; each chunk is validated against its signature.
    input_path, output_path:
        The format follows the extension. The output holds ``prediction`` (and ``proba_<class>``
        columns with ``proba=True``), one row per input row, in order.
    chunk_rows:
        Rows per chunk; memory stays bounded by one chunk.
    progress:
        Called with ``(bytes_done, bytes_total)`` after each chunk (the CLI draws a bar with it).

    Returns
    -------
    int
        Rows predicted.
    """
    source = Path(input_path)
    target = Path(output_path)
    if not source.is_file():
        raise NotFound(f"no such input file: {os.fspath(input_path)!r}")
    for path in (source, target):
        if path.suffix.lower() not in READERS:
            raise InvalidInput(f"{path.name}: use a .csv, .parquet or .jsonl file")
    if not target.parent.is_dir():
        raise NotFound(f"no such folder for the output: {os.fspath(target.parent)!r}")
    if proba and not model.has_proba:
        raise InvalidInput(f"{model.uri} has no predict_proba; drop --proba")
    total = source.stat().st_size
    temp = target.with_name(f".{target.name}.part")
    rows = 0
    writer: Any = None
    try:
        for chunk, done in _chunks(source, chunk_rows, total):
            frame = _predictions(model, chunk, proba)
            frame.index = pd.RangeIndex(rows, rows + len(frame))
            writer = _write(frame, temp, target.suffix.lower(), writer, first=rows == 0)
            rows += len(frame)
            if progress is not None:
                progress(done, total)
        if writer is not None:
            writer.close()
            writer = None
        if rows == 0:
            raise InvalidInput(f"{source.name} has no rows to predict")
        os.replace(temp, target)  # the output appears whole or not at all
    finally:
        if writer is not None:
            writer.close()
        temp.unlink(missing_ok=True)
    return rows


def _chunks(source: Path, chunk_rows: int, total: int) -> Iterator[tuple[pd.DataFrame, int]]:
    """Non-empty chunks of the file; a file the reader cannot parse is InvalidInput naming it."""
    import pyarrow as pa

    kind = {".parquet": "Parquet", ".csv": "CSV"}.get(source.suffix.lower(), "JSON lines")
    try:
        for chunk, done in _read(source, chunk_rows, total):
            if len(chunk):
                yield chunk, done
    except pd.errors.EmptyDataError:
        return  # an empty file: predict_file reports "no rows"
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, pa.ArrowException) as error:
        message = " ".join(str(error).split())
        raise InvalidInput(f"cannot read {source.name} as {kind}: {message}") from None


def _read(source: Path, chunk_rows: int, total: int) -> Iterator[tuple[pd.DataFrame, int]]:
    suffix = source.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(source)
        done_rows = 0
        rows_total = max(parquet.metadata.num_rows, 1)
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            done_rows += batch.num_rows
            yield batch.to_pandas(), int(total * done_rows / rows_total)
        return
    with source.open("rb") as handle:
        reader = (
            pd.read_csv(handle, chunksize=chunk_rows)
            if suffix == ".csv"
            else pd.read_json(handle, lines=True, chunksize=chunk_rows)
        )
        for chunk in reader:
            yield chunk, handle.tell()


def _predictions(model: LoadedModel, chunk: pd.DataFrame, proba: bool) -> pd.DataFrame:
    predicted = model.predict(chunk)
    if isinstance(predicted, pd.DataFrame):
        out = predicted.reset_index(drop=True)
    else:
        values = np.asarray(predicted)
        out = pd.DataFrame({"prediction": values} if values.ndim == 1 else values)
    if proba:
        probabilities = np.asarray(model.predict_proba(chunk))
        names = model.classes or list(range(probabilities.shape[1]))
        for index, label in enumerate(names):
            out[f"proba_{label}"] = probabilities[:, index]
    return out


def _write(frame: pd.DataFrame, temp: Path, suffix: str, writer: Any, first: bool) -> Any:
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(temp, table.schema)
        writer.write_table(table)
        return writer
    mode: Literal["w", "a"] = "w" if first else "a"
    if suffix == ".csv":
        frame.to_csv(temp, mode=mode, header=first, index=False)
    else:
        with temp.open(mode) as handle:
            frame.to_json(handle, orient="records", lines=True)
    return None
