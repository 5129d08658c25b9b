"""One worker process of ``serve(workers=N)``: ``python -m loopwright.serving.worker``.

Workers are plain subprocesses rather than ``multiprocessing`` children, so they never re-import
the caller's ``__main__`` (a script calling ``lw.serve(..., workers=2)`` needs no
``if __name__ == "__main__"`` guard) and ``serve`` may run outside the main thread.

Protocol with the parent: the first line on stdin is a JSON document (deployment, host, port,
connection limits, options, the number of a pipe to report on, and whether this worker replaces
a dead one); the worker writes ``ready PID`` or ``error PID MESSAGE`` to that pipe once; end of
stdin (the parent stopping, or dying) shuts the worker down gracefully.
``POST /admin/reload`` reaches one worker; it writes ``reload PID`` to the pipe, the parent sends
``reload PID`` to every other worker's stdin, each answers ``reloaded PID SELF``, and the parent
sends ``done`` to the asking worker, which then answers the request.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from typing import Any


def report(fd: int, message: str) -> None:
    """Tell the parent ``ready PID``, ``error PID MESSAGE`` or a reload message (one line)."""
    # a parent that stopped listening (another worker's failure ended the start) needs no answer
    with contextlib.suppress(BrokenPipeError):
        os.write(fd, (message.replace("\n", " ") + "\n").encode())


# how long a reload waits for the other workers (each loads and warms the new versions)
PEER_RELOAD_TIMEOUT = 120.0


class Peers:
    """This worker's line to the other workers, through the parent."""

    def __init__(self, fd: int):
        self.fd = fd
        self.done = threading.Event()
        self.lock = threading.Lock()

    def reload(self) -> None:
        """Ask every other worker to reload now; return when they have (or after a timeout)."""
        with self.lock:
            self.done.clear()
            report(self.fd, f"reload {os.getpid()}")
            self.done.wait(PEER_RELOAD_TIMEOUT)


def main() -> None:
    config: dict[str, Any] = json.loads(sys.stdin.readline())
    fd = int(config["report_fd"])
    from loopwright.serving.deployment import Deployment
    from loopwright.serving.server import (
        ServerLimits,
        _announce,
        _configure_access_log,
        _listen_socket,
        _server,
        build_app,
        configure_server_logging,
        configure_server_process,
    )

    configure_server_logging()
    configure_server_process()
    _configure_access_log(bool(config["access_log"]))
    host, port = str(config["host"]), int(config["port"])
    pid = os.getpid()
    try:
        app = build_app(Deployment.from_dict(config["deployment"]), **config["options"])
        sock = _listen_socket(host, port, reuse_port=True)
    except Exception as error:
        report(fd, f"error {pid} {type(error).__name__}: {error}")
        raise SystemExit(1) from None
    server = _server(app, host, port, ServerLimits(**config["limits"]))

    peers = Peers(fd)
    app.peers_reload = peers.reload

    def follow_the_parent() -> None:
        # end of input: the parent closed the pipe or exited
        while line := sys.stdin.readline():
            command, *args = line.split()
            if command == "reload":
                try:
                    app.reload()
                finally:
                    report(fd, f"reloaded {args[0]} {pid}")
            elif command == "done":
                peers.done.set()
        server.should_exit = True

    threading.Thread(target=follow_the_parent, daemon=True).start()

    def serving(_: str) -> None:
        if config["restart"]:  # a replacement for a dead worker: counted once it serves
            app.metrics.worker_restarts.inc()
        report(fd, f"ready {pid}")

    threading.Thread(target=_announce, args=(server, "", serving), daemon=True).start()
    server.run(sockets=[sock])


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # a SIGINT sent to this worker alone (uvicorn re-raises it when done)
        raise SystemExit(130) from None
