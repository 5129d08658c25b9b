"""What a model package may make Loopwright construct or import: decided here, never by the package.

A manifest and its files are data someone else may have written (``lw.log_artifact`` takes any
folder). Two things in them could run code on load, and both are checked before any file is read:

* **Types a skops file constructs** (the scikit-learn flavor). skops already trusts scikit-learn's
  estimators, NumPy/SciPy ufuncs and plain containers; any other name in the file must be one of
  :func:`safe_type_names` — exact names of array, dtype, scalar and scikit-learn state types, none
  of them a function (``builtins.exec``, ``numpy.load``, ``operator.*``, ``functools.*`` are never
  on it: skops calls what a file names with arguments the file gives). The manifest's
  ``trusted_types`` list only narrows this set. Anything else loads only with ``allow_pickle=True``,
  the same consent as unpickling, since a constructor called by name is as powerful.
* **Code a package names** (``pyfunc`` and ``torch`` classes, ``module:QualName``). Its module is
  imported only when ``LOOPWRIGHT_TRUSTED_MODULES`` lists it (``acme.`` is a prefix, ``acme`` an
  exact module), or, by default, when :func:`~loopwright.models.package.log_model` recorded that very
  class for this manifest in the store (:data:`CODE_OWNER`) **and** the module is the user's own
  code: neither the standard library nor an installed distribution under ``site-packages``. Where a
  module lives is read with :func:`importlib.util.find_spec` on its top-level package, which finds
  the file without running it.

Examples
--------
>>> "numpy.float64" in safe_type_names(), "builtins.exec" in safe_type_names()
(True, False)
>>> module_kind("os"), module_kind("no_such_module_anywhere")
('standard library', 'missing')
>>> operator_trusts("acme.models", ("acme.",)), operator_trusts("acmex", ("acme.",))
(True, False)
"""

from __future__ import annotations

import functools
import importlib.util
import re
import site
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopwright.config import get_settings
from loopwright.errors import NotFound, PermissionDenied

#: artifact owner under which ``log_model`` records ``(manifest digest, module:QualName)`` it vouches for
CODE_OWNER = "model_code"

# scikit-learn state objects skops does not trust by default; every decision tree is bounds-checked
# after loading (flavors/sklearn.check_trees), which is why Tree may be constructed from a file
_SKLEARN_STATE = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.utils._bunch.Bunch",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.HalfLogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.PinballLoss",
    "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfTweedieLoss",
    "sklearn._loss.loss.HalfTweedieLossIdentity",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.ExponentialLoss",
)
# value types whose construction from file data builds a value and nothing else
_VALUE_TYPES = (
    "builtins.slice",
    "builtins.complex",
    "builtins.bytes",
    "builtins.bytearray",
    "builtins.frozenset",
    "collections.OrderedDict",
    "collections.defaultdict",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.ma.MaskedArray",
    "numpy.ma.core.MaskedArray",
    "numpy.random.RandomState",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    "numpy.random.bit_generator.SeedSequence",
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random._pcg64.PCG64DXSM",
    "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
)
_SPARSE_KINDS = ("csr", "csc", "coo", "bsr", "dia", "dok", "lil")


