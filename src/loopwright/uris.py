"""Model URIs: ``runs:/RUN_ID/path``, ``models:/NAME/VERSION`` and ``models:/NAME@ALIAS``.

Examples
--------
>>> parse_model_uri("runs:/0123abcd/model")
ModelUri(scheme='runs', run_id='0123abcd', path='model', name=None, version=None, alias=None)
>>> parse_model_uri("models:/churn/3").version
3
>>> parse_model_uri("models:/churn@champion").alias
'champion'
>>> parse_model_uri("models:/churn")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: invalid model URI 'models:/churn': use models:/NAME/VERSION or models:/NAME@ALIAS
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loopwright.errors import InvalidInput
from loopwright.names import validate_artifact_path, validate_name


@dataclass(frozen=True)
class ModelUri:
    """A parsed model URI; ``scheme`` says which fields are set."""

    scheme: Literal["runs", "models"]
    run_id: str | None = None
    path: str | None = None
    name: str | None = None
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.scheme == "runs":
            return f"runs:/{self.run_id}/{self.path}"
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{self.version}"


def parse_model_uri(uri: object) -> ModelUri:
    """Parse a model URI; raise :class:`InvalidInput` saying which forms are accepted."""
    if not isinstance(uri, str):
        raise InvalidInput(f"a model URI must be a string, got {type(uri).__name__}")
    if uri.startswith("runs:/"):
        run_id, _, path = uri.removeprefix("runs:/").strip("/").partition("/")
        if not run_id or not path:
            raise InvalidInput(f"invalid model URI {uri!r}: use runs:/RUN_ID/ARTIFACT_PATH")
        return ModelUri("runs", run_id=validate_name(run_id, "run id"), path=validate_artifact_path(path))
    if uri.startswith("models:/"):
        rest = uri.removeprefix("models:/").strip("/")
        if "@" in rest and "/" not in rest:
            name, _, alias = rest.partition("@")
            return ModelUri(
                "models", name=validate_name(name, "model name"), alias=validate_name(alias, "alias")
            )
        name, _, version = rest.partition("/")
        if version.isdigit() and "/" not in version and int(version) > 0:
            return ModelUri("models", name=validate_name(name, "model name"), version=int(version))
        raise InvalidInput(f"invalid model URI {uri!r}: use models:/NAME/VERSION or models:/NAME@ALIAS")
    raise InvalidInput(
        f"invalid model URI {uri!r}: use runs:/RUN_ID/PATH, models:/NAME/VERSION or models:/NAME@ALIAS"
    )


def parse_run_uri(uri: object) -> ModelUri:
    """Parse a ``runs:/RUN_ID/PATH`` URI (the only form ``register_model`` takes)."""
    if not isinstance(uri, str) or not uri.startswith("runs:/"):
        raise InvalidInput(f"invalid run URI {uri!r}: use runs:/RUN_ID/PATH, e.g. runs:/RUN_ID/model")
    return parse_model_uri(uri)


def parse_registered_uri(uri: object) -> ModelUri:
    """Parse a ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` URI."""
    if not isinstance(uri, str) or not uri.startswith("models:/"):
        raise InvalidInput(f"invalid model URI {uri!r}: use models:/NAME/VERSION or models:/NAME@ALIAS")
    return parse_model_uri(uri)
