"""Batch scoring and profiling on Spark: registered models applied to Spark DataFrames.

* :func:`score` appends a prediction column (and optionally one probability column per class) to a
  Spark DataFrame. ``models:/NAME@ALIAS`` is resolved **once, on the driver**, to a fixed version and
  its manifest digest; every executor loads exactly that package, so an alias that moves mid-job
  changes nothing. The prediction column's Spark metadata records what scored it
  (``df.schema["prediction"].metadata["loopwright"]``: ``model_uri``, ``model_version``,
  ``manifest_digest``); Parquet output keeps it.
* :func:`score` runs as one ``mapInArrow`` pass: each Arrow batch comes back with the prediction
  columns appended and every other column passed through as it came, so Spark does not buffer the
  input rows in the JVM to join a UDF's output back to them.
* :func:`predict_udf` is the same prediction as a pandas UDF, for use in your own ``select``.
* :func:`profile_spark` profiles a Spark DataFrame partition by partition (``mapInPandas``: one
  :class:`~loopwright.monitoring.profile.Profile` per partition, sent to the driver as JSON and merged
  there); ``lw.profile`` and ``lw.drift`` accept Spark DataFrames through it.

**Loading on executors.** Each executor's Python worker loads a package once and keeps it, keyed by
manifest digest; loading goes through :func:`~loopwright.models.loading.load_model_from_manifest`, so
the digest checks and the no-pickle rule apply there as on the driver. The driver ships its store and
artifact URIs (``LOOPWRIGHT_STORE_URI`` / ``LOOPWRIGHT_ARTIFACT_URI`` as resolved on the driver) with
the task, so on a cluster both must be reachable from the executors (PostgreSQL and S3, not a
driver-local SQLite file or folder), and whatever else the artifact store needs (``AWS_*`` credentials,
``LOOPWRIGHT_HOME`` for the blob cache) must be in the executors' environment:
``--conf spark.executorEnv.AWS_ACCESS_KEY_ID=…``. In ``local[N]`` mode executors share the driver's
machine and need nothing more.

**Validation.** The Spark schema is checked against the model's signature on the driver before any job
starts (a missing column or a string where a number belongs is an ``InvalidInput`` naming the column),
because an error raised inside an executor reaches the driver wrapped in a Java stack trace. Executors
still validate every batch through the signature.

pyspark is imported only when these functions run (``pip install loopwright[spark]``).

Examples
--------
>>> from loopwright.integrations.spark import score
>>> scored = score(spark_df, "models:/churn@champion", proba=True)  # doctest: +SKIP
>>> scored.schema["prediction"].metadata["loopwright"]["model_version"]  # doctest: +SKIP
3
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import pandas as pd

from loopwright import errors
from loopwright.config import get_settings
from loopwright.errors import InvalidInput, LoopwrightError
from loopwright.models.loaded import LoadedModel
from loopwright.models.loading import load_model, load_model_from_manifest
from loopwright.monitoring.profile import Profile
from loopwright.uris import parse_model_uri

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

log = logging.getLogger(__name__)

METADATA_KEY = "loopwright"
PROBA_FIELD = "probability"
PROFILE_SCHEMA = "profile string"
MERGE_TASKS = 8

_LOOPWRIGHT_ERROR = re.compile(r"loopwright\.errors\.(\w+): (.*)")

_models: dict[tuple[str, str], LoadedModel] = {}
_models_lock = threading.Lock()


@dataclass(frozen=True)
class ResolvedModel:
    """A model pinned on the driver: the fixed URI, its version, manifest digest and input columns."""

    uri: str
    version: int | None
    manifest_digest: str
    columns: list[str] | None
    classes: list[Any] | None
    prediction_type: str
    has_proba: bool

    def metadata(self) -> dict[str, Any]:
        """What the prediction column's Spark metadata records (under ``"loopwright"``)."""
        return {
            METADATA_KEY: {
                "model_uri": self.uri,
                "model_version": self.version,
                "manifest_digest": self.manifest_digest,
            }
        }


