"""Hot swap: follow registry aliases and switch versions without dropping a request.

A background thread asks the registry every ``interval`` seconds which version each served alias
points to. When one moved, it loads and warms the new version beside the old one (in this thread,
while the old one keeps serving), switches the route to it in one assignment, and hands the old
slot to ``retire``, which closes it once its in-flight requests are answered. A failed load keeps
the old version serving and is retried at the next poll. An alias that is deleted (a canary alias
after promotion or rollback) makes its route dormant: its share of the traffic goes to the other
routes until the alias is set again (the last serving route keeps its version instead).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from loopwright.errors import NotFound
from loopwright.serving.endpoint import Endpoint, Route, Slot
from loopwright.serving.sources import ModelSource
from loopwright.serving.types import ModelLike

log = logging.getLogger(__name__)

SlotFactory = Callable[[Endpoint, Route, ModelLike, int | None], Slot]


@dataclass(frozen=True)
class Swap:
    """One completed switch."""

    endpoint: str
    uri: str
    old_version: int | None
    new_version: int | None


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
    ):
        self.targets = targets
        self.source = source
        self.make_slot = make_slot
        self.retire = retire
        self.interval = interval
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
            self.check_now()

    def check_now(self) -> list[Swap]:
        """Poll every alias once and swap what moved; returns the swaps made."""
        swaps: list[Swap] = []
        with self._lock:
            for endpoint, route in self.targets:
                assert route.uri is not None
                old = route.slot
                try:
                    version = self.source.current_version(route.uri)
                except NotFound:
                    swap = self._unset(endpoint, route)
                    if swap is not None:
                        swaps.append(swap)
                    continue
                except Exception:
                    log.warning(
                        "hot swap: cannot resolve %s; keeping version %s",
                        str(route.uri),
                        old.label if old is not None else "none",
                        exc_info=True,
                    )
                    continue
                if old is not None and version == old.version:
                    continue
                try:
                    model = self.source.load(route.uri, version)
                    new = self.make_slot(endpoint, route, model, version)
                except Exception:
                    log.error(
                        "hot swap: loading %s version %s failed; version %s keeps serving",
                        str(route.uri),
                        version,
                        old.label if old is not None else "none",
                        exc_info=True,
                    )
                    continue
                route.slot = new  # the atomic switch: later requests see only the new slot
                endpoint.refresh()
                if old is not None:
                    self.retire(old)
                log.info(
                    "hot swap: endpoint %s now serves %s version %s (was %s)",
                    endpoint.name,
                    str(route.uri),
                    version,
                    old.label if old is not None else "dormant",
                )
                swaps.append(Swap(endpoint.name, str(route.uri), old.version if old else None, version))
        return swaps

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
