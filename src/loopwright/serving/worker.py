"""One worker process of ``serve(workers=N)``: ``python -m loopwright.serving.worker``.

Workers are plain subprocesses rather than ``multiprocessing`` children, so they never re-import
the caller's ``__main__`` (a script calling ``lw.serve(..., workers=2)`` needs no
``if __name__ == "__main__"`` guard) and ``serve`` may run outside the main thread.

Protocol with the parent: the first line on stdin is a JSON document (deployment, host, port,
options, and the number of a pipe to report on); the worker writes ``ready`` or ``error: ...``
to that pipe once; end of stdin (the parent stopping, or dying) shuts the worker down gracefully.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any


def report(fd: int, message: str) -> None:
    """Tell the parent ``ready`` or ``error: ...`` (one line)."""
    os.write(fd, (message.replace("\n", " ") + "\n").encode())


def main() -> None:
    config: dict[str, Any] = json.loads(sys.stdin.readline())
    fd = int(config["report_fd"])
    from loopwright.serving.deployment import Deployment
    from loopwright.serving.server import _announce, _configure_access_log, _listen_socket, _server, build_app

    _configure_access_log(bool(config["access_log"]))
    host, port = str(config["host"]), int(config["port"])
    try:
        app = build_app(Deployment.from_dict(config["deployment"]), **config["options"])
        sock = _listen_socket(host, port, reuse_port=True)
    except Exception as error:
        report(fd, f"error: {type(error).__name__}: {error}")
        raise SystemExit(1) from None
    server = _server(app, host, port)

    def stop_when_the_parent_goes() -> None:
        sys.stdin.read()  # returns at end of input: the parent closed the pipe or exited
        server.should_exit = True

    threading.Thread(target=stop_when_the_parent_goes, daemon=True).start()
    threading.Thread(target=_announce, args=(server, "", lambda _: report(fd, "ready")), daemon=True).start()
    server.run(sockets=[sock])


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # a SIGINT sent to this worker alone (uvicorn re-raises it when done)
        raise SystemExit(130) from None
