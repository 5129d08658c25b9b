"""Client-supplied request ids, remembered per endpoint so that a duplicate is refused.

Feedback joins the prediction log on ``(request_id, row)``: two predictions sharing a client's
``X-Request-ID`` would make that join ambiguous, so a second prediction with an id already used on
the endpoint answers 409 (KServe and Triton echo the client's id; silently renaming it would break
the client's own join key). Ids the server assigns are UUID4s and never collide.

The memory is per worker process and bounded: the most recent ``capacity`` ids per endpoint.

Examples
--------
>>> ids = RecentRequestIds(capacity=2)
>>> ids.claim("a"), ids.claim("a"), ids.claim("b"), ids.claim("c"), ids.claim("a")
(True, False, True, True, True)
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_CAPACITY = 65_536


class RecentRequestIds:
    """The ids of the latest ``capacity`` predictions of one endpoint (used on the event loop only)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def claim(self, request_id: str) -> bool:
        """Take ``request_id`` for a prediction; ``False`` if a recent prediction has it."""
        if request_id in self._ids:
            return False
        self._ids[request_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def release(self, request_id: str) -> None:
        """The prediction failed before it was logged: the id may be used again."""
        self._ids.pop(request_id, None)
