"""Ground truth for served predictions, logged when it becomes known (often days later).

Examples
--------
>>> import tempfile
>>> from loopwright.tracking.client import Client
>>> home = tempfile.mkdtemp()
>>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
>>> log_feedback("churn", "req1", [1, 0], client=client)
>>> list_feedback("churn", client=client)[["request_id", "row", "label"]].to_dict("records")
[{'request_id': 'req1', 'row': 0, 'label': 1}, {'request_id': 'req1', 'row': 1, 'label': 0}]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from loopwright.errors import InvalidInput, Unavailable
from loopwright.names import validate_name
from loopwright.serving.prediction_log import to_ms
from loopwright.store import FeedbackRecord
from loopwright.store.entities import now_ms
from loopwright.tracking.client import Client, get_client

MAX_REQUEST_ID = 64


def feedback_records(endpoint: str, request_id: Any, label: Any) -> list[FeedbackRecord]:
    """Validate one feedback message; a list label gives one record per row of the request."""
    validate_name(endpoint, "endpoint name")
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_REQUEST_ID:
        raise InvalidInput(f"request_id must be a string of 1-{MAX_REQUEST_ID} characters")
    if not request_id.isprintable():  # NUL and control characters: PostgreSQL refuses NUL in text
        raise InvalidInput("request_id must hold printable characters only")
    labels = label if isinstance(label, list) else [label]
    if not labels:
        raise InvalidInput("label is an empty list: send one label per row of the request")
    for value in labels:
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidInput(f"label must be a number, string or boolean, got {type(value).__name__}")
    ts = now_ms()
    return [FeedbackRecord(endpoint, request_id, row, value, ts) for row, value in enumerate(labels)]


def store_feedback(client: Callable[[], Client], records: Sequence[FeedbackRecord]) -> None:
    """Write validated feedback (the server's path); a store that cannot be reached raises
    :class:`~loopwright.errors.Unavailable` (503: retry later), not an error of the request.

    >>> import tempfile
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> store_feedback(lambda: client, feedback_records("churn", "req1", 1))
    >>> len(client.store.list_feedback("churn"))
    1
    """
    try:
        client().store.log_feedback(records)
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as error:
        reason = " ".join(str(getattr(error, "orig", None) or error).split())
        raise Unavailable(
            f"cannot store feedback for {records[0].endpoint}: the store cannot be reached ({reason})"
        ) from None


def log_feedback(endpoint: str, request_id: str, label: Any, *, client: Client | None = None) -> None:
    """Record the true label(s) of a served request.

    Parameters
    ----------
    endpoint:
        The endpoint that answered.
    request_id:
        The ``request_id`` the prediction response carried (also the ``X-Request-ID`` header).
    label:
        The true label; a list gives one label per row of a multi-row request, in row order.
        Logging again for the same request and row replaces the earlier label.
    client:
        Defaults to the client of the current environment.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> lw.log_feedback("churn", "req-1", [1, 0])  # the labels of the request's two rows
    >>> len(lw.list_feedback("churn"))
    2
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    (client or get_client()).store.log_feedback(feedback_records(endpoint, request_id, label))


def list_feedback(
    endpoint: str,
    since: datetime | str | int | timedelta | None = None,
    until: datetime | str | int | timedelta | None = None,
    *,
    client: Client | None = None,
) -> pd.DataFrame:
    """Labels logged for an endpoint in ``[since, until)`` (same bounds as ``list_predictions``).

    Returns
    -------
    pandas.DataFrame
        Columns ``request_id``, ``row``, ``label``, ``timestamp`` (UTC), ``endpoint``; join it to
        :func:`~loopwright.serving.prediction_log.list_predictions` on ``(request_id, row)``.

    Examples
    --------
    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> lw.log_feedback("churn", "req-1", 1)
    >>> lw.list_feedback("churn")[["request_id", "row", "label"]].to_dict("records")
    [{'request_id': 'req-1', 'row': 0, 'label': 1}]
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    records = (client or get_client()).store.list_feedback(endpoint, to_ms(since), to_ms(until))
    return pd.DataFrame(
        {
            "request_id": pd.Series([r.request_id for r in records], dtype=object),
            "row": pd.Series([r.row for r in records], dtype="int64"),
            "label": pd.Series([r.label for r in records], dtype=None if records else object),
            "timestamp": pd.to_datetime(
                pd.Series([r.timestamp_ms for r in records], dtype="int64"), unit="ms", utc=True
            ),
            "endpoint": pd.Series([r.endpoint for r in records], dtype=object),
        }
    )
