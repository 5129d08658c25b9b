"""scikit-learn estimators and pipelines, saved with skops (no pickle) and loaded with trusted-type checks.

Beyond what skops trusts itself (estimators, ufuncs, containers), a file may only construct the exact
types :func:`loopwright.models.trust.safe_type_names` lists; anything else (a custom transformer class,
a lambda, a function) is refused at log time with the list of types, so the user can wrap the model
in a pyfunc or opt in to pickle, and refused at load time unless the caller allows pickle. Every
decision tree that comes back is bounds-checked (child indices, feature indices) before it is used,
since a crafted tree could make scikit-learn read out of bounds.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from loopwright.errors import IntegrityError, PermissionDenied
from loopwright.models.flavors.base import Flavor, MethodPredictor, Predictor, UnsupportedModel, mro_modules
from loopwright.models.trust import refused_types, safe_type_names

FILE = "model.skops"
_FORESTS = {
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "RandomForestRegressor",
    "ExtraTreesRegressor",
}


# scikit-learn's vendored array-API shim for torch: importing it imports torch itself
_TORCH_SHIM = "sklearn.externals.array_api_compat.torch"


def _skops_io() -> types.ModuleType:
    """``skops.io``, imported without importing torch.

    skops lists scikit-learn's estimators at import time (``sklearn.utils.all_estimators``), whose
    package walk imports every subpackage, including the torch shim above: with torch installed
    that costs seconds on every first model load in a process, for a module with no estimators in
    it. While skops imports, the shim is marked absent so the walk skips it (the estimator list is
    the same); afterwards it imports normally again.
    """
    if "skops.io" in sys.modules or _TORCH_SHIM in sys.modules:
        import skops.io

        return skops.io
    sys.modules[_TORCH_SHIM] = None  # type: ignore[assignment]
    try:
        import skops.io
    finally:
        if _TORCH_SHIM in sys.modules and sys.modules[_TORCH_SHIM] is None:
            del sys.modules[_TORCH_SHIM]
    return skops.io


class SklearnFlavor(Flavor):
    name = "sklearn"
    libraries = ("scikit-learn", "skops", "numpy", "scipy")

    def detect(self, model: Any) -> bool:
        if "sklearn" not in mro_modules(model):
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        skops_io = _skops_io()
        path = folder / FILE
        try:
            skops_io.dump(model, path)
        except Exception as exc:
            raise UnsupportedModel(f"skops cannot save {type(model).__name__}: {exc}") from None
        needed = skops_io.get_untrusted_types(file=path)
        outside = refused_types(needed)
        if outside:
            path.unlink()
            raise UnsupportedModel(
                f"{type(model).__name__} holds types skops would have to trust at load time: {outside}; "
                "wrap the model in a pyfunc class, or log it with allow_pickle=True"
            )
        return {
            "file": FILE,
            "estimator": f"{type(model).__module__}.{type(model).__qualname__}",
            "trusted_types": needed,
        }

    def load(self, folder: Path, options: dict[str, Any], *, allow_pickle: bool = False) -> Any:
        skops_io = _skops_io()
        from skops.io.exceptions import UntrustedTypesFoundException

        path = folder / _file_name(options)
        # trust is decided by Loopwright: the manifest's trusted_types list can only narrow the safe set
        # (a short list keeps skops' per-node membership checks cheap); skops audits the whole file
        # against it before constructing anything (one parse)
        listed = options.get("trusted_types")
        safe = safe_type_names()
        narrowed = sorted({str(t) for t in listed} & safe) if isinstance(listed, list) else sorted(safe)
        try:
            trusted = skops_io.get_untrusted_types(file=path) if allow_pickle else narrowed
            model = skops_io.load(path, trusted=trusted)
        except UntrustedTypesFoundException:
            refused = sorted(
                refused_types(skops_io.get_untrusted_types(file=path))
            )  # a second parse, to name them
            raise PermissionDenied(
                f"{path.name} asks to construct types Loopwright does not trust: {refused}; constructing "
                "them can run code, so this model loads only with allow_pickle=True"
            ) from None
        except PermissionDenied:
            raise
        except Exception as exc:  # a malformed archive or schema is corrupt data, not a crash
            raise IntegrityError(
                f"{path.name} is not a readable skops file ({type(exc).__name__}: {exc})"
            ) from None
        check_trees(model, path.name)
        return model

    def wrap(self, native: Any, options: dict[str, Any]) -> Predictor:
        cls = type(native)
        if (
            cls.__name__ in _FORESTS
            and cls.__module__.startswith("sklearn.ensemble")
            and native.n_outputs_ == 1
        ):
            return ForestPredictor(native)
        return MethodPredictor(native)


def _file_name(options: dict[str, Any]) -> str:
    name = options.get("file", FILE)
    if name != FILE:  # the manifest lists files by digest; this one name is all the flavor reads
        raise IntegrityError(f"sklearn flavor_options.file must be {FILE!r}, got {name!r}")
    return FILE


class ForestPredictor(Predictor):
    """Random forests / extra trees without joblib and per-tree validation overhead.

    scikit-learn spends ~50 µs per tree per call on dispatch and input checks; for one row and
    100 trees that is most of the latency. This sums the trees' leaf values in the same order
    scikit-learn does, so the results are identical; anything unusual (sparse input, NaN, a
    wrong width) goes to the estimator's own method.
    """

    def __init__(self, native: Any):
        self.native = native
        self._trees = [e.tree_ for e in native.estimators_]
        self._n_features = int(native.n_features_in_)
        names = getattr(native, "feature_names_in_", None)
        self._names = None if names is None else [str(n) for n in names]
        classes: Any = getattr(native, "classes_", None)
        self._classes = classes
        self._is_classifier = classes is not None
        self._n_classes = 1 if classes is None else len(classes)

    @property
    def has_proba(self) -> bool:
        return self._is_classifier

    def _matrix(self, data: Any) -> np.ndarray | None:
        if hasattr(data, "columns"):  # a frame must name the columns the forest was fitted on, in order
            if self._names is not None and [str(c) for c in data.columns] != self._names:
                return None
            data = data.to_numpy()
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != self._n_features:
            return None
        if data.dtype.kind not in "fiub":
            return None
        matrix = np.ascontiguousarray(data, dtype=np.float32)
        return None if np.isnan(matrix).any() else matrix

    def _sum(self, matrix: np.ndarray) -> np.ndarray:
        total = np.zeros((matrix.shape[0], self._n_classes), dtype=np.float64)
        for tree in self._trees:
            total += tree.predict(matrix)[:, : self._n_classes]
        total /= len(self._trees)
        return total

    def predict_proba(self, data: Any) -> Any:
        matrix = self._matrix(data)
        if matrix is None or not self._is_classifier:
            return self.native.predict_proba(data)
        return self._sum(matrix)

    def predict(self, data: Any) -> Any:
        matrix = self._matrix(data)
        if matrix is None:
            return self.native.predict(data)
        total = self._sum(matrix)
        if self._is_classifier:
            return self._classes.take(np.argmax(total, axis=1), axis=0)
        return total[:, 0]


def check_trees(model: Any, where: str) -> None:
    """Refuse decision trees (and histogram-boosting tree predictors) whose nodes point outside themselves."""
    seen: set[int] = set()
    stack: list[Any] = [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        tree = getattr(obj, "tree_", None)
        if tree is not None and type(tree).__module__.startswith("sklearn.tree"):
            _check_tree(tree, int(getattr(obj, "n_features_in_", tree.n_features)), where)
        predictors = getattr(obj, "_predictors", None)
        if predictors is not None and type(obj).__module__.startswith("sklearn.ensemble"):
            for predictor in (p for row in predictors for p in row):
                _check_hist_predictor(predictor, int(obj.n_features_in_), where)
        if isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, np.ndarray) and obj.dtype == object:
            stack.extend(obj.ravel().tolist())
        elif type(obj).__module__.startswith("sklearn.") and hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())


def _check_tree(tree: Any, n_features: int, where: str) -> None:
    count = int(tree.node_count)
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    leaf = left == -1
    ok = (
        len(left) == len(right) == len(feature) == count
        and tree.value.shape[0] == count
        and bool(np.all((right == -1) == leaf))
        and bool(np.all(((left > 0) & (left < count)) | leaf))
        and bool(np.all(((right > 0) & (right < count)) | leaf))
        and bool(np.all(((feature >= 0) & (feature < n_features)) | leaf))
    )
    if not ok:
        raise IntegrityError(f"{where} holds a decision tree whose node indices point outside the tree")


def _check_hist_predictor(predictor: Any, n_features: int, where: str) -> None:
    nodes = getattr(predictor, "nodes", None)
    if not isinstance(nodes, np.ndarray) or nodes.dtype.names is None:
        raise IntegrityError(f"{where} holds a histogram-boosting tree without a node array")
    count = len(nodes)
    inner = nodes["is_leaf"] == 0
    left, right, feature = nodes["left"][inner], nodes["right"][inner], nodes["feature_idx"][inner]
    bitsets = getattr(predictor, "raw_left_cat_bitsets", np.empty(0))
    categorical = inner & (nodes["is_categorical"] != 0)
    ok = (
        count > 0
        and bool(np.all((left > 0) & (left < count)))
        and bool(np.all((right > 0) & (right < count)))
        and bool(np.all((feature >= 0) & (feature < n_features)))
        and bool(np.all(nodes["bitset_idx"][categorical] < len(bitsets)))
    )
    if not ok:
        raise IntegrityError(
            f"{where} holds a histogram-boosting tree whose node indices point outside the tree"
        )
