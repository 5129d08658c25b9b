"""Hot swap: follow registry aliases and switch versions without dropping a request.

A background thread asks the registry every ``interval`` seconds which version each served alias
points to. When one moved, it loads and warms the new version beside the old one (in this thread,
while the old one keeps serving), switches the route to it in one assignment, and hands the old
slot to ``retire``, which closes it once its in-flight requests are answered. A failed load keeps
the old version serving: the route is *behind* (``behind()``, shown by readiness and
``/admin/reload``), the failure is logged as one line at most once a minute per alias and reason,
and the version is tried again after a backoff (2 s doubling to a minute; ``check_now(force=True)``
tries at once). An alias that is deleted (a canary alias after promotion or rollback) makes its
route dormant: its share of the traffic goes to the other routes until the alias is set again (the
last serving route keeps its version instead).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from loopwright.errors import NotFound, Unavailable
from loopwright.serving.endpoint import Endpoint, Route, Slot
from loopwright.serving.sources import ModelSource
from loopwright.serving.throttle import LogThrottle
from loopwright.serving.types import ModelLike

log = logging.getLogger(__name__)

SlotFactory = Callable[[Endpoint, Route, ModelLike, int | None], Slot]
MAX_RETRY_DELAY_S = 60.0


@dataclass(frozen=True)
class Swap:
    """One completed switch."""

    endpoint: str
    uri: str
    old_version: int | None
    new_version: int | None


@dataclass(frozen=True)
class RouteBehind:
    """A route that does not serve what its alias names: the version failed to load, or the
    registry could not be asked (``wanted_version`` is then ``None``)."""

    endpoint: str
    uri: str
    serving_version: int | None
    wanted_version: int | None
    reason: str
    unavailable: bool  # the registry or artifact store could not be reached (else: the version is bad)
    since_ms: int
    attempts: int
    retry_at: float  # monotonic time of the next attempt by the poller

    def describe(self) -> dict[str, object]:
        """JSON-able, for readiness and ``/admin/reload``."""
        return {
            "endpoint": self.endpoint,
            "model": self.uri,
            "serving_version": self.serving_version,
            "wanted_version": self.wanted_version,
            "error": self.reason,
            "since_ms": self.since_ms,
        }


class AliasWatcher:
    """Polls the aliases of ``targets`` and swaps routes to the versions they point to.

    Parameters
    ----------
    targets:
        ``(endpoint, route)`` pairs whose route follows a ``models:/NAME@ALIAS`` URI.
    source:
        Resolves aliases and loads versions.
    make_slot:
        Builds the slot a newly loaded version runs in.
    retire:
        Called with the replaced slot (it drains, then closes).
    interval:
        Seconds between polls.
    """

    def __init__(
        self,
        targets: list[tuple[Endpoint, Route]],
        source: ModelSource,
        make_slot: SlotFactory,
        retire: Callable[[Slot], None],
        interval: float = 2.0,
        on_failure: Callable[[str], None] | None = None,
    ):
        self.targets = targets
        self.source = source
        self.make_slot = make_slot
        self.retire = retire
        self.interval = interval
        self.on_failure = on_failure  # metrics hook, called with the endpoint name
        self._behind: dict[Route, RouteBehind] = {}
        self._throttle = LogThrottle()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling in a daemon thread (no-op without alias targets)."""
        if self.targets and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="lw-alias-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_now(force=False)

    def behind(self) -> list[RouteBehind]:
        """Routes whose alias names a version they do not serve, because loading it (or asking the
        registry) failed; the version they serve keeps serving."""
        return list(self._behind.values())

    def check_now(self, force: bool = True) -> list[Swap]:
        """Poll every alias once and swap what moved; returns the swaps made.

        ``force=False`` (the poller) waits out the backoff of a version that failed to load;
        ``force=True`` (``/admin/reload``) tries it at once.
        """
        swaps: list[Swap] = []
        with self._lock:
            for endpoint, route in self.targets:
                assert route.uri is not None
                old = route.slot
                try:
                    version = self.source.current_version(route.uri)
                except NotFound:
                    self._recovered(route)
                    swap = self._unset(endpoint, route)
                    if swap is not None:
                        swaps.append(swap)
                    continue
                except Exception as error:
                    self._failed(endpoint, route, None, error)
                    continue
                if old is not None and version == old.version:
                    self._recovered(route)
                    continue
                failed = self._behind.get(route)
                if (
                    not force
                    and failed is not None
                    and failed.wanted_version == version
                    and time.monotonic() < failed.retry_at
                ):
                    continue
                try:
                    model = self.source.load(route.uri, version)
                    new = self.make_slot(endpoint, route, model, version)
                except Exception as error:
                    self._failed(endpoint, route, version, error)
                    continue
                route.slot = new  # the atomic switch: later requests see only the new slot
                endpoint.refresh()
                if old is not None:
                    self.retire(old)
                self._recovered(route)
                log.info(
                    "hot swap: endpoint %s now serves %s version %s (was %s)",
                    endpoint.name,
                    str(route.uri),
                    version,
                    old.label if old is not None else "dormant",
                )
                swaps.append(Swap(endpoint.name, str(route.uri), old.version if old else None, version))
        return swaps

    def _failed(self, endpoint: Endpoint, route: Route, version: int | None, error: Exception) -> None:
        """Record why ``route`` is behind; one log line per alias and reason a minute, no traceback
        (a broken version would otherwise log one every poll for as long as the alias names it)."""
        serving = route.slot.version if route.slot is not None else None
        reason = f"{type(error).__name__}: {' '.join(str(error).split())}"
        what = f"loading {route.uri} version {version}" if version is not None else f"resolving {route.uri}"
        previous = self._behind.get(route)
        attempts = previous.attempts + 1 if previous is not None and previous.wanted_version == version else 1
        delay = min(
            self.interval * 2 ** min(attempts - 1, 16), MAX_RETRY_DELAY_S
        )  # capped: no float overflow
        self._behind[route] = RouteBehind(
            endpoint.name,
            str(route.uri),
            serving,
            version,
            f"{what} failed: {reason}",
            isinstance(error, Unavailable),
            previous.since_ms if previous is not None else time.time_ns() // 1_000_000,
            attempts,
            time.monotonic() + delay,
        )
        if self.on_failure is not None:
            self.on_failure(endpoint.name)
        allowed, held_back = self._throttle.allow(route, reason if version is None else f"{version} {reason}")
        if allowed:
            log.warning(
                "hot swap: %s failed: %s; version %s keeps serving%s",
                what,
                reason,
                route.slot.label if route.slot is not None else "none",
                f" ({held_back} repeats not logged)" if held_back else "",
            )
        log.debug("hot swap: %s failed", what, exc_info=error)

    def _recovered(self, route: Route) -> None:
        if self._behind.pop(route, None) is not None:
            self._throttle.forget(route)

    def _unset(self, endpoint: Endpoint, route: Route) -> Swap | None:
        """The alias was deleted: the route goes dormant (its traffic goes to the other routes),
        unless it is the last route serving, which keeps its version rather than leave the
        endpoint without a model."""
        old = route.slot
        if old is None:
            return None
        others = [r for r in endpoint.active_routes if r is not route]
        if route is not endpoint.shadow and not others:
            log.warning(
                "hot swap: %s is unset but it is the only route of endpoint %s; version %s keeps serving",
                str(route.uri),
                endpoint.name,
                old.label,
            )
            return None
        route.slot = None
        endpoint.refresh()
        self.retire(old)
        log.info(
            "hot swap: %s is unset; endpoint %s stops sending it traffic (was version %s)",
            str(route.uri),
            endpoint.name,
            old.label,
        )
        return Swap(endpoint.name, str(route.uri), old.version, None)
