"""The opt-in escape hatch: a pickled object, for models no safe flavor can save.

Logged only with ``allow_pickle=True``; the manifest says ``"allow_pickle": true`` and loading is
refused unless the caller passes ``allow_pickle=True`` or sets ``LOOPWRIGHT_ALLOW_PICKLE=1``
(the loader checks that before this module unpickles anything).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from loopwright.errors import InvalidInput
from loopwright.models.flavors.base import Flavor, package_file

FILE = "model.pkl"


class PickleFlavor(Flavor):
    name = "pickle"
    libraries = ("numpy",)
    uses_pickle = True

    def detect(self, model: Any) -> bool:
        return False  # never chosen by detection: only with allow_pickle=True as the last resort

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        if not callable(getattr(model, "predict", None)):
            raise InvalidInput(f"{type(model).__name__} has no predict method")
        try:
            (folder / FILE).write_bytes(pickle.dumps(model, protocol=5))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"cannot pickle {type(model).__name__}: {exc}") from None
        return {"file": FILE, "class": f"{type(model).__module__}:{type(model).__qualname__}"}

    def load(self, folder: Path, options: dict[str, Any], *, allow_pickle: bool = False) -> Any:
        return pickle.loads(
            (package_file(folder, options.get("file", FILE))).read_bytes()
        )  # opt-in; the loader checked permission
