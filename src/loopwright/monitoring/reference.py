"""Reference profiles kept with model versions: ``lw.profile(df, model=...)`` and ``lw.drift("models:/…")``.

The contract: a version's reference profile is ``Profile.to_dict()`` as JSON, stored as a blob with an
``artifacts`` row owned by ``("model_version", "NAME/VERSION")`` at path ``profile.json`` (so ``gc``
keeps it while the version exists). ``models:/NAME@ALIAS`` resolves to its version through the
registry first; storing again replaces the version's profile.

Examples
--------
>>> import os, tempfile, pandas as pd, loopwright as lw
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> with lw.start_run() as run:
...     _ = lw.log_dict({"flavor": "demo"}, "model/manifest.json")
>>> _ = lw.register_model(f"runs:/{run.id}/model", "churn")
>>> _ = lw.set_alias("churn", "champion", 1)
>>> train = pd.DataFrame({"x": range(100)})
>>> lw.profile(train, model="models:/churn/1").n_rows
100
>>> lw.drift("models:/churn@champion", train).drifted
False
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopwright.errors import IntegrityError, InvalidInput, LoopwrightError, NotFound
from loopwright.frames import ACCEPTED, is_frame, is_spark_dataframe, to_pandas, type_name
from loopwright.models.loaded import LoadedModel
from loopwright.models.loading import load_model
from loopwright.monitoring.profile import Profile, profile_chunks
from loopwright.registry.client import RegistryClient
from loopwright.store.entities import ArtifactRef, ModelVersion
from loopwright.tracking.client import Client

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

log = logging.getLogger(__name__)

OWNER_TYPE = "model_version"
PREDICTION = "prediction"
PROFILE_PATH = "profile.json"


def profile(
    *args: Any,
    data: Any = None,
    categorical: Sequence[str] | None = None,
    prediction: str | None = None,
    model: str | None = None,
    **options: Any,
) -> Profile:
    """Profile a DataFrame, or an iterable of DataFrame chunks, into a mergeable :class:`Profile`.

    The data and the model may be given in either order: ``profile(train)``, ``profile(data=train)``,
    ``profile(train, model="models:/churn/3")``, ``profile("models:/churn/3", train)`` and
    ``profile("models:/churn/3", data=train)`` all work (a ``models:/`` string is the model).

    Parameters
    ----------
    data : frame, path, records, iterable of frames, or Spark DataFrame
        The data, whole or in chunks (e.g. Parquet row groups); chunks are profiled and merged. A
        pandas, polars or pyarrow table, a ``.parquet``/``.csv`` path, a list of records or a dict of
        columns (anything :func:`loopwright.frames.to_pandas` takes) is one frame; chunks may be any
        of those frames too. A
        Spark DataFrame is profiled per partition on the executors and merged on the driver (see
        :func:`loopwright.integrations.spark.profile_spark`); with ``model=`` it is scored on Spark.
    categorical : list of str, optional
        Columns to treat as categorical (default: non-numeric columns).
    prediction : str, optional
        The prediction column.
    model : str, optional
        ``models:/NAME/VERSION`` (or ``@ALIAS``): also store the profile as that version's reference
        profile, which ``lw.drift("models:/NAME@ALIAS", current)`` and live monitoring then use.
        Without ``prediction=``, the version's own predictions on the data are profiled as the
        ``prediction`` column (a ``prediction`` column already there is used as it is): the
        prediction distribution that ``lw.drift`` and live monitoring compare served predictions
        with. When the model cannot predict on the data, a warning says why and the profile has no
        prediction. Leave the target column out of ``data``: served traffic never has it.
    **options
        ``columns``, ``sketch_size``, ``bins``, ``max_categories`` (see :meth:`Profile.from_frame`).

    Returns
    -------
    Profile

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": range(10), "c": list("ab") * 5})
    >>> profile(df).n_rows, profile([df, df]).features["c"].counts
    (10, {'a': 10, 'b': 10})
    """
    data, model = _data_and_model(args, data, model)
    if is_spark_dataframe(data):
        return _profile_spark(data, model, categorical, prediction, options)
    data = local_data(data)
    if model is not None and prediction is None:
        data, prediction = _with_predictions(data, model, options)
    if isinstance(data, pd.DataFrame):
        result = Profile.from_frame(data, categorical, prediction, **options)
    else:
        result = profile_chunks(data, categorical, prediction, **options)
    if model is not None:
        save_profile(result, model)
    return result


def _profile_spark(
    data: SparkDataFrame,
    model: str | None,
    categorical: Sequence[str] | None,
    prediction: str | None,
    options: dict[str, Any],
) -> Profile:
    """``profile`` for a Spark DataFrame: scored on Spark for ``model``, profiled per partition."""
    from loopwright.integrations.spark import profile_spark, with_spark_predictions

    if model is not None and prediction is None:
        data, prediction = with_spark_predictions(data, model, options)
    result = profile_spark(data, categorical=categorical, prediction=prediction, **options)
    if model is not None:
        save_profile(result, model)
    return result


def local_data(data: Any) -> pd.DataFrame | Iterator[pd.DataFrame]:
    """One pandas frame from any frame, path or records (:func:`~loopwright.frames.to_pandas`), or chunks.

    An iterable that is not a frame, a path, a dict or a list of records is taken as chunks, each
    converted as it comes (so a generator of polars row groups streams).

    >>> import polars as pl
    >>> local_data(pl.DataFrame({"x": [1]})).shape, local_data([{"x": 1}, {"x": 2}]).shape
    ((1, 1), (2, 1))
    >>> [c.shape for c in local_data([pl.DataFrame({"x": [1]}), pd.DataFrame({"x": [2, 3]})])]
    [(1, 1), (2, 1)]
    """
    if isinstance(data, pd.DataFrame):
        return data
    if is_frame(data) or isinstance(data, str | os.PathLike | Mapping):
        return to_pandas(data)
    if isinstance(data, Sequence) and data and all(isinstance(row, Mapping) for row in data):
        return to_pandas(data)  # records, not chunks
    if isinstance(data, Iterable) and not isinstance(data, bytes):
        return (to_pandas(chunk, what="each chunk of data") for chunk in data)
    raise InvalidInput(
        f"data must be {ACCEPTED}, an iterable of such chunks or a Spark DataFrame; got {type_name(data)}"
    )


def _data_and_model(
    args: tuple[Any, ...], data: Any, model: str | None
) -> tuple[pd.DataFrame | Iterable[pd.DataFrame], str | None]:
    """Sort ``profile``'s positional arguments: a ``models:/`` string is the model, anything else the data."""
    if len(args) > 2:
        raise InvalidInput(f"lw.profile takes the data and optionally a model URI, got {len(args)} arguments")
    for arg in args:
        if isinstance(arg, str) and arg.startswith("models:/"):
            if model is not None:
                raise InvalidInput(f"lw.profile got two models: {model!r} and {arg!r}")
            model = arg
        elif data is not None:
            raise InvalidInput("lw.profile got the data twice; pass one DataFrame (or iterable of chunks)")
        else:
            data = arg
    if data is None:
        raise InvalidInput(
            "lw.profile needs data: lw.profile(train_df) or lw.profile('models:/NAME/VERSION', train_df)"
        )
    return data, model