def _resolve(model_uri: str, allow_pickle: bool | None = None) -> tuple[ResolvedModel, LoadedModel]:
    """Pin ``model_uri`` to one package on the driver (an alias becomes ``models:/NAME/VERSION``).

    The model is loaded (and so verified) once on the driver, for its signature and output type.
    """
    parsed = parse_model_uri(model_uri)
    model = load_model(model_uri, allow_pickle=allow_pickle)
    fixed = f"models:/{parsed.name}/{model.version}" if parsed.scheme == "models" else model_uri
    resolved = ResolvedModel(
        uri=fixed,
        version=model.version if parsed.scheme == "models" else None,
        manifest_digest=model.manifest_digest,
        columns=model.input_columns,
        classes=model.classes,
        prediction_type=_prediction_type(model),
        has_proba=model.has_proba,
    )
    return resolved, model


def predict_udf(
    spark: SparkSession,
    model_uri: str,
    result_type: str | DataType | None = None,
    *,
    proba: bool = False,
    allow_pickle: bool | None = None,
) -> Callable[..., Column]:
    """A Spark pandas UDF that predicts with ``model_uri``; call it with the model's input columns.

    Parameters
    ----------
    spark : SparkSession
        The session (its presence says pyspark is set up; the UDF is bound to no session).
    model_uri : str
        ``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` (pinned here, on the driver) or ``runs:/…``.
    result_type : str or DataType, optional
        The prediction's Spark type (DDL such as ``"double"``); default: the dtype of the model's
        prediction on its input example (labels keep their type), else ``double``.
    proba : bool
        Return a struct ``{prediction, probability: array<double>}`` (classes in
        ``model.classes`` order) instead of the bare prediction.
    allow_pickle : bool, optional
        As in :func:`loopwright.load_model`; decided on the driver and applied on executors.

    Returns
    -------
    callable
        ``udf(*columns) -> Column``; it takes the columns in the signature's order and carries
        ``.model`` (the :class:`ResolvedModel`).

    Examples
    --------
    Run on a live session (``tests/integrations/test_spark.py`` runs these)::

        udf = predict_udf(spark, "models:/churn/3")
        spark_df.select(udf(*udf.model.columns).alias("p"))
    """
    del spark  # the UDF belongs to no session; the argument keeps call sites explicit
    resolved, _ = _resolve(model_uri, allow_pickle)
    return _udf(resolved, result_type, proba, allow_pickle, resolved.columns)


def score(
    df: DataFrame,
    model_uri: str,
    output_col: str = "prediction",
    *,
    proba: bool = False,
    result_type: str | DataType | None = None,
    allow_pickle: bool | None = None,
) -> DataFrame:
    """``df`` with the model's predictions appended as ``output_col`` (lazy: nothing runs until an action).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The rows to score; must have the signature's input columns (others are kept, not sent).
    model_uri : str
        ``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` or ``runs:/RUN_ID/path``; an alias is
        resolved once here, so every executor scores with the same version.
    output_col : str
        The prediction column; its metadata names the model (see the module docstring).
    proba : bool
        Also append ``proba_<class>`` columns (doubles), as ``loopwright models predict --proba``.
    result_type : str or DataType, optional
        The prediction's Spark type (default: inferred, see :func:`predict_udf`).
    allow_pickle : bool, optional
        As in :func:`loopwright.load_model`.

    Returns
    -------
    pyspark.sql.DataFrame

    Raises
    ------
    InvalidInput
        ``df`` lacks an input column, or a column's type does not fit the signature; the model has no
        probabilities but ``proba=True``; ``output_col`` already exists.

    Examples
    --------
    Run on a live session (``tests/integrations/test_spark.py`` runs these)::

        scored = score(spark_df, "models:/churn@champion")
        scored.write.parquet("preds.parquet")
    """
    resolved, model = _resolve(model_uri, allow_pickle)
    if output_col in df.columns:
        raise InvalidInput(f"the data already has a column {output_col!r}; choose another output_col")
    columns = _check_schema(df.schema, model, resolved.columns)
    if proba and not resolved.has_proba:
        raise InvalidInput(f"{resolved.uri} has no predict_proba; leave out proba")
    from pyspark.sql.pandas.types import to_arrow_type
    from pyspark.sql.types import DataType, DoubleType, StructField, StructType, _parse_datatype_string

    wanted = result_type or resolved.prediction_type
    spark_type = wanted if isinstance(wanted, DataType) else _parse_datatype_string(wanted)
    extra = [f"proba_{label}" for label in resolved.classes or []] if proba else []
    schema = StructType(
        [
            *df.schema.fields,
            StructField(output_col, spark_type, True, resolved.metadata()),
            *[StructField(name, DoubleType(), True) for name in extra],
        ]
    )
    # mapInArrow, not a pandas UDF in withColumn: each Arrow batch comes back with its prediction
    # column appended (the other columns pass through untouched), so Spark neither buffers every input
    # row in the JVM to join the UDF's output back nor converts the untouched columns to pandas
    per_partition = _arrow_scorer(
        resolved, columns, output_col, to_arrow_type(spark_type), extra, allow_pickle
    )
    return df.mapInArrow(per_partition, schema)


