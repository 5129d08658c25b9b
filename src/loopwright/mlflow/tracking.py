"""``mlflow.tracking``: ``from loopwright.mlflow.tracking import MlflowClient`` as in older scripts.

>>> from loopwright.mlflow.tracking import MlflowClient
>>> MlflowClient.__name__
'MlflowClient'
"""

from loopwright.mlflow.client import MlflowClient

__all__ = ["MlflowClient"]
