"""Running the serving app: one process, several worker processes, or a background thread.

uvicorn runs the ASGI app with httptools (and uvloop when installed). Two things differ from
``uvicorn --workers N``:

* Every accepted connection gets ``TCP_NODELAY``. uvicorn's multi-process mode hands workers a
  socket object on which asyncio does not set it, so Nagle's algorithm holds the response body
  (written after the headers) until the client's delayed ACK: ~40 ms per keep-alive request
  (Kludex/uvicorn#3149).
* Workers are our own processes (``python -m loopwright.serving.worker``, see there: no
  re-import of the caller's ``__main__``), each binding the port with ``SO_REUSEPORT`` so the
  kernel spreads connections; each loads its own models and keeps its own batchers, and
  ``PROMETHEUS_MULTIPROC_DIR`` makes ``/metrics`` sum all workers. Closing a worker's stdin
  stops it gracefully, so workers never outlive the parent.

The imports of uvicorn and of the app (prometheus-client) happen inside the functions: they are
the optional ``[serve]`` extra, and ``import loopwright`` must work without it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopwright.errors import InvalidInput, LoopwrightError
from loopwright.serving.deployment import Deployment
from loopwright.serving.sources import ModelSource
from loopwright.uris import parse_model_uri

if TYPE_CHECKING:
    import uvicorn

    from loopwright.serving.app import ServingApp

log = logging.getLogger("loopwright.serving")


def build_app(target: Deployment | str | Path, **options: Any) -> ServingApp:
    """Build the ASGI app for a model URI, a deployment YAML file or a :class:`Deployment`.

    ``options`` are :class:`~loopwright.serving.app.ServingApp`'s (``token``, ``max_body_bytes``,
    ``poll_interval``, ``prefer_onnx``, ``log_predictions``, ``log_queue_rows``, ``client``).
    Mount the result in your own ASGI app, or run it with :func:`serve`.
    """
    from loopwright.serving.app import ServingApp  # optional [serve] extra

    return ServingApp(Deployment.load(target if not isinstance(target, Path) else str(target)), **options)


def _nodelay_protocol() -> type:
    """uvicorn's httptools protocol that sets TCP_NODELAY on every accepted connection."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(OSError):  # the peer may already be gone
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)

    return NoDelayHttpToolsProtocol


def _listen_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InvalidInput(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: Any, host: str, port: int) -> uvicorn.Config:
    import uvicorn

    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=loop,
        http=_nodelay_protocol(),
        lifespan="on",
        access_log=False,  # the app writes structured access logs itself
        log_level="warning",
        timeout_keep_alive=30,
        backlog=4096,
    )


def _configure_access_log(enabled: bool) -> None:
    access = logging.getLogger("loopwright.serving.access")
    if enabled and not access.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    elif not enabled:
        access.setLevel(logging.WARNING)


def serve(
    target: Deployment | str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    access_log: bool = True,
    ready: Any = None,
    **options: Any,
) -> None:
    """Serve models over HTTP until interrupted (``loopwright serve`` runs this).

    Parameters
    ----------
    target:
        ``models:/churn@champion``, ``models:/churn/3``, ``runs:/RUN_ID/model``, a deployment YAML
        path, or a :class:`~loopwright.serving.deployment.Deployment`.
    host, port:
        Where to listen.
    workers:
        Worker processes (each loads the models; the kernel spreads connections).
    access_log:
        Write one JSON line per request to stdout.
    ready:
        Called with the URL once every worker is accepting connections.
    options:
        Passed to :class:`~loopwright.serving.app.ServingApp` (``token``, ``max_body_bytes``,
        ``poll_interval``, ``prefer_onnx``, ``log_predictions``, ``log_queue_rows``).

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.serve("models:/churn@champion", port=8080)  # doctest: +SKIP
    """
    if workers < 1:
        raise InvalidInput("workers must be at least 1")
    _configure_access_log(access_log)
    if workers == 1:
        app = build_app(target, **options)
        sock = _listen_socket(host, port, reuse_port=False)
        server = _server(app, host, sock.getsockname()[1])
        if ready is not None:
            threading.Thread(
                target=_announce, args=(server, _url(host, sock.getsockname()[1]), ready), daemon=True
            ).start()
        server.run(sockets=[sock])
        return
    _serve_workers(
        Deployment.load(target if not isinstance(target, Path) else str(target)),
        host,
        port,
        workers,
        access_log,
        ready,
        options,
    )