@functools.cache
def safe_type_names() -> frozenset[str]:
    """The exact type names a skops file may construct without ``allow_pickle``.

    Fixed lists above, plus NumPy's scalar and dtype classes and SciPy's sparse containers as the
    installed versions name them (``numpy.float64``, ``numpy.dtypes.Float64DType``,
    ``scipy.sparse._csr.csr_matrix``): exact names generated from the libraries' own registries.
    """
    import numpy as np

    names = set(_SKLEARN_STATE) | set(_VALUE_TYPES)
    scalar_types = {t for t in np.sctypeDict.values() if isinstance(t, type)}
    dtype_classes = {getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")}
    for cls in scalar_types | dtype_classes:
        names.add(f"{cls.__module__}.{cls.__qualname__}")
        names.add(f"numpy.{cls.__qualname__}")  # skops names scalars by their public module
    for kind in _SPARSE_KINDS:
        for suffix in ("matrix", "array"):
            names.add(f"scipy.sparse._{kind}.{kind}_{suffix}")
    return frozenset(names)


def refused_types(names: list[str]) -> list[str]:
    """The names in ``names`` that are not :func:`safe_type_names`, in order."""
    safe = safe_type_names()
    return [n for n in names if n not in safe]


def operator_trusts(module: str, trusted: tuple[str, ...]) -> bool:
    """Whether ``LOOPWRIGHT_TRUSTED_MODULES`` entries cover ``module`` (``acme.`` prefix, ``acme`` exact)."""
    return any(module.startswith(t) if t.endswith(".") else module == t for t in trusted)


def _site_folders() -> list[Path]:
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    folders += [sysconfig.get_paths()[k] for k in ("purelib", "platlib")]
    return [Path(f).resolve() for f in folders if f]


def module_kind(module: str) -> str:
    """Where ``module``'s top-level package lives, found without running it.

    One of ``"standard library"``, ``"installed package"`` (site-packages), ``"user code"``
    or ``"missing"``.
    """
    top = module.split(".", 1)[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return "standard library"
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return "missing"
    if spec is None:
        return "missing"
    locations = [spec.origin] if spec.origin else list(spec.submodule_search_locations or [])
    paths = [Path(p).resolve() for p in locations if p and p not in ("built-in", "frozen")]
    if not paths:
        return "standard library"
    site_folders = _site_folders()
    for path in paths:
        if any(part in ("site-packages", "dist-packages") for part in path.parts) or any(
            path.is_relative_to(folder) for folder in site_folders
        ):
            return "installed package"
    return "user code"


_CLASS_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_WHERE = {
    "standard library": "is in the standard library",
    "installed package": "is an installed package (site-packages)",
    "missing": "is not installed",
}


def code_refusal(class_path: str, vouched: bool, trusted: tuple[str, ...] | None = None) -> str | None:
    """Why the class a package names may not be imported, or ``None`` when it may.

    ``vouched``: :func:`~loopwright.models.package.log_model` recorded this class for the manifest.

    >>> code_refusal("this:nothing", vouched=True, trusted=())
    "names code 'this:nothing' whose module is in the standard library, not the user's own; set LOOPWRIGHT_TRUSTED_MODULES=this to allow it"
    """
    if not _CLASS_PATH.fullmatch(class_path) or any(p.startswith("__") for p in re.split("[.:]", class_path)):
        return f"names code {class_path!r}, which is not a module:QualName of public names"
    module = class_path.partition(":")[0]
    trusted = get_settings().trusted_modules if trusted is None else trusted
    if operator_trusts(module, trusted):
        return None
    hint = f"set LOOPWRIGHT_TRUSTED_MODULES={module} to allow it"
    if not vouched:
        return f"names code {class_path!r} that Loopwright did not record when this model was logged; {hint}"
    kind = module_kind(module)
    if kind != "user code":
        return f"names code {class_path!r} whose module {_WHERE[kind]}, not the user's own; {hint}"
    return None


def is_vouched(store: Any, manifest_digest: str, class_path: str) -> bool:
    """Whether ``log_model`` recorded ``class_path`` for the manifest with this digest."""
    try:
        store.get_artifact(CODE_OWNER, manifest_digest, class_path)
    except NotFound:
        return False
    return True


def code_summary(manifest: Mapping[str, Any], store: Any, manifest_digest: str) -> str:
    """What loading this package imports, and whether it may (``models show``); ``""`` for no code."""
    from loopwright.models.flavors import get_flavor

    options = manifest.get("flavor_options")
    code = get_flavor(str(manifest.get("flavor"))).code(options if isinstance(options, dict) else {})
    if code is None:
        return ""
    refusal = code_refusal(code, is_vouched(store, manifest_digest, code))
    return f"{code} (imported on load)" if refusal is None else f"{code} (refused: {refusal})"


def check_code(class_path: str, vouched: bool, label: str) -> None:
    """Raise :class:`~loopwright.errors.PermissionDenied` unless ``class_path`` may be imported."""
    refusal = code_refusal(class_path, vouched)
    if refusal is not None:
        raise PermissionDenied(f"{label} {refusal}")
