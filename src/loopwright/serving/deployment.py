"""What a server serves: endpoints, their weighted model routes, a shadow, and batching settings.

A deployment comes from one model URI (``loopwright serve models:/churn@champion``) or a YAML
file naming several endpoints::

    endpoints:
      churn:
        routes:
          - model: models:/churn@champion
            weight: 90
          - model: models:/churn@challenger
            weight: 10
        shadow: models:/churn/7
        batching: {max_batch_size: 64, max_latency_ms: 5}
      all-MiniLM-L6-v2: bundled:all-MiniLM-L6-v2   # the bundled embedding model (/v1/embeddings)

Examples
--------
>>> d = Deployment.from_uri("models:/churn@champion")
>>> d.endpoints[0].name, d.endpoints[0].routes[0].model
('churn', 'models:/churn@champion')
>>> d = Deployment.from_dict({"endpoints": {"churn": {"model": "models:/churn/3", "batching": False}}})
>>> d.endpoints[0].batching.enabled
False
>>> Deployment.load("bundled:all-MiniLM-L6-v2").endpoints[0].name
'all-MiniLM-L6-v2'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loopwright.errors import InvalidInput
from loopwright.names import validate_name
from loopwright.serving.openai import BUNDLED_SCHEME, bundled_name, is_bundled
from loopwright.serving.sources import endpoint_name
from loopwright.serving.types import ModelLike
from loopwright.uris import parse_model_uri

ModelSpec = str | ModelLike  # a model URI, or an already loaded model (Python API only)


@dataclass(frozen=True)
class BatchingSpec:
    """Micro-batching settings of one endpoint (``enabled=False`` for models that are not batch-safe)."""

    enabled: bool = True
    max_batch_size: int = 64
    max_latency_ms: float = 5.0

    @classmethod
    def from_value(cls, value: Any) -> BatchingSpec:
        """``None``/``True`` (defaults), ``False`` (off) or a mapping of the fields."""
        if value is None or value is True:
            return cls()
        if value is False:
            return cls(enabled=False)
        if not isinstance(value, Mapping):
            raise InvalidInput("batching must be true, false or {max_batch_size: N, max_latency_ms: MS}")
        unknown = set(value) - {"enabled", "max_batch_size", "max_latency_ms"}
        if unknown:
            raise InvalidInput(f"unknown batching setting(s) {sorted(unknown)}")
        size = value.get("max_batch_size", cls.max_batch_size)
        latency = value.get("max_latency_ms", cls.max_latency_ms)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise InvalidInput(f"batching.max_batch_size must be a positive integer, got {size!r}")
        if not isinstance(latency, int | float) or isinstance(latency, bool) or latency < 0:
            raise InvalidInput(f"batching.max_latency_ms must be a number >= 0, got {latency!r}")
        return cls(bool(value.get("enabled", True)), size, float(latency))


@dataclass(frozen=True)
class RouteSpec:
    """One model version behind an endpoint and its share of the traffic."""

    model: ModelSpec
    weight: float = 100.0


@dataclass(frozen=True)
class EndpointSpec:
    """One named endpoint."""

    name: str
    routes: tuple[RouteSpec, ...]
    shadow: ModelSpec | None = None
    batching: BatchingSpec = field(default_factory=BatchingSpec)

    def __post_init__(self) -> None:
        validate_name(self.name, "endpoint name")
        if not self.routes:
            raise InvalidInput(f"endpoint {self.name!r} has no model routes")
        for route in self.routes:
            _check_model(route.model, f"endpoint {self.name!r}")
            w = route.weight
            if not isinstance(w, int | float) or isinstance(w, bool) or not math.isfinite(w) or w < 0:
                raise InvalidInput(f"endpoint {self.name!r}: route weight must be a number >= 0, got {w!r}")
        if sum(r.weight for r in self.routes) <= 0:
            raise InvalidInput(f"endpoint {self.name!r}: route weights must not all be 0")
        if self.shadow is not None:
            _check_model(self.shadow, f"endpoint {self.name!r} shadow")


@dataclass(frozen=True)
class Deployment:
    """Everything one server serves."""

    endpoints: tuple[EndpointSpec, ...]

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise InvalidInput("a deployment needs at least one endpoint")
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            raise InvalidInput(f"endpoint names must be unique, got {names}")

    @classmethod
    def from_uri(cls, uri: str, name: str | None = None, batching: Any = None) -> Deployment:
        """One endpoint serving one model URI, named after the registered (or bundled) model."""
        default = uri[len(BUNDLED_SCHEME) :] if is_bundled(uri) else endpoint_name(parse_model_uri(uri))
        return cls(
            (EndpointSpec(name or default, (RouteSpec(uri),), None, BatchingSpec.from_value(batching)),)
        )

    @classmethod
    def from_dict(cls, doc: Any) -> Deployment:
        """Parse the YAML document's structure (``{"endpoints": {name: {...}}}``)."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("endpoints"), Mapping):
            raise InvalidInput("a deployment file needs an 'endpoints:' mapping of endpoint name to settings")
        endpoints = []
        for name, body in doc["endpoints"].items():
            if isinstance(body, str):
                body = {"model": body}
            if not isinstance(body, Mapping):
                raise InvalidInput(f"endpoint {name!r} must be a mapping with 'routes' or 'model'")
            unknown = set(body) - {"routes", "model", "shadow", "batching"}
            if unknown:
                raise InvalidInput(f"endpoint {name!r}: unknown setting(s) {sorted(unknown)}")
            if "model" in body and "routes" in body:
                raise InvalidInput(f"endpoint {name!r}: give either 'model' or 'routes', not both")
            raw_routes = body.get("routes") if "routes" in body else [{"model": body.get("model")}]
            if not isinstance(raw_routes, list) or not raw_routes:
                raise InvalidInput(f"endpoint {name!r}: routes must be a non-empty list")
            routes = []
            for route in raw_routes:
                if not isinstance(route, Mapping) or "model" not in route:
                    raise InvalidInput(f"endpoint {name!r}: each route needs a 'model' URI")
                routes.append(RouteSpec(route["model"], route.get("weight", 100.0)))
            endpoints.append(
                EndpointSpec(
                    str(name),
                    tuple(routes),
                    body.get("shadow"),
                    BatchingSpec.from_value(body.get("batching")),
                )
            )
        return cls(tuple(endpoints))

    @classmethod
    def from_yaml(cls, path: str | Path) -> Deployment:
        """Read a deployment YAML file."""
        try:
            doc = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as error:
            raise InvalidInput(f"cannot read deployment file {str(path)!r}: {error}") from None
        return cls.from_dict(doc)

    @classmethod
    def load(cls, target: str | Path | Deployment) -> Deployment:
        """A model URI, a YAML file path, or a deployment as is."""
        if isinstance(target, Deployment):
            return target
        text = str(target)
        if text.startswith(("models:/", "runs:/", BUNDLED_SCHEME)):
            return cls.from_uri(text)
        if Path(text).suffix.lower() in (".yaml", ".yml") or Path(text).exists():
            return cls.from_yaml(text)
        return cls.from_uri(text)  # raises with the accepted URI forms

    def to_dict(self) -> dict[str, Any]:
        """The YAML structure again (URIs only: loaded models cannot cross processes)."""
        out: dict[str, Any] = {}
        for e in self.endpoints:
            models = [r.model for r in e.routes] + ([e.shadow] if e.shadow is not None else [])
            if not all(isinstance(m, str) for m in models):
                raise InvalidInput(f"endpoint {e.name!r} serves in-memory models; only URIs can be exported")
            out[e.name] = {
                "routes": [{"model": r.model, "weight": r.weight} for r in e.routes],
                "shadow": e.shadow,
                "batching": {
                    "enabled": e.batching.enabled,
                    "max_batch_size": e.batching.max_batch_size,
                    "max_latency_ms": e.batching.max_latency_ms,
                },
            }
        return {"endpoints": out}

    def model_uris(self) -> list[str]:
        """Every model URI the deployment names (routes and shadows; bundled models are not URIs)."""
        uris = []
        for e in self.endpoints:
            uris += [r.model for r in e.routes if isinstance(r.model, str)]
            if isinstance(e.shadow, str):
                uris.append(e.shadow)
        return [u for u in uris if not is_bundled(u)]


def _check_model(model: Any, where: str) -> None:
    if isinstance(model, str) and is_bundled(model):
        bundled_name(model)
    elif isinstance(model, str):
        parse_model_uri(model)
    elif not callable(getattr(model, "predict", None)):
        raise InvalidInput(f"{where}: a model must be a model URI or an object with predict(), got {model!r}")