def _server(app: Any, host: str, port: int) -> uvicorn.Server:
    import uvicorn

    return uvicorn.Server(_uvicorn_config(app, host, port))


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _announce(server: uvicorn.Server, url: str, ready: Any) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.02)
    if server.started:
        ready(url)


# -- several worker processes ---------------------------------------------------------------------
def _serve_workers(
    deployment: Deployment,
    host: str,
    port: int,
    workers: int,
    access_log: bool,
    ready: Any,
    options: dict[str, Any],
) -> None:
    if "client" in options or "source" in options:
        raise InvalidInput(
            "client= and source= objects cannot cross processes; use workers=1 or the environment"
        )
    spec = deployment.to_dict()  # raises for in-memory models
    try:
        options_json = json.loads(json.dumps(options))
    except (TypeError, ValueError):
        raise InvalidInput(
            f"options must be plain values to reach worker processes, got {options!r}"
        ) from None
    source = ModelSource(prefer_onnx=bool(options.get("prefer_onnx", False)))
    for uri in deployment.model_uris():  # fail fast here rather than in N workers
        source.current_version(parse_model_uri(uri))
    env = os.environ.copy()
    # the workers import what this process imports (as multiprocessing's spawn would)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    metrics_dir = None
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="loopwright-metrics-")
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    # hold the port (bound, not listening) so port 0 gives every worker the same port
    holder = _listen_socket(host, port, reuse_port=True)
    bound_port = holder.getsockname()[1]
    reports, report_w = os.pipe()
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        config = {
            "deployment": spec,
            "host": host,
            "port": bound_port,
            "access_log": access_log,
            "options": options_json,
            "report_fd": report_w,
        }
        line = (json.dumps(config) + "\n").encode()
        for _ in range(workers):
            proc = subprocess.Popen(
                [sys.executable, "-m", "loopwright.serving.worker"],
                stdin=subprocess.PIPE,
                env=env,
                pass_fds=(report_w,),
                # not in our process group: a terminal's Ctrl-C reaches only this process, which
                # then stops every worker the one way (closing stdin), even mid-startup
                start_new_session=True,
            )
            procs.append(proc)
            assert proc.stdin is not None
            proc.stdin.write(line)
            proc.stdin.flush()  # stdin stays open: its end tells the worker to stop
        os.close(report_w)
        report_w = -1

        def on_ready() -> None:
            holder.close()
            if ready is not None:
                ready(_url(host, bound_port))

        with os.fdopen(reports, "rb", buffering=0) as channel:
            reports = -1
            _supervise(channel, procs, stop, on_ready)
    finally:
        holder.close()
        for fd in (reports, report_w):
            if fd >= 0:
                os.close(fd)
        _stop_workers(procs)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _supervise(
    channel: Any, procs: list[subprocess.Popen[bytes]], stop: threading.Event, on_ready: Callable[[], None]
) -> None:
    """Read the workers' reports until stopped: start-up, then reloads.

    Start-up: every worker reports ``ready`` (then ``on_ready()`` runs); the first ``error: ...``,
    or a worker exiting, fails the start. Afterwards each worker's ``POST /admin/reload`` is passed
    on: a worker writes ``reload PID`` (its own pid), every other worker gets ``reload PID`` on
    stdin, reloads and answers ``reloaded PID SELF``; when all have, the asking worker gets
    ``done``, so its HTTP answer comes after every worker serves the new version. A reload may
    arrive before the last worker is ready: it is relayed the same way.
    """
    import selectors

    by_pid = {p.pid: p for p in procs}
    waiting: dict[int, set[int]] = {}  # asking worker -> workers still reloading for it
    up, pending = 0, b""

    def tell(pid: int, message: str) -> None:
        stdin = by_pid[pid].stdin
        if stdin is not None:
            with contextlib.suppress(OSError):  # a worker that is gone stops the server below
                stdin.write(message.encode() + b"\n")
                stdin.flush()

    def failure() -> str:
        if up < len(procs):
            return "a worker failed to start; run with workers=1 to see why"
        return "a worker process exited; stopping the server"

    with selectors.DefaultSelector() as selector:
        selector.register(channel, selectors.EVENT_READ)
        while not stop.is_set():
            if not selector.select(timeout=0.2):
                # a report is read before an exit is noticed: a worker that failed says why first
                if any(p.poll() is not None for p in procs):
                    raise LoopwrightError(failure())
                continue
            chunk = channel.read(4096)
            if not chunk:  # every worker closed the pipe: all have exited
                raise LoopwrightError(failure())
            *lines, pending = (pending + chunk).split(b"\n")
            for message in (line.decode() for line in lines if line.strip()):
                if message.startswith("error: "):
                    raise LoopwrightError(f"a worker failed to start: {message[7:]}")
                command, *args = message.split()
                if command == "ready":
                    up += 1
                    if up == len(procs):
                        on_ready()
                elif command == "reload":
                    origin = int(args[0])
                    waiting[origin] = {pid for pid in by_pid if pid != origin}
                    for pid in waiting[origin]:
                        tell(pid, f"reload {origin}")
                elif command == "reloaded":
                    origin, worker = int(args[0]), int(args[1])
                    waiting.get(origin, set()).discard(worker)
            for origin in [o for o, rest in waiting.items() if not rest]:
                del waiting[origin]
                tell(origin, "done")


