"""Model serving: an ASGI inference server with the protocols clients already speak.

``lw.serve("models:/churn@champion")`` (or ``loopwright serve ...``) starts it; :func:`build_app`
returns the ASGI app to mount in your own; :func:`run_in_thread` runs it in the background and
returns a handle with ``.url`` and ``.stop()``. Served requests land in the prediction log
(:func:`list_predictions`), and ground truth comes back through :func:`log_feedback`.
"""

from loopwright.serving.deployment import BatchingSpec, Deployment, EndpointSpec, RouteSpec
from loopwright.serving.feedback import list_feedback, log_feedback
from loopwright.serving.prediction_log import list_predictions
from loopwright.serving.server import ServerHandle, ServerLimits, build_app, run_in_thread, serve

__all__ = [
    "BatchingSpec",
    "Deployment",
    "EndpointSpec",
    "RouteSpec",
    "ServerHandle",
    "ServerLimits",
    "build_app",
    "list_feedback",
    "list_predictions",
    "log_feedback",
    "run_in_thread",
    "serve",
]