def _string_dtype(arrow_type: Any) -> Any:
    """pandas' string dtype for Arrow string types (``to_pandas(types_mapper=…)``), None for the rest."""
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype()
    return None


def _check_schema(schema: StructType, model: LoadedModel, columns: Sequence[str] | None) -> list[str]:
    """The columns to send to the model, after checking ``schema`` against its signature (driver side).

    An empty pandas frame with the dtypes Arrow will hand executors goes through the signature, so
    the driver refuses exactly what executors would (missing column, string for a number, …).
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    names = list(columns) if columns is not None else list(schema.fieldNames())
    missing = [c for c in names if c not in schema.fieldNames()]
    if missing:
        raise InvalidInput(
            f"the data lacks {model.uri}'s input column(s) {', '.join(map(repr, missing))} "
            f"(it has {', '.join(schema.fieldNames())})"
        )
    if model.signature is not None and columns is not None:
        from pyspark.sql.types import StructType

        wanted = StructType([schema[c] for c in names])
        # strings as pandas' string dtype, not object: an empty object column holds no value to show it
        # is text (pandas < 3, the pandas PySpark supports), and "a string for a number" would pass here
        empty = to_arrow_schema(wanted).empty_table().to_pandas(types_mapper=_string_dtype)
        try:
            model.signature.validate(empty)
        except InvalidInput as error:
            raise InvalidInput(f"the data does not fit {model.uri}'s signature: {error}") from None
    return names


@contextmanager
def executor_errors() -> Iterator[None]:
    """Re-raise a Loopwright error raised inside an executor as itself, not as Spark's ``PythonException``.

    Spark reports an executor's exception as a ``PythonException`` holding the Python traceback; the
    last ``loopwright.errors.KIND: message`` line of it becomes that error again (same class), so
    callers and the CLI show the message a local run would.

    >>> with executor_errors():
    ...     pass
    """
    from pyspark.errors import PythonException

    try:
        yield
    except PythonException as error:
        found = _LOOPWRIGHT_ERROR.findall(str(error))
        if not found:
            raise
        kind, message = found[-1]
        cls = getattr(errors, kind, None)
        if not (isinstance(cls, type) and issubclass(cls, LoopwrightError)):
            raise
        raise cls(f"{message.strip()} (raised on a Spark executor)") from error


def load_cached(
    uri: str, manifest_digest: str, store_uri: str, artifact_uri: str, allow_pickle: bool
) -> LoadedModel:
    """The package ``manifest_digest``, loaded once per process (the executor side of :func:`score`)."""
    key = (manifest_digest, artifact_uri)
    model = _models.get(key)
    if model is None:
        with _models_lock:
            model = _models.get(key)
            if model is None:
                from loopwright.tracking.client import Client

                client = Client(store_uri, artifact_uri)
                model = load_model_from_manifest(manifest_digest, client, allow_pickle, uri=uri)
                _models[key] = model
    return model


def with_spark_predictions(
    df: DataFrame, model: str, options: dict[str, Any]
) -> tuple[DataFrame, str | None]:
    """``df`` with ``model``'s predictions as ``prediction`` (for ``lw.profile(spark_df, model=…)``).

    As for pandas data: a ``prediction`` column already there is used as it is, and a model that
    cannot score the data gives a warning and no prediction profile.
    """
    from loopwright.monitoring.reference import PREDICTION

    if PREDICTION not in df.columns:
        try:
            df = score(df, model, PREDICTION)
        except LoopwrightError as error:
            log.warning("profiling without predictions: %s cannot score this data (%s)", model, error)
            return df, None
    if options.get("columns") is not None:
        options["columns"] = [*options["columns"], PREDICTION]
    return df, PREDICTION


def profile_spark(
    df: DataFrame,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    prediction: str | None = None,
    **options: Any,
) -> Profile:
    """Profile a Spark DataFrame: one profile per partition (``mapInPandas``), merged on the driver.

    Kinds are fixed on the driver from the Spark schema (strings and booleans categorical, numbers
    numeric, dates, timestamps and nested types skipped), so every partition agrees. The result
    equals ``Profile.from_frame(df.toPandas(), …)`` exactly in counts, missing counts, min, max,
    histogram bins and categories, to rounding in mean and std, and within the sketch's rank-error
    bound in quantiles.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The data.
    columns : list of str, optional
        Profile only these columns (default: every column of a supported type).
    categorical : list of str, optional
        Numeric columns to treat as categorical as well.
    prediction : str, optional
        The prediction column.
    **options
        ``sketch_size``, ``bins``, ``max_categories`` (see :meth:`Profile.from_frame`).

    Returns
    -------
    Profile

    Examples
    --------
    Run on a live session (``tests/integrations/test_spark.py`` runs these)::

        profile_spark(spark_df, columns=["age", "plan"]).n_rows   # 1000000 for a million rows
    """
    from pyspark.sql import types as T

    fields = {f.name: f for f in df.schema.fields}
    wanted = [*(columns if columns is not None else fields), *([prediction] if prediction else [])]
    absent = sorted({c for c in [*wanted, *(categorical or ())] if c not in fields})
    if absent:
        raise InvalidInput(f"columns not in the data: {', '.join(absent)}")
    plain = (T.NumericType, T.StringType, T.BooleanType)
    names = [c for c in dict.fromkeys(wanted) if isinstance(fields[c].dataType, plain)]
    skipped = sorted(set(wanted) - set(names))
    if skipped:
        log.info("not profiling column(s) %s: not numbers, strings or booleans", ", ".join(skipped))
    kinds = sorted(
        {c for c in names if isinstance(fields[c].dataType, T.StringType | T.BooleanType)}
        | {c for c in categorical or () if c in names}
    )
    if prediction and prediction not in names:
        prediction = None
    from pyspark.sql import functions as F

    # decimals reach pandas as Python objects (categorical there): profile them as doubles
    selected = df.select(
        *[
            F.col(_quoted(c)).cast("double").alias(c)
            if isinstance(fields[c].dataType, T.DecimalType)
            else F.col(_quoted(c))
            for c in names
        ]
    )

    def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        parts = (
            Profile.from_frame(b, kinds, prediction, columns=names, **options) for b in batches if len(b)
        )
        return _merged(parts)

    partials = selected.mapInPandas(per_partition, PROFILE_SCHEMA)
    # a second round merges the partition profiles in MERGE_TASKS tasks, so the driver receives at
    # most that many (a profile is tens of KB per feature; thousands of partitions would pile up)
    with executor_errors():
        rows = partials.repartition(MERGE_TASKS).mapInPandas(_merge_partials, PROFILE_SCHEMA).collect()
    parts = [Profile.from_dict(json.loads(row[0])) for row in rows]
    if not parts:  # no rows at all
        from pyspark.sql.pandas.types import to_arrow_schema

        empty = to_arrow_schema(selected.schema).empty_table().to_pandas()
        return Profile.from_frame(empty, kinds, prediction, columns=names, **options)
    result = parts[0]
    for part in parts[1:]:
        result = result.merge(part)
    return result


def _merged(parts: Iterator[Profile]) -> Iterator[pd.DataFrame]:
    """One row holding the merge of ``parts`` as JSON, or no row when there are none."""
    merged: Profile | None = None
    for part in parts:
        merged = part if merged is None else merged.merge(part)
    if merged is not None:
        yield pd.DataFrame({"profile": [json.dumps(merged.to_dict())]})


def _merge_partials(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    return _merged(Profile.from_dict(json.loads(text)) for batch in batches for text in batch["profile"])


def _udf(
    resolved: ResolvedModel,
    result_type: str | DataType | None,
    proba: bool,
    allow_pickle: bool | None,
    columns: Sequence[str] | None,
) -> Callable[..., Column]:
    """The pandas UDF; ``columns`` name its arguments (default: the signature's, else ``_0``, ``_1`` …)."""
    from pyspark.sql.functions import pandas_udf as _pandas_udf

    # pyspark's overloads cannot express a variadic UDF whose return type is known only at run time
    pandas_udf: Any = _pandas_udf
    load = _loader(resolved, allow_pickle)
    prediction_type = result_type or resolved.prediction_type

    def frame(series: tuple[pd.Series, ...]) -> pd.DataFrame:
        names = list(columns) if columns is not None else [f"_{i}" for i in range(len(series))]
        return pd.DataFrame({n: s.reset_index(drop=True) for n, s in zip(names, series, strict=True)})

    if proba:

        def predict_with_proba(*series: pd.Series) -> pd.DataFrame:
            labels, probabilities = _predicted(load(), frame(series), proba=True)
            return pd.DataFrame({"prediction": labels, PROBA_FIELD: list(probabilities)})

        type_ddl = prediction_type if isinstance(prediction_type, str) else prediction_type.simpleString()
        udf = pandas_udf(predict_with_proba, f"prediction {type_ddl}, {PROBA_FIELD} array<double>")
    else:

        def predict(*series: pd.Series) -> pd.Series:
            return pd.Series(_flat(load().predict(frame(series))))

        udf = pandas_udf(predict, prediction_type)
    udf.model = resolved
    return udf


def _arrow_scorer(
    resolved: ResolvedModel,
    columns: Sequence[str],
    output_col: str,
    arrow_type: Any,
    proba_columns: Sequence[str],
    allow_pickle: bool | None,
) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The ``mapInArrow`` function of :func:`score`: every batch with its predictions appended."""
    import pyarrow as pa

    load = _loader(resolved, allow_pickle)
    names, added_names = list(columns), [output_col, *proba_columns]

    def per_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            added: list[Any] = []
            if batch.num_rows == 0:  # the model refuses empty input; an empty batch needs no model
                added = [pa.array([], arrow_type), *[pa.array([], pa.float64()) for _ in proba_columns]]
            else:
                labels, probabilities = _predicted(
                    load(), batch.select(names).to_pandas(), bool(proba_columns)
                )
                added = [pa.array(labels, arrow_type)]
                if probabilities is not None:
                    added += [pa.array(probabilities[:, i]) for i in range(len(proba_columns))]
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, *added], names=[*batch.schema.names, *added_names]
            )

    return per_partition


def _loader(resolved: ResolvedModel, allow_pickle: bool | None) -> Callable[[], Any]:
    """Loads the model on an executor (once per Python worker) with the driver's store settings."""
    settings = get_settings()
    permitted = settings.allow_pickle if allow_pickle is None else allow_pickle
    where = (resolved.uri, resolved.manifest_digest, settings.store_uri, settings.artifact_uri, permitted)
    return lambda: load_cached(*where)


@overload
def _predicted(model: Any, data: pd.DataFrame, proba: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def _predicted(model: Any, data: pd.DataFrame, proba: bool) -> tuple[np.ndarray, np.ndarray | None]: ...
def _predicted(model: Any, data: pd.DataFrame, proba: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's predictions for ``data`` (validated once against its signature), and its class
    probabilities when asked."""
    prepared = model.signature.validate(data) if model.signature is not None else data
    labels = _flat(model.predict(prepared, validate=False))
    if not proba:
        return labels, None
    return labels, np.asarray(model.predict_proba(prepared, validate=False), dtype=np.float64)


def _flat(predicted: Any) -> np.ndarray:
    values = np.asarray(predicted)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise InvalidInput(
            f"a Spark prediction column needs one value per row, the model returns shape {values.shape}"
        )
    return values


def _prediction_type(model: LoadedModel) -> str:
    """Spark DDL type of the model's predictions: from its input example, else ``double``."""
    if model.input_example is None:
        return "double"
    kind = _flat(model.predict(model.input_example)).dtype.kind
    return {"b": "boolean", "i": "bigint", "u": "bigint", "f": "double", "U": "string", "O": "string"}.get(
        kind, "double"
    )


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
