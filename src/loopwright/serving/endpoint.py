"""Endpoints: weighted routes to model versions, a shadow, and the slot each version runs in.

A :class:`Slot` is one loaded model version with its input schema, batcher and metrics. A
:class:`Route` follows one model URI; hot swap replaces its slot in one assignment, so a request
either runs wholly on the old version or wholly on the new one. An :class:`Endpoint` picks a route
per request: by weight at random, or by a hash of the ``X-Routing-Key`` header so one user keeps
seeing one version.

Examples
--------
>>> from types import SimpleNamespace as NS
>>> routes = [NS(weight=90), NS(weight=10)]
>>> split = TrafficSplit([r.weight for r in routes])
>>> split.index_for_key("user-42") == split.index_for_key("user-42")
True
>>> sum(split.index_for_random(u / 100) for u in range(100))
10
"""

from __future__ import annotations

import asyncio
import bisect
import inspect
import random
import zlib
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import numpy as np

from loopwright.serving.batching import Batcher
from loopwright.serving.deployment import BatchingSpec
from loopwright.serving.inputs import InputSchema
from loopwright.serving.metrics import ServingMetrics
from loopwright.serving.responses import HttpError
from loopwright.serving.types import ModelLike
from loopwright.uris import ModelUri


class Arrivals:
    """How many requests to one endpoint are still being read off the wire."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        return self.count


class Slot:
    """One model version serving behind an endpoint.

    Parameters
    ----------
    endpoint:
        Endpoint name (metrics label).
    model:
        The loaded model (``predict(data, validate=False)`` is called with validated input).
    name, version:
        Registered model name and version (``None`` for models served from a run or memory).
    batching:
        The endpoint's batching settings.
    metrics:
        The app's metric families.
    arriving:
        Requests to this endpoint still being read (the batcher may wait for them).
    role:
        ``"route"`` or ``"shadow"``.
    """

    def __init__(
        self,
        endpoint: str,
        model: ModelLike,
        name: str | None,
        version: int | None,
        batching: BatchingSpec,
        metrics: ServingMetrics,
        arriving: Arrivals,
        role: str = "route",
    ):
        self.endpoint = endpoint
        self.model = model
        self.name = name
        self.version = version
        self.label = str(version) if version is not None else "none"
        self.label_bytes = self.label.encode()
        self.role = role
        self.schema = InputSchema(getattr(model, "signature", None), frame_only=_needs_frame(model))
        self.has_proba = bool(getattr(model, "has_proba", False))
        self.metrics = metrics.for_version(endpoint, self.label)
        self.inflight = 0  # requests submitted and not yet answered (changed on the event loop only)
        self.retired = False
        self._closed = False
        self._predict_fn = model.predict
        self._validate_kw = "validate" in inspect.signature(model.predict).parameters
        self.batcher = Batcher(
            self._predict,
            max_batch_size=batching.max_batch_size,
            max_latency_ms=batching.max_latency_ms,
            enabled=batching.enabled,
            observe=self._observe,
            arriving=arriving,
            name=f"{endpoint}-{self.label}",
            concurrency=getattr(model, "batch_concurrency", 1),
        )

    # -- lifecycle: serving → retired (a swap replaced it) → closed once its requests are answered --
    def enter(self) -> None:
        """A request (or shadow copy) was submitted: the slot stays open until it :meth:`leave`s."""
        self.inflight += 1

    def leave(self) -> None:
        """A request was answered (or failed); a retired slot closes with its last one."""
        self.inflight -= 1
        self.close_if_drained()

    def retire(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Called from the swapping thread: close once drained, checked on ``loop`` (where requests
        enter and leave); with no running loop nothing is in flight, so close now."""
        self.retired = True
        if loop is None or loop.is_closed():
            self.close()
        else:
            loop.call_soon_threadsafe(self.close_if_drained)

    def close_if_drained(self) -> None:
        """Close a retired slot that has no request in flight."""
        if self.retired and self.inflight == 0:
            self.close()

    def close(self) -> None:
        """Stop the batcher's thread (once, however many paths get here)."""
        if not self._closed:
            self._closed = True
            self.batcher.close()

    @property
    def closed(self) -> bool:
        """Whether the batcher was closed."""
        return self._closed

    def _predict(self, data: Any) -> Any:
        if self._validate_kw:
            return self._predict_fn(data, validate=False)
        return self._predict_fn(data)

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities for validated input (the ``predict_proba`` output of OIP)."""
        if self._validate_kw:
            return np.asarray(self.model.predict_proba(data, validate=False))
        return np.asarray(self.model.predict_proba(data))

    def _observe(self, rows: int, reason: str) -> None:
        self.metrics.batch(rows, reason)
        self.metrics.queue.set(self.batcher.queued_rows)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for ``GET /endpoints`` and ``POST /admin/reload``."""
        return {"model_name": self.name, "model_version": self.version, "role": self.role}


