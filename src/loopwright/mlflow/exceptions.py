"""MLflow's exception names over Loopwright's errors, and the one error the shim adds.

``except mlflow.exceptions.MlflowException`` keeps working: it is :class:`LoopwrightError`.

Examples
--------
>>> from loopwright.mlflow.exceptions import MlflowException, Unsupported
>>> error = Unsupported("mlflow.log_table", "lw.log_dict(table, 'table.json')")
>>> isinstance(error, MlflowException), str(error)
(True, "mlflow.log_table is not supported by loopwright.mlflow; use lw.log_dict(table, 'table.json')")
"""

from __future__ import annotations

from loopwright.errors import InvalidInput, LoopwrightError

MlflowException = LoopwrightError


class Unsupported(InvalidInput):
    """An MLflow call (or argument) the shim cannot honour exactly; names the Loopwright equivalent.

    Examples
    --------
    >>> import loopwright.mlflow as mlflow
    >>> try:
    ...     mlflow.log_table({"a": [1]}, "t.json")
    ... except mlflow.Unsupported as error:
    ...     "lw.log_dict" in str(error)
    True
    """

    def __init__(self, call: str, instead: str):
        super().__init__(f"{call} is not supported by loopwright.mlflow; use {instead}")
        self.call = call
