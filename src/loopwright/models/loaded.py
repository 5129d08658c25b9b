"""``LoadedModel``: what :func:`~loopwright.models.load_model` returns, the same for every flavor.

``predict(data)`` validates through the signature (when the package has one) and calls the
flavor's predictor; ``predict(data, validate=False)`` is the serving hot path: the caller has
validated already, so the array or frame goes straight to the predictor (for ONNX, straight to
``session.run`` with cached input names).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.frames import is_frame, is_spark_dataframe, to_pandas
from loopwright.models.flavors import Predictor
from loopwright.models.manifest import decode_example
from loopwright.models.signature import Signature


class LoadedModel:
    """A verified, loaded model package.

    Attributes
    ----------
    uri, flavor, manifest, signature, input_example, metadata:
        Where it came from and what its manifest says.
    uses_onnx:
        Whether predictions run through the package's ONNX companion.
    name, version:
        The registered model name and version when loaded through ``models:/``; else ``None``.
    manifest_digest:
        SHA-256 of the manifest this object was verified against.

    Examples
    --------
    >>> import loopwright as lw, numpy as np, os, tempfile
    >>> from sklearn.linear_model import LogisticRegression
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    >>> with lw.start_run():
    ...     info = lw.log_model(LogisticRegression().fit(X, [0, 1, 0, 1]), "model", input_example=X[:2])
    >>> model = lw.load_model(info.uri)
    >>> model.flavor, model.has_proba, model.predict(X[:2]).tolist()
    ('sklearn', True, [0, 1])
    >>> model.predict_proba(X[:1]).shape
    (1, 2)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    def __init__(
        self,
        uri: str,
        manifest: dict[str, Any],
        manifest_digest: str,
        predictor: Predictor,
        uses_onnx: bool = False,
    ):
        self.uri = uri
        self.manifest = manifest
        self.manifest_digest = manifest_digest
        self.flavor: str = manifest["flavor"]
        raw = manifest.get("signature")
        self.signature: Signature | None = Signature.from_dict(raw) if raw else None
        self.input_example: Any = decode_example(manifest.get("input_example"))
        self.metadata: dict[str, Any] = dict(manifest.get("metadata") or {})
        self.uses_onnx = uses_onnx
        self.name: str | None = None
        self.version: int | None = None
        self._predictor = predictor
        self._predict = predictor.predict

    def __repr__(self) -> str:
        onnx = ", onnx" if self.uses_onnx else ""
        return f"LoadedModel({self.uri!r}, flavor={self.flavor!r}{onnx})"

    @property
    def native(self) -> Any:
        """The underlying library object (estimator, booster, session, module …)."""
        return self._predictor.native

    @property
    def has_proba(self) -> bool:
        """Whether :meth:`predict_proba` is available."""
        return self._predictor.has_proba

    @property
    def input_columns(self) -> list[str] | None:
        """The input column names of a column signature; ``None`` without one (tensor or none)."""
        signature = self.signature
        return signature.columns if signature is not None and signature.kind == "dataframe" else None

    @property
    def classes(self) -> list[Any] | None:
        """Class labels in :meth:`predict_proba`'s column order, for classifiers; else ``None``."""
        labels = self._predictor.classes
        return None if labels is None else np.asarray(labels).tolist()

    def _prepare(self, data: Any) -> Any:
        if type(data) is not pd.DataFrame and type(data) is not np.ndarray:
            data = self._local(data)
        prepared = self.signature.validate(data) if self.signature is not None else _as_input(data)
        if isinstance(prepared, (pd.DataFrame, np.ndarray)) and prepared.ndim and not len(prepared):
            # every flavor would fail on its own terms (scikit-learn: "Found array with 0 sample(s)")
            raise InvalidInput(f"no rows to predict: {self.uri} got an empty input")
        return prepared

    def _local(self, data: Any) -> Any:
        """A polars/pyarrow (any narwhals) frame as pandas; a Spark DataFrame refused with the way to score it."""
        if is_spark_dataframe(data):
            raise InvalidInput(
                f"LoadedModel.predict takes local data, not a Spark DataFrame: score it on the executors "
                f"with loopwright.integrations.spark.score(df, {self.uri!r}) or `loopwright spark score`"
            )
        if is_frame(data) or isinstance(data, str | os.PathLike):
            return to_pandas(data, what="the input")  # a path is a .parquet/.csv file of rows
        return data

    def predict(self, data: Any, validate: bool = True) -> Any:
        """Predictions for ``data``: a pandas/polars/pyarrow frame, a .parquet/.csv path, a numpy array,
        a list of records or of rows, or a dict of columns.

        Returns a numpy array, or a DataFrame for models with several named outputs.
        With ``validate=False`` the data goes to the model as given (the caller validated it).
        """
        if validate:
            data = self._prepare(data)
        out = self._predict(data)
        return out if type(out) is np.ndarray else _as_output(out)

    def predict_proba(self, data: Any, validate: bool = True) -> Any:
        """Class probabilities, for models that have them (see :attr:`has_proba`)."""
        if not self._predictor.has_proba:
            raise InvalidInput(f"{self.flavor} model {self.uri} has no predict_proba")
        if validate:
            data = self._prepare(data)
        return _as_output(self._predictor.predict_proba(data))

    def warm_up(self) -> None:
        """Predict once on the stored input example (first-call costs: allocation, JIT, caches)."""
        if self.input_example is not None:
            self.predict(self.input_example)


def _as_input(data: Any) -> Any:
    if isinstance(data, (pd.DataFrame, np.ndarray)):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame({k: np.atleast_1d(v) for k, v in data.items()})
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return pd.DataFrame.from_records(data)
    if isinstance(data, (list, tuple)):
        return np.asarray(data)
    return data


def _as_output(out: Any) -> Any:
    if isinstance(out, (np.ndarray, pd.DataFrame)):
        return out
    if isinstance(out, pd.Series):
        return out.to_numpy()
    if isinstance(out, Mapping):
        columns = {str(k): np.asarray(v) for k, v in out.items()}
        if all(v.ndim == 1 for v in columns.values()):
            return pd.DataFrame(columns)
        return columns
    if isinstance(out, (list, tuple)) and out and all(isinstance(o, np.ndarray) for o in out):
        return out[0] if len(out) == 1 else list(out)
    return np.asarray(out)