# flavors whose predictor takes a numeric 2-D array exactly as it takes the signature's DataFrame
# (columns by position); every other flavor (pyfunc, torch, keras, pickle) gets the DataFrame its local
# ``predict`` gets, since user code may read columns by name
ARRAY_FLAVORS = frozenset({"sklearn", "xgboost", "lightgbm", "onnx"})


def _needs_frame(model: ModelLike) -> bool:
    """Whether requests must reach ``model`` as a DataFrame rather than the numeric array fast path."""
    flavor = getattr(model, "flavor", None)
    return (flavor is not None and flavor not in ARRAY_FLAVORS) or _fitted_in_other_order(model)


def _fitted_in_other_order(model: ModelLike) -> bool:
    """True when the estimator was fitted on named columns in another order than its signature's.

    The array fast path passes columns by position, which is only right when the orders agree.
    """
    fitted = getattr(getattr(model, "native", None), "feature_names_in_", None)
    signature = getattr(model, "signature", None)
    if fitted is None or signature is None or signature.kind != "dataframe":
        return False
    return [str(n) for n in fitted] != [c.name for c in signature.inputs]


class Route:
    """One weighted entry of an endpoint, following a model URI (or a fixed in-memory model).

    ``slot`` is ``None`` while the route is dormant: the alias it follows does not exist (a canary
    alias between canaries), so it takes no traffic until the alias is set again.
    """

    def __init__(self, slot: Slot | None, weight: float, uri: ModelUri | None):
        self.slot = slot
        self.weight = weight
        self.uri = uri

    @property
    def follows_alias(self) -> bool:
        return self.uri is not None and self.uri.alias is not None


class TrafficSplit:
    """Weighted choice among routes: random per request, or sticky by a routing key."""

    def __init__(self, weights: Sequence[float]):
        self.bounds = list(accumulate(weights))
        self.total = self.bounds[-1]

    def index_for_random(self, u: float) -> int:
        """Route index for a uniform draw ``u`` in ``[0, 1)``."""
        return min(bisect.bisect_right(self.bounds, u * self.total), len(self.bounds) - 1)

    def index_for_key(self, key: str) -> int:
        """Route index for a routing key: stable across requests, processes and restarts."""
        return self.index_for_random(zlib.crc32(key.encode()) / 4294967296.0)


class Endpoint:
    """A named endpoint: its routes, optional shadow and traffic split."""

    def __init__(
        self, name: str, routes: list[Route], shadow: Route | None, batching: BatchingSpec, arrivals: Arrivals
    ):
        self.name = name
        self.routes = routes
        self.shadow = shadow
        self.batching = batching
        self.arrivals = arrivals  # shared with the slots' batchers
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the traffic split from the routes' current slots (after a swap, or a route going
        dormant or waking up). One assignment, so a request sees the old or the new split whole;
        call it before retiring a replaced slot."""
        active = [r for r in self.routes if r.slot is not None]
        slots: list[Slot] = [r.slot for r in active if r.slot is not None]
        split = TrafficSplit([r.weight for r in active]) if active else None
        self._choice = (active, slots, split, slots[0] if len(slots) == 1 else None)

    @property
    def active_routes(self) -> list[Route]:
        """The routes taking traffic now (dormant ones left out)."""
        return self._choice[0]

    def pick(self, routing_key: str | None) -> Slot:
        """The slot that answers one request."""
        _, slots, split, single = self._choice
        if single is not None:
            return single
        if split is None:
            raise HttpError(503, f"endpoint {self.name!r} serves no model: every alias it follows is unset")
        if routing_key:
            return slots[split.index_for_key(routing_key)]
        return slots[split.index_for_random(random.random())]

    def slots(self) -> list[Slot]:
        """Every slot serving now (routes, then the shadow)."""
        out = [r.slot for r in self.routes if r.slot is not None]
        if self.shadow is not None and self.shadow.slot is not None:
            out.append(self.shadow.slot)
        return out

    def slot_for_version(self, version: str) -> Slot | None:
        """The slot serving ``version`` (for ``/v2/models/{name}/versions/{v}``), if any."""
        for slot in self.slots():
            if slot.label == version:
                return slot
        return None

    def poke(self) -> None:
        """A request finished reading its body: batchers waiting for it may go."""
        for slot in self.slots():
            slot.batcher.poke()

    def describe(self) -> dict[str, Any]:
        """JSON-able summary of what this endpoint serves."""
        return {
            "name": self.name,
            "routes": [
                {"model": str(r.uri) if r.uri else None, "weight": r.weight, **_describe(r)}
                for r in self.routes
            ],
            "shadow": (
                {"model": str(self.shadow.uri) if self.shadow.uri else None, **_describe(self.shadow)}
                if self.shadow is not None
                else None
            ),
            "batching": {
                "enabled": self.batching.enabled,
                "max_batch_size": self.batching.max_batch_size,
                "max_latency_ms": self.batching.max_latency_ms,
            },
        }


def _describe(route: Route) -> dict[str, Any]:
    if route.slot is None:
        return {"model_name": route.uri.name if route.uri else None, "model_version": None, "role": "dormant"}
    return route.slot.describe()