def _with_predictions(
    data: pd.DataFrame | Iterable[pd.DataFrame], model: str, options: dict[str, Any]
) -> tuple[pd.DataFrame | Iterable[pd.DataFrame], str | None]:
    """Prepare data profiled for a version: the data plus the version's predictions."""
    loaded = _load_for_predictions(model)
    if loaded is None:
        return data, None
    if isinstance(data, pd.DataFrame):
        predicted = with_predictions(loaded, data)
        if predicted is None:
            return data, None
        result: pd.DataFrame | Iterable[pd.DataFrame] = predicted
    elif isinstance(data, Iterable) and not isinstance(data, str | bytes):
        result = _predicted_chunks(loaded, data)
    else:
        return data, None
    if "columns" in options and options["columns"] is not None:
        options["columns"] = [*options["columns"], PREDICTION]
    return result, PREDICTION


def with_predictions(model: LoadedModel, frame: pd.DataFrame) -> pd.DataFrame | None:
    """``frame`` plus a ``prediction`` column (the model's), or None with a warning when it cannot predict.

    A frame that has a ``prediction`` column already is returned as it is.
    """
    if PREDICTION in frame.columns:
        return frame
    if len(frame) == 0:
        return frame.assign(**{PREDICTION: pd.Series(dtype=np.float64)})
    inputs = model.input_columns
    missing = [c for c in inputs or () if c not in frame.columns]
    if missing:
        log.warning("no predictions from %s: the data lacks its input column(s) %s", model.uri, missing)
        return None
    try:
        out = model.predict(frame if inputs is None else frame[inputs])
    except Exception as error:  # a user model: any failure means "no prediction profile", said loudly
        log.warning("no predictions from %s on this data: %s", model.uri, error)
        return None
    values = np.asarray(out)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) != len(frame):
        log.warning("no predictions from %s: it returns an array of shape %s", model.uri, values.shape)
        return None
    return frame.assign(**{PREDICTION: values})


