"""Model and run URIs: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``runs:/RUN_ID/PATH``.

Examples
--------
>>> parse_model_uri("models:/churn/3")
ModelUri(name='churn', version=3, alias=None)
>>> parse_model_uri("models:/churn@champion")
ModelUri(name='churn', version=None, alias='champion')
>>> parse_run_uri("runs:/0123abcd/model")
RunUri(run_id='0123abcd', path='model')
>>> parse_model_uri("models:/churn")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: invalid model URI 'models:/churn': use models:/NAME/VERSION or models:/NAME@ALIAS
"""

from __future__ import annotations

from dataclasses import dataclass

from loopwright.errors import InvalidInput
from loopwright.names import validate_artifact_path, validate_name

MODELS_SCHEME = "models:/"
RUNS_SCHEME = "runs:/"


@dataclass(frozen=True)
class ModelUri:
    """A registered model version, by number or by alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return (
            f"{MODELS_SCHEME}{self.name}@{self.alias}"
            if self.alias
            else f"{MODELS_SCHEME}{self.name}/{self.version}"
        )


@dataclass(frozen=True)
class RunUri:
    """An artifact path inside a run."""

    run_id: str
    path: str

    def __str__(self) -> str:
        return f"{RUNS_SCHEME}{self.run_id}/{self.path}"


def parse_model_uri(uri: object) -> ModelUri:
    """Split ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``; raise :class:`InvalidInput` otherwise."""
    if not isinstance(uri, str) or not uri.startswith(MODELS_SCHEME):
        raise InvalidInput(f"invalid model URI {uri!r}: use models:/NAME/VERSION or models:/NAME@ALIAS")
    body = uri[len(MODELS_SCHEME) :]
    if "/" in body:
        name, _, version = body.partition("/")
        if not version.isdigit() or int(version) < 1:
            raise InvalidInput(f"invalid model URI {uri!r}: the version must be a positive integer")
        return ModelUri(validate_name(name, "model name"), version=int(version))
    if "@" in body:
        name, _, alias = body.partition("@")
        return ModelUri(validate_name(name, "model name"), alias=validate_name(alias, "alias"))
    raise InvalidInput(f"invalid model URI {uri!r}: use models:/NAME/VERSION or models:/NAME@ALIAS")


def parse_run_uri(uri: object) -> RunUri:
    """Split ``runs:/RUN_ID/PATH``; raise :class:`InvalidInput` otherwise."""
    if not isinstance(uri, str) or not uri.startswith(RUNS_SCHEME):
        raise InvalidInput(f"invalid run URI {uri!r}: use runs:/RUN_ID/PATH, e.g. runs:/RUN_ID/model")
    run_id, _, path = uri[len(RUNS_SCHEME) :].partition("/")
    if not run_id or not path.strip("/"):
        raise InvalidInput(f"invalid run URI {uri!r}: use runs:/RUN_ID/PATH, e.g. runs:/RUN_ID/model")
    return RunUri(run_id, validate_artifact_path(path.strip("/")))
