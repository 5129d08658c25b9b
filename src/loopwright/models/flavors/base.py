"""What every flavor provides: detect a live object, save it to files, load it back, wrap it.

A flavor never pickles (except the ``pickle`` flavor, which is opt-in). ``save`` writes files into
an empty folder and returns JSON-able options the manifest keeps; ``load`` reads those files
(already digest-verified) back into the native object; ``wrap`` turns a native object into a
:class:`Predictor`, the small interface :class:`~loopwright.models.loaded.LoadedModel` calls.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from loopwright.errors import IntegrityError, InvalidInput


class UnsupportedModel(InvalidInput):
    """The flavor cannot save this object safely (the caller may fall back to pickle, if allowed)."""


class Predictor:
    """Calls into a native model. Subclasses set ``predict`` and, when available, ``predict_proba``."""

    native: Any = None

    def predict(self, data: Any) -> Any:
        raise NotImplementedError

    @property
    def classes(self) -> Any:
        """Class labels in ``predict_proba``'s column order, for classifiers that say."""
        return getattr(self.native, "classes_", None)

    @property
    def has_proba(self) -> bool:
        return False

    def predict_proba(self, data: Any) -> Any:
        raise InvalidInput("this model has no predict_proba")


class MethodPredictor(Predictor):
    """Binds the object's own ``predict`` / ``predict_proba`` (sklearn API, pyfunc, pickled objects)."""

    def __init__(self, native: Any):
        self.native = native
        self.predict = native.predict  # type: ignore[method-assign]
        proba: Any = getattr(native, "predict_proba", None)
        self._has_proba = callable(proba)
        if self._has_proba:
            self.predict_proba = proba  # type: ignore[method-assign]

    @property
    def has_proba(self) -> bool:
        return self._has_proba


class Flavor(ABC):
    """One serialisation format family."""

    name: ClassVar[str]
    #: distributions whose versions go into the manifest and the default requirements
    libraries: ClassVar[tuple[str, ...]] = ()
    #: loading needs unpickling (only the opt-in ``pickle`` flavor)
    uses_pickle: ClassVar[bool] = False

    @abstractmethod
    def detect(self, model: Any) -> bool:
        """Whether ``model`` is an object this flavor saves (cheap; never imports heavy libraries)."""

    @abstractmethod
    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Write ``model``'s files into ``folder``; return the options :meth:`load` needs."""

    @abstractmethod
    def load(self, folder: Path, options: dict[str, Any], *, allow_pickle: bool = False) -> Any:
        """Read the native object back from verified files in ``folder``.

        ``allow_pickle``: the caller consented to code execution on load (see
        :mod:`loopwright.models.trust`); without it a flavor constructs only what Loopwright vouches for.
        """

    def code(self, options: dict[str, Any]) -> str | None:
        """The ``module:QualName`` that :meth:`load` imports, if any (checked before loading)."""
        return None

    def wrap(self, native: Any, options: dict[str, Any]) -> Predictor:
        """A :class:`Predictor` over the native object."""
        return MethodPredictor(native)

    def live(self, model: Any, folder: Path, options: dict[str, Any]) -> Predictor:
        """A predictor for the object being logged (to infer outputs); ``folder`` holds its saved files."""
        return self.wrap(model, options)

    def library_versions(self) -> dict[str, str]:
        versions = {}
        for dist in self.libraries:
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
        return versions


def mro_modules(model: Any) -> set[str]:
    """Top-level package names of every class in ``type(model)``'s MRO (``{"sklearn", "builtins"}``)."""
    return {(cls.__module__ or "").split(".", 1)[0] for cls in type(model).__mro__}


def class_path(cls: type) -> str:
    """``module:QualName`` of a class defined at module level."""
    if "<locals>" in cls.__qualname__:
        raise InvalidInput(
            f"class {cls.__qualname__} is defined inside a function; move it to module level so it can be imported"
        )
    if cls.__module__ == "__main__":
        raise InvalidInput(
            f"class {cls.__qualname__} is defined in __main__; move it to an importable module so a fresh "
            "process can load it"
        )
    return f"{cls.__module__}:{cls.__qualname__}"


def package_file(folder: Path, relative: object, what: str = "flavor_options.file") -> Path:
    """``folder / relative`` if that names a file or folder inside the package (manifests are untrusted).

    >>> package_file(Path("/tmp"), "/etc/passwd")
    Traceback (most recent call last):
    ...
    loopwright.errors.IntegrityError: the manifest's flavor_options.file '/etc/passwd' is not a file of the package
    """
    root = folder.resolve()
    path = (root / relative).resolve() if isinstance(relative, str) and relative else None
    if path is None or path == root or not path.is_relative_to(root) or not path.exists():
        raise IntegrityError(f"the manifest's {what} {relative!r} is not a file of the package")
    return path


def import_class(path: str) -> Any:
    """The object named by a ``module:QualName`` path."""
    module_name, _, qualname = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"cannot import {path!r}: {exc}") from None
    return target