def _stop_workers(procs: list[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    """Close every worker's stdin (a graceful stop: requests finish, logs are written), then wait."""
    for p in procs:
        if p.stdin is not None:
            with contextlib.suppress(OSError):
                p.stdin.close()
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# -- in a thread (tests, notebooks, the demo) ----------------------------------------------------
@dataclass
class ServerHandle:
    """A server running in a background thread; ``stop()`` shuts it down (and closes the app)."""

    url: str
    port: int
    app: Any
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self, timeout: float = 30.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    access_log: bool = False,
    timeout: float = 60.0,
    **options: Any,
) -> ServerHandle:
    """Serve an app (or a model URI / deployment, built with ``options``) from a background thread.

    Parameters
    ----------
    app:
        A :class:`~loopwright.serving.app.ServingApp` or any ASGI app, or what :func:`build_app` takes.
    host, port:
        Where to listen; port 0 picks a free port (see ``handle.url``).

    Returns
    -------
    ServerHandle
        ``.url`` (``http://127.0.0.1:PORT``), ``.port``, ``.app`` and ``.stop()``.

    Examples
    --------
    >>> import loopwright as lw
    >>> handle = lw.serving.run_in_thread("models:/churn@champion")  # doctest: +SKIP
    >>> httpx.post(handle.url + "/endpoints/churn/predict", json={"instances": rows})  # doctest: +SKIP
    >>> handle.stop()  # doctest: +SKIP
    """
    if not callable(app):
        app = build_app(app, **options)
    elif options:
        raise InvalidInput("options are for building an app; pass them to build_app instead")
    _configure_access_log(access_log)
    sock = _listen_socket(host, port, reuse_port=False)
    bound = sock.getsockname()[1]
    server = _server(app, host, bound)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as error:  # surfaced to the caller below
            errors.append(error)

    thread = threading.Thread(target=run, name=f"loopwright-serve-{bound}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if errors or not thread.is_alive():
            raise LoopwrightError(f"the server did not start: {errors[0] if errors else 'it exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise LoopwrightError(f"the server did not start within {timeout} s")
        time.sleep(0.01)
    return ServerHandle(_url(host, bound), bound, app, server, thread)
