"""``pyfunc``: any user class with ``load(context)`` and ``predict(data)``, stored as code reference + files.

The package holds the class's import path (``module:QualName``), an optional JSON ``config``
and the files named in the instance's ``artifacts`` mapping (name → local file or folder); it
never pickles the object. Loading imports the class, builds it with no arguments and calls
``load(context)``, where ``context.artifacts[name]`` is the verified local copy of each file and
``context.config`` the config.

Examples
--------
>>> class Doubler(PythonModel):
...     def load(self, context):
...         self.factor = context.config["factor"]
...     def predict(self, data):
...         return [x * self.factor for x in data]
>>> model = Doubler()
>>> model.load(PyfuncContext(artifacts={}, config={"factor": 2}))
>>> model.predict([1, 2])
[2, 4]
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopwright.errors import IntegrityError, InvalidInput
from loopwright.models.flavors.base import Flavor, Predictor, class_path, import_class, package_file
from loopwright.names import validate_name

FOLDER = "artifacts"


@dataclass(frozen=True)
class PyfuncContext:
    """What :meth:`PythonModel.load` receives: local paths of the model's files, and its config."""

    artifacts: dict[str, Path] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


class PythonModel:
    """Optional base class for pyfunc models; any class with ``load`` and ``predict`` works.

    Set ``artifacts`` (name → local path) and ``config`` (JSON-able dict) on the instance before
    logging; they are stored with the package and handed back in :class:`PyfuncContext`.

    Examples
    --------
    >>> import loopwright as lw
    >>> from loopwright.models.flavors.pyfunc import PyfuncContext
    >>> class Scaler(lw.PythonModel):
    ...     def load(self, context):
    ...         self.factor = context.config["factor"]
    ...     def predict(self, data):
    ...         return [x * self.factor for x in data]
    >>> model = Scaler()
    >>> model.config = {"factor": 3}  # stored with the package by lw.log_model
    >>> model.load(PyfuncContext(artifacts={}, config=model.config))
    >>> model.predict([1, 2])
    [3, 6]
    """

    artifacts: Mapping[str, str | Path] = {}
    config: Mapping[str, Any] = {}

    def load(self, context: PyfuncContext) -> None:
        """Read files from ``context.artifacts``; called once after the class is built."""

    def predict(self, data: Any) -> Any:
        raise NotImplementedError


class PyfuncFlavor(Flavor):
    name = "pyfunc"
    libraries = ("numpy", "pandas")

    def detect(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None)) and callable(getattr(model, "load", None))

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        cls = model if isinstance(model, type) else type(model)
        config = dict(getattr(model, "config", None) or {})
        try:
            json.dumps(config, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"pyfunc config must be JSON-able: {exc}") from None
        stored: dict[str, str] = {}
        for name, source in dict(getattr(model, "artifacts", None) or {}).items():
            validate_name(name, "pyfunc artifact name")
            path = Path(source)
            if path.is_file():
                target = folder / FOLDER / name / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            elif path.is_dir():
                target = folder / FOLDER / name
                shutil.copytree(path, target)
            else:
                raise InvalidInput(f"pyfunc artifact {name!r}: no such file or folder {str(source)!r}")
            stored[name] = target.relative_to(folder).as_posix()
        return {"class": class_path(cls), "config": config, "artifacts": stored}

    def live(self, model: Any, folder: Path, options: dict[str, Any]) -> Predictor:
        # a pyfunc only works after load(context): run the saved package, as a fresh process would
        return self.wrap(self.load(folder, options), options)

    def code(self, options: dict[str, Any]) -> str | None:
        return str(options.get("class", ""))

    def load(self, folder: Path, options: dict[str, Any], *, allow_pickle: bool = False) -> Any:
        cls = import_class(str(options["class"]))
        if not isinstance(cls, type):
            raise InvalidInput(f"{options['class']!r} is not a class")
        try:
            model = cls()
        except TypeError as exc:
            raise InvalidInput(
                f"pyfunc class {options['class']} must be constructible with no arguments: {exc}"
            ) from None
        stored = options.get("artifacts") or {}
        if not isinstance(stored, dict):
            raise IntegrityError("the manifest's flavor_options.artifacts must be an object")
        artifacts = {name: package_file(folder, rel, f"artifact {name!r}") for name, rel in stored.items()}
        model.load(PyfuncContext(artifacts=artifacts, config=dict(options.get("config") or {})))
        return model
