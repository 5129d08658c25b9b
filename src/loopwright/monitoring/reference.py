"""Reference profiles kept with model versions: ``lw.profile(df, model=...)`` and ``lw.drift("models:/…")``.

The contract with the registry: a version's reference profile is ``Profile.to_dict()`` as JSON,
stored as a blob with an ``artifacts`` row owned by ``("model_version", "NAME/VERSION")`` at path
``profile.json``; ``models:/NAME@ALIAS`` resolves to a version through the registry first. Until the
registry is part of this installation both entry points validate the URI and then raise a clear
:class:`~loopwright.errors.InvalidInput` saying what to pass instead.

Examples
--------
>>> parse_model_uri("models:/churn/3"), parse_model_uri("models:/churn@champion")
(('churn', 3, None), ('churn', None, 'champion'))
>>> parse_model_uri("churn")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: invalid model URI 'churn': use models:/NAME/VERSION or models:/NAME@ALIAS
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from loopwright.errors import InvalidInput
from loopwright.monitoring.profile import Profile, profile_chunks

MODEL_URI = re.compile(
    r"models:/(?P<name>[A-Za-z0-9_.\-]{1,128})(?:/(?P<version>[0-9]+)|@(?P<alias>[A-Za-z0-9_.\-]{1,128}))"
)
OWNER_TYPE = "model_version"
PROFILE_PATH = "profile.json"


def parse_model_uri(uri: str) -> tuple[str, int | None, str | None]:
    """``(name, version, alias)`` of a model URI; exactly one of version and alias is set."""
    match = MODEL_URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise InvalidInput(f"invalid model URI {uri!r}: use models:/NAME/VERSION or models:/NAME@ALIAS")
    version = match["version"]
    return match["name"], int(version) if version is not None else None, match["alias"]


def profile(
    data: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    categorical: Sequence[str] | None = None,
    prediction: str | None = None,
    model: str | None = None,
    **options: Any,
) -> Profile:
    """Profile a DataFrame, or an iterable of DataFrame chunks, into a mergeable :class:`Profile`.

    Parameters
    ----------
    data : DataFrame or iterable of DataFrames
        The data, whole or in chunks (e.g. Parquet row groups); chunks are profiled and merged.
    categorical : list of str, optional
        Columns to treat as categorical (default: non-numeric columns).
    prediction : str, optional
        The prediction column.
    model : str, optional
        ``models:/NAME/VERSION``: store the profile as that version's reference profile.
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
    if isinstance(data, pd.DataFrame):
        result = Profile.from_frame(data, categorical, prediction, **options)
    elif isinstance(data, Iterable) and not isinstance(data, str | bytes):
        result = profile_chunks(data, categorical, prediction, **options)
    else:
        raise InvalidInput(
            f"data must be a DataFrame or an iterable of DataFrames, got {type(data).__name__}"
        )
    if model is not None:
        save_profile(result, model)
    return result


def save_profile(profile: Profile, model: str) -> None:
    """Store ``profile`` as the reference profile of model version ``model`` (needs the registry)."""
    parse_model_uri(model)
    raise InvalidInput(
        f"cannot store a reference profile with {model!r}: this installation has no model registry yet; "
        "keep the profile yourself (json.dumps(profile.to_dict())) and pass it to lw.drift(reference=...)"
    )


def load_profile(uri: str) -> Profile:
    """The reference profile stored with the model version ``uri`` (needs the registry)."""
    parse_model_uri(uri)
    raise InvalidInput(
        f"cannot load the reference profile of {uri!r}: this installation has no model registry yet; "
        "pass the reference data as a DataFrame or a Profile"
    )