def add_model_predictions(uri: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the predictions of the version ``uri`` names (unchanged when it cannot predict)."""
    loaded = _load_for_predictions(uri)
    predicted = None if loaded is None else with_predictions(loaded, frame)
    return frame if predicted is None else predicted


def _load_for_predictions(uri: str) -> LoadedModel | None:
    """The model ``uri`` names, or None with a warning: a model that cannot load means no predictions."""
    try:
        return load_model(uri)
    except LoopwrightError as error:
        log.warning("no predictions from %s: cannot load it (%s)", uri, error)
        return None


def _predicted_chunks(model: LoadedModel, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for chunk in chunks:
        predicted = with_predictions(model, chunk) if isinstance(chunk, pd.DataFrame) else chunk
        if predicted is None:
            raise InvalidInput(
                f"{model.uri} cannot predict on a chunk (see the warning); pass prediction= or leave out model="
            )
        yield predicted


def save_profile(profile: Profile, model: str) -> ModelVersion:
    """Store ``profile`` as the reference profile of the version ``model`` names; returns that version.

    ``model`` is ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``; a missing model, version or
    alias raises :class:`~loopwright.errors.NotFound`.
    """
    registry = RegistryClient()
    version = registry.resolve(model)
    digest, size = registry.blobs.put_bytes(json.dumps(profile.to_dict()).encode())
    registry.store.record_artifacts(OWNER_TYPE, _owner(version), [ArtifactRef(PROFILE_PATH, digest, size)])
    return version


def load_profile(uri: str, *, client: Client | None = None) -> Profile:
    """The reference profile stored with the version ``uri`` names (digest-verified on read), from
    ``client``'s store (default: the environment's)."""
    registry = RegistryClient(client)
    version = registry.resolve(uri)
    try:
        ref = registry.store.get_artifact(OWNER_TYPE, _owner(version), PROFILE_PATH)
    except NotFound:
        raise NotFound(
            f"model version {version.uri} has no reference profile; "
            f"store one with lw.profile(training_data, model={version.uri!r})"
        ) from None
    try:
        data = json.loads(registry.blobs.get_bytes(ref.digest))
    except json.JSONDecodeError as error:
        raise IntegrityError(f"the reference profile of {version.uri} is not valid JSON: {error}") from None
    return Profile.from_dict(data)


def _owner(version: ModelVersion) -> str:
    return f"{version.name}/{version.version}"
