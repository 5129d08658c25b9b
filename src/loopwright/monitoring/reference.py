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
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from loopwright.errors import IntegrityError, InvalidInput, NotFound
from loopwright.monitoring.profile import Profile, profile_chunks
from loopwright.registry.client import RegistryClient
from loopwright.store.entities import ArtifactRef, ModelVersion

OWNER_TYPE = "model_version"
PROFILE_PATH = "profile.json"


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
        ``models:/NAME/VERSION`` (or ``@ALIAS``): also store the profile as that version's reference
        profile, which ``lw.drift("models:/NAME@ALIAS", current)`` then uses.
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


def load_profile(uri: str) -> Profile:
    """The reference profile stored with the version ``uri`` names (digest-verified on read)."""
    registry = RegistryClient()
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
