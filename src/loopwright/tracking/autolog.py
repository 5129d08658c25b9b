"""``lw.autolog()``: record scikit-learn, XGBoost and LightGBM training without logging calls.

What is patched (and put back by ``autolog(disable=True)``):

- ``fit`` of every scikit-learn estimator class defining one, including XGBoost's and LightGBM's
  scikit-learn wrappers: classes imported already are found by walking ``BaseEstimator``'s subclasses,
  classes imported later through a ``BaseEstimator.__init_subclass__`` hook (no import of all of
  scikit-learn up front). After ``fit``: ``get_params()`` as params; training metrics on the training
  data (MLflow's names: ``training_score``, ``training_accuracy_score``, ``training_f1_score``,
  ``training_log_loss``, ``training_roc_auc``, ``training_mean_squared_error``, ``training_r2_score`` …);
  the fitted model (``lw.log_model``, input example = the first 5 rows, signature inferred); the
  training data's fingerprint (``lw.log_dataset``, name ``train``); tags ``estimator_name`` /
  ``estimator_class``. A search (``GridSearchCV``, ``RandomizedSearchCV``) also gets ``best_<param>``
  params, ``best_cv_score`` and one child run per candidate (up to ``max_tuning_runs``); its logged
  model is the best estimator. Boosting wrappers add their per-iteration eval metrics
  (``validation_0-logloss`` at each step).
- ``xgboost.train`` and ``lightgbm.train``: params, per-iteration eval metrics, the booster.

A fit inside a patched fit (a Pipeline's steps, a search's candidates) is not logged again. With no
active run, the fit starts one and ends it (``failed`` if fit raises), as MLflow does.

Examples
--------
>>> import os, tempfile, numpy as np, loopwright as lw
>>> from sklearn.linear_model import LinearRegression
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> lw.autolog()
>>> X = np.arange(20.0).reshape(10, 2)
>>> model = LinearRegression().fit(X, X.sum(axis=1))
>>> run = lw.search_runs(output="list")[0]
>>> run.params["fit_intercept"], round(run.metrics["training_r2_score"], 6), run.tags["estimator_name"]
('True', 1.0, 'LinearRegression')
>>> [a.path for a in lw.list_artifacts(run.id, "model") if a.path.endswith("manifest.json")]
['model/manifest.json']
>>> lw.autolog(disable=True)
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from loopwright.errors import InvalidInput

log = logging.getLogger(__name__)

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm")
_lock = threading.Lock()
_inside = threading.local()


@dataclass
class _Config:
    frameworks: set[str] = field(default_factory=set)
    log_models: bool = True
    log_datasets: bool = True
    log_input_examples: bool = True
    max_tuning_runs: int = 50
    extra_tags: dict[str, str] = field(default_factory=dict)


_config = _Config()
# (owner, attribute) -> the original attribute, or None when the owner had none of its own
_originals: dict[tuple[Any, str], Any] = {}


def autolog(
    disable: bool = False,
    frameworks: Sequence[str] | None = None,
    log_models: bool = True,
    log_datasets: bool = True,
    log_input_examples: bool = True,
    max_tuning_runs: int = 50,
    extra_tags: Mapping[str, Any] | None = None,
    silent: bool = False,
    **unsupported: Any,
) -> None:
    """Turn autologging on for ``frameworks`` (default: all of sklearn, xgboost, lightgbm) or off.

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.autolog(frameworks=["sklearn"]); lw.autolog(disable=True)
    >>> lw.autolog(log_model_signatures=False)
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInput: autolog(log_model_signatures=) is not supported: models are always logged with their signature; use log_models=False to skip them
    """
    if unsupported:
        name = next(iter(unsupported))
        raise InvalidInput(
            f"autolog({name}=) is not supported: models are always logged with their signature; "
            "use log_models=False to skip them"
        )
    chosen = set(frameworks or FRAMEWORKS)
    unknown = chosen - set(FRAMEWORKS)
    if unknown:
        raise InvalidInput(f"autolog: unknown framework(s) {sorted(unknown)}; known: {', '.join(FRAMEWORKS)}")
    with _lock:
        if disable:
            _config.frameworks -= chosen
            if not _config.frameworks:
                _unpatch_all()
            return
        _config.frameworks |= chosen
        _config.log_models, _config.log_datasets = log_models, log_datasets
        _config.log_input_examples, _config.max_tuning_runs = log_input_examples, max_tuning_runs
        _config.extra_tags = {k: str(v) for k, v in (extra_tags or {}).items()}
        _patch_estimators()
        _patch_train("xgboost", _xgboost_train)
        _patch_train("lightgbm", _lightgbm_train)


def _framework(cls: type) -> str | None:
    top = cls.__module__.split(".", 1)[0]
    return top if top in FRAMEWORKS else None


# -- patching -------------------------------------------------------------------------------------
def _set(owner: Any, name: str, value: Any) -> None:
    if (owner, name) not in _originals:
        _originals[(owner, name)] = owner.__dict__.get(name)
    setattr(owner, name, value)


def _unpatch_all() -> None:
    for (owner, name), original in _originals.items():
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _originals.clear()


def _patch_class(cls: type) -> None:
    fit = cls.__dict__.get("fit")
    if fit is None or _framework(cls) is None or (cls, "fit") in _originals:
        return
    _set(cls, "fit", _patched_fit(fit))


def _subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _patch_estimators() -> None:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # no scikit-learn: only the native boosting APIs can be patched
        return

    for cls in list(_subclasses(BaseEstimator)):
        _patch_class(cls)
    if (BaseEstimator, "__init_subclass__") in _originals:
        return
    own = BaseEstimator.__dict__.get("__init_subclass__")

    def hook(cls: type, **kwargs: Any) -> None:  # estimators defined from now on get patched too
        if own is not None:
            own.__get__(None, cls)(**kwargs)
        else:
            super(BaseEstimator, cls).__init_subclass__(**kwargs)
        _patch_class(cls)

    _set(BaseEstimator, "__init_subclass__", classmethod(hook))


def _patch_train(module_name: str, make: Callable[[Any], Any]) -> None:
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = __import__(module_name)
        except ImportError:
            return
    if (module, "train") not in _originals:
        _set(module, "train", make(module.__dict__["train"]))


@contextmanager
def _autolog_run(framework: str, tags: Mapping[str, str]) -> Iterator[str | None]:
    """The active run (or one started for this fit); ``None`` inside another autologged fit."""
    from loopwright.tracking import fluent

    if getattr(_inside, "depth", 0) or framework not in _config.frameworks:
        yield None
        return
    _inside.depth = 1
    started = None
    try:
        if fluent.active_run() is None:
            started = fluent.start_run()
        run = fluent.active_run()
        assert run is not None
        fluent.set_tags({**_config.extra_tags, **tags}, run_id=run.id)
        yield run.id
    except BaseException as exc:
        if started is not None:
            fluent.end_run("failed", error=f"{type(exc).__name__}: {exc}", run_id=started.id)
        raise
    else:
        if started is not None:
            fluent.end_run("finished", run_id=started.id)
    finally:
        _inside.depth = 0


def _quietly(what: str, call: Callable[[], Any]) -> Any:
    # autologging must never break the user's training: a part that cannot be logged is a warning
    try:
        return call()
    except Exception as exc:
        log.warning("autolog could not log %s: %s: %s", what, type(exc).__name__, exc)
        return None


# -- scikit-learn ------------------------------------------------------------------------------------
def _patched_fit(fit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fit)
    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        cls = type(self)
        framework = _framework(cls) or "sklearn"
        tags = {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}
        with _autolog_run(framework, tags) as run_id:
            result = fit(self, *args, **kwargs)
            if run_id is not None:
                X = args[0] if args else kwargs.get("X")
                y = args[1] if len(args) > 1 else kwargs.get("y")
                _log_fitted(self, X, y, run_id)
        return result

    return patched


def _param_value(value: Any) -> str:
    text = repr(value) if hasattr(value, "get_params") else str(value)
    return text if len(text) <= 500 else text[:497] + "..."


def _log_fitted(model: Any, X: Any, y: Any, run_id: str) -> None:
    from loopwright.tracking import fluent

    params = {k: _param_value(v) for k, v in model.get_params(deep=True).items()}
    _quietly("params", lambda: fluent.log_params(params, run_id=run_id))
    metrics = _quietly("training metrics", lambda: _training_metrics(model, X, y)) or {}
    best = getattr(model, "best_estimator_", None)
    if hasattr(model, "cv_results_"):
        _quietly("search results", lambda: _log_search(model, run_id))
        if hasattr(model, "best_score_"):
            metrics["best_cv_score"] = float(model.best_score_)
    metrics.update(_quietly("eval metrics", lambda: _eval_metrics(model)) or {})
    flat = {k: v for k, v in metrics.items() if isinstance(k, str)}
    if flat:
        fluent.log_metrics(flat, run_id=run_id)
    stepped = {k: v for k, v in metrics.items() if isinstance(k, tuple)}
    for (key, step), value in stepped.items():
        fluent.log_metric(key, value, step, run_id=run_id)
    if _config.log_datasets:
        _quietly(
            "the training dataset", lambda: fluent.log_dataset(X, "train", context="train", run_id=run_id)
        )
    if _config.log_models:
        example = _head(X) if _config.log_input_examples else None
        _quietly("the model", lambda: _log_model(best if best is not None else model, example, run_id))


def _head(X: Any) -> Any:
    try:
        return X.iloc[:5] if hasattr(X, "iloc") else X[:5]
    except Exception:
        return None


def _log_model(model: Any, example: Any, run_id: str) -> None:
    from loopwright.models.package import log_model

    log_model(model, "model", input_example=example, run_id=run_id)


def _training_metrics(model: Any, X: Any, y: Any) -> dict[Any, float]:
    if y is None:
        return {}
    from sklearn import metrics as m
    from sklearn.base import is_classifier, is_regressor

    out: dict[Any, float] = {}
    if is_classifier(model):
        predicted = model.predict(X)
        average = "binary" if len(set(list(y))) == 2 else "weighted"
        out["training_accuracy_score"] = m.accuracy_score(y, predicted)
        out["training_precision_score"] = m.precision_score(y, predicted, average=average, zero_division=0)
        out["training_recall_score"] = m.recall_score(y, predicted, average=average, zero_division=0)
        out["training_f1_score"] = m.f1_score(y, predicted, average=average, zero_division=0)
        if hasattr(model, "predict_proba"):
            proba = model.predict_proba(X)
            out["training_log_loss"] = m.log_loss(y, proba, labels=model.classes_)
            scores = proba[:, 1] if proba.shape[1] == 2 else proba
            out["training_roc_auc"] = m.roc_auc_score(y, scores, multi_class="ovr", labels=model.classes_)
    elif is_regressor(model):
        predicted = model.predict(X)
        mse = m.mean_squared_error(y, predicted)
        out["training_mean_squared_error"] = mse
        out["training_root_mean_squared_error"] = mse**0.5
        out["training_mean_absolute_error"] = m.mean_absolute_error(y, predicted)
        out["training_r2_score"] = m.r2_score(y, predicted)
    if hasattr(model, "score"):
        out["training_score"] = model.score(X, y)
    return {k: float(v) for k, v in out.items()}


def _log_search(search: Any, parent_id: str) -> None:
    from loopwright.tracking import fluent

    best = {f"best_{k}": _param_value(v) for k, v in (getattr(search, "best_params_", None) or {}).items()}
    if best:
        fluent.log_params(best, run_id=parent_id)
    results = search.cv_results_
    parent = fluent.get_run(parent_id)
    client = fluent.get_client()
    for index, params in enumerate(results["params"][: _config.max_tuning_runs]):
        child = client.create_run(
            fluent.get_experiment(parent.experiment_id).name,
            name=f"{parent.name}-{index}",
            parent_id=parent_id,
        )
        client.log_params(child.id, {k: _param_value(v) for k, v in params.items()})
        scores = {
            key: float(values[index])
            for key, values in results.items()
            if key.startswith(("mean_", "std_", "rank_")) and not hasattr(values[index], "mask")
        }
        client.log_metrics(child.id, scores)
        client.end_run(child.id, "finished")


def _eval_metrics(model: Any) -> dict[Any, float]:
    # both wrappers keep the per-iteration history here (empty or absent without an eval set)
    return _history_points(getattr(model, "evals_result_", None) or {})


def _history_points(history: Mapping[str, Mapping[str, Sequence[float]]]) -> dict[Any, float]:
    return {
        (f"{data}-{metric}", step): float(value)
        for data, per_metric in history.items()
        for metric, values in per_metric.items()
        for step, value in enumerate(values)
    }


# -- native boosting APIs -------------------------------------------------------------------------
def _log_booster(run_id: str, params: Mapping[str, Any], history: Mapping[str, Any], booster: Any) -> None:
    from loopwright.tracking import fluent

    fluent.log_params({k: _param_value(v) for k, v in params.items()}, run_id=run_id)
    for (key, step), value in _history_points(history).items():
        fluent.log_metric(key, value, step, run_id=run_id)
    if _config.log_models:
        _quietly("the booster", lambda: _log_model(booster, None, run_id))


def _xgboost_train(train: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(train)
    def patched(params: Mapping[str, Any], dtrain: Any, *args: Any, **kwargs: Any) -> Any:
        with _autolog_run(
            "xgboost", {"estimator_name": "Booster", "estimator_class": "xgboost.Booster"}
        ) as run_id:
            if run_id is None:
                return train(params, dtrain, *args, **kwargs)
            history = kwargs.setdefault("evals_result", {})
            booster = train(params, dtrain, *args, **kwargs)
            _log_booster(run_id, params, history, booster)
            return booster

    return patched


def _lightgbm_train(train: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(train)
    def patched(params: Mapping[str, Any], train_set: Any, *args: Any, **kwargs: Any) -> Any:
        with _autolog_run(
            "lightgbm", {"estimator_name": "Booster", "estimator_class": "lightgbm.Booster"}
        ) as run_id:
            if run_id is None:
                return train(params, train_set, *args, **kwargs)
            import lightgbm

            history: dict[str, Any] = {}
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), lightgbm.record_evaluation(history)]
            booster = train(params, train_set, *args, **kwargs)
            _log_booster(run_id, params, history, booster)
            return booster

    return patched
