"""What the registry knows about a version's signature: whether it has one, a warning when it does not,
and whether a candidate's still takes what the champion's clients send.

A version without a signature serves without request validation (a string in a numeric column
reaches the model and becomes a 500) and with empty OIP metadata, so registering, gating or
promoting one warns: :func:`warn_unsigned` issues an :class:`~loopwright.errors.UnsignedModelWarning`
and logs the same message as one WARNING line.

Examples
--------
>>> from loopwright.models.signature import ColumnSpec, Signature
>>> champion = Signature([ColumnSpec("alcohol", "float64"), ColumnSpec("hue", "float64")])
>>> signature_differences(Signature([ColumnSpec("hue", "int64")]), champion)
['the candidate lacks column alcohol that the champion takes', 'column hue changed type from float64 to int64']
>>> signature_differences(Signature([ColumnSpec("hue", "float64"), ColumnSpec("alcohol", "float64")]), champion)
[]
>>> unsigned_message("models:/wine/2", "registering")[:60]
'registering models:/wine/2: the model has no signature, so s'
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

from loopwright.errors import UnsignedModelWarning
from loopwright.models.signature import ColumnSpec, Signature, TensorSpec
from loopwright.store.entities import ModelVersion

if TYPE_CHECKING:
    from loopwright.registry.client import RegistryClient

log = logging.getLogger("loopwright.registry")

# the most column names one difference lists before it counts the rest
MAX_NAMED = 10


def version_signature(
    version: ModelVersion | str, registry: RegistryClient | None = None
) -> Signature | None:
    """The signature a registered version's package records, or ``None``.

    ``version`` is a :class:`ModelVersion` or a ``models:/NAME/VERSION`` / ``models:/NAME@ALIAS`` URI.
    """
    if registry is None:
        from loopwright.registry.client import RegistryClient  # the client warns through this module

        registry = RegistryClient()
    if isinstance(version, str):
        version = registry.resolve(version)
    manifest = registry.get_manifest(version)
    recorded = None if manifest is None else manifest.get("signature")
    return Signature.from_dict(recorded) if isinstance(recorded, dict) else None


def has_signature(version: ModelVersion | str, registry: RegistryClient | None = None) -> bool:
    """Whether a registered version has a signature (what serving validates requests with).

    Examples
    --------
    >>> has_signature("models:/churn@champion")  # doctest: +SKIP
    True
    """
    return version_signature(version, registry) is not None


def unsigned_message(model_uri: str, action: str) -> str:
    """The warning for ``action`` (``"registering"``, ``"gating"``, ``"promoting"``) an unsigned version."""
    return (
        f"{action} {model_uri}: the model has no signature, so serving cannot check its requests "
        "(a string in a numeric column reaches the model) and OIP metadata lists no inputs; log it with "
        "lw.log_model(..., input_example=X[:5]) or fit it in a pipeline step on a DataFrame it receives"
    )


def warn_unsigned(model_uri: str, action: str) -> str:
    """Warn that an unsigned version is being registered, gated or promoted: an
    :class:`UnsignedModelWarning` plus one WARNING log line with the same text, which is returned."""
    message = unsigned_message(model_uri, action)
    log.warning("%s", message)
    warnings.warn(message, UnsignedModelWarning, stacklevel=3)
    return message


def signature_differences(candidate: Signature, champion: Signature) -> list[str]:
    """How ``candidate`` fails to take what ``champion`` takes: columns one has and the other does
    not, and changed types (an integer column may become a float one, which accepts the same
    requests). Empty when every request the champion accepts the candidate accepts too."""
    if isinstance(champion.inputs, TensorSpec) or isinstance(candidate.inputs, TensorSpec):
        if isinstance(champion.inputs, TensorSpec) and isinstance(candidate.inputs, TensorSpec):
            return _tensor_differences(candidate.inputs, champion.inputs)
        return [f"the candidate takes a {candidate.kind} where the champion takes a {champion.kind}"]
    theirs = {c.name: c for c in champion.inputs}
    ours = {c.name: c for c in candidate.inputs}
    differences = []
    missing = [name for name in theirs if name not in ours]
    if missing:
        differences.append(f"the candidate lacks {_columns(missing)} that the champion takes")
    extra = [name for name in ours if name not in theirs]
    if extra:
        differences.append(f"the candidate needs {_columns(extra)} that the champion does not take")
    for name, spec in ours.items():
        if name in theirs and not _accepts(spec, theirs[name]):
            differences.append(f"column {name} changed type from {theirs[name].dtype} to {spec.dtype}")
    return differences


def _tensor_differences(candidate: TensorSpec, champion: TensorSpec) -> list[str]:
    differences = []
    if candidate.shape != champion.shape:
        differences.append(f"the input shape changed from {list(champion.shape)} to {list(candidate.shape)}")
    if candidate.dtype != champion.dtype:
        differences.append(f"the input dtype changed from {champion.dtype} to {candidate.dtype}")
    return differences


def _accepts(candidate: ColumnSpec, champion: ColumnSpec) -> bool:
    """Whether the candidate's column takes every value the champion's did."""
    if candidate.dtype == champion.dtype:
        return True
    integer = champion.dtype.startswith(("int", "uint"))
    return integer and candidate.dtype.startswith("float")


def _columns(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMED])
    more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
    return f"column{'s' if len(names) > 1 else ''} {shown}{more}"


__all__ = [
    "has_signature",
    "signature_differences",
    "unsigned_message",
    "version_signature",
    "warn_unsigned",
]
