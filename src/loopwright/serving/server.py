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
  stops it gracefully, so workers never outlive the parent. A worker that dies is restarted with
  backoff; one that keeps dying before it is ready stops the server with one error.
* Connections are bounded (:class:`ServerLimits`): a request's head and body must arrive within
  deadlines (uvicorn has only the keep-alive timeout; a client sending nothing or a byte now and
  then held a connection forever), each worker answers 503 past ``max_connections``, and the
  open-files limit is raised to its hard limit at start.

The imports of uvicorn and of the app (prometheus-client) happen inside the functions: they are
the optional ``[serve]`` extra, and ``import loopwright`` must work without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopwright.config import get_settings
from loopwright.errors import InvalidInput, LoopwrightError, PermissionDenied
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


@dataclass(frozen=True)
class ServerLimits:
    """How long a connection may take and how many a worker keeps (``loopwright serve`` options).

    Parameters
    ----------
    timeout_keep_alive:
        Seconds an idle keep-alive connection stays open after an answer.
    header_timeout:
        Seconds a request's line and headers may take to arrive, counted from the connection
        opening or from the request's first byte: a client sending nothing or trickling headers
        (slowloris) is closed then (with 408 once a request started).
    body_timeout:
        Seconds a request's body may take to arrive after its headers (408, then closed).
    max_connections:
        Open connections per worker; requests on connections past it are answered 503.

    Examples
    --------
    >>> ServerLimits(header_timeout=5).body_timeout
    30.0
    >>> ServerLimits(max_connections=0)
    Traceback (most recent call last):
    loopwright.errors.InvalidInput: max_connections must be positive, got 0
    """

    timeout_keep_alive: float = 5.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 4096

    def __post_init__(self) -> None:
        for name in ("timeout_keep_alive", "header_timeout", "body_timeout", "max_connections"):
            value = getattr(self, name)
            if not value > 0:
                raise InvalidInput(f"{name} must be positive, got {value!r}")


# file descriptors kept for what a worker opens besides connections (model files, logs, the store)
RESERVED_FILES = 256


def _raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (idle clients must not starve the server of
    descriptors at the soft default, often 1024); return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # a platform refusing it keeps the soft limit
            pass
    return soft


def _guarded_protocol(limits: ServerLimits, closed: Callable[[str], None]) -> type:
    """uvicorn's httptools protocol with TCP_NODELAY and deadlines for each request's head and body.

    ``closed(reason)`` counts each connection the server closes: ``header_timeout``,
    ``body_timeout``, ``idle`` (keep-alive), ``no_room`` (past what the open-files limit allows,
    closed at once: running out of descriptors would fail every client).
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    room = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - RESERVED_FILES

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        deadline: asyncio.TimerHandle | None = None
        request_started = False  # bytes of a request not yet complete have arrived

        def connection_made(self, transport: Any) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(OSError):  # the peer may already be gone
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)
            if len(self.connections) > room:
                closed("no_room")
                transport.abort()
                return
            self.arm(limits.header_timeout, "header_timeout")

        def connection_lost(self, exc: Exception | None) -> None:
            self.disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.request_started = True
            if self.deadline is None:  # a request after an earlier one on this connection
                self.arm(limits.header_timeout, "header_timeout")

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self.arm(limits.body_timeout, "body_timeout")

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self.disarm()
            self.request_started = False

        def timeout_keep_alive_handler(self) -> None:
            if not self.transport.is_closing():
                closed("idle")
            super().timeout_keep_alive_handler()

        def arm(self, seconds: float, reason: str) -> None:
            self.disarm()
            self.deadline = self.loop.call_later(seconds, self.expire, reason)

        def disarm(self) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def expire(self, reason: str) -> None:
            self.deadline = None
            if self.transport.is_closing():
                return
            closed(reason)
            # a client that started a request learns why it ends; a silent one just sees the close
            unanswered = (
                self.request_started if reason == "header_timeout" else not self.cycle.response_started
            )
            if unanswered:
                what = "headers" if reason == "header_timeout" else "body"
                seconds = limits.header_timeout if reason == "header_timeout" else limits.body_timeout
                message = f'{{"error":"request {what} not received within {seconds:g} s"}}'.encode()
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(message), message)
                )
            self.transport.close()

    return GuardedHttpToolsProtocol


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


def _uvicorn_config(app: Any, host: str, port: int, limits: ServerLimits) -> uvicorn.Config:
    import uvicorn

    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    metrics = getattr(app, "metrics", None)  # a ServingApp counts the connections it closes
    counter = metrics.connections_closed if metrics is not None else None
    room = _raise_open_files_limit() - RESERVED_FILES
    if limits.max_connections > room:
        log.warning(
            "max_connections %d is above what the open-files limit leaves room for: connections past %d "
            "are closed without an answer",
            limits.max_connections,
            room,
        )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=loop,
        http=_guarded_protocol(limits, lambda reason: counter.labels(reason).inc() if counter else None),
        lifespan="on",
        access_log=False,  # the app writes structured access logs itself
        log_level="warning",
        timeout_keep_alive=limits.timeout_keep_alive,  # type: ignore[arg-type]  # only reaches call_later
        # uvicorn refuses a request once the open connections (its own among them) reach the limit
        limit_concurrency=limits.max_connections + 1,
        backlog=4096,
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def configure_server_logging() -> None:
    """A server process's logging: one line per record, and every hot swap (from → to) shown by default.

    Only ``loopwright serve`` and its worker processes call this; an app mounted in a user's process
    leaves logging to the user.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("loopwright.serving.hotswap").setLevel(logging.INFO)


def configure_server_process() -> None:
    """Process-wide settings of a server's own process (``serve()`` and its workers), never of an app
    mounted in a user's process.

    Arrays reach estimators fitted on DataFrames in the fitted column order (checked per model in
    ``Slot``), so scikit-learn's per-call "X does not have valid feature names" warning is noise here.
    """
    warnings.filterwarnings("ignore", message="X does not have valid feature names")


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
    timeout_keep_alive: float = ServerLimits.timeout_keep_alive,
    header_timeout: float = ServerLimits.header_timeout,
    body_timeout: float = ServerLimits.body_timeout,
    max_connections: int = ServerLimits.max_connections,
    allow_unauthenticated: bool = False,
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
        Worker processes (each loads the models; the kernel spreads connections). A worker that
        dies is restarted (with backoff, counted in ``loopwright_worker_restarts_total``); one that
        dies :data:`START_FAILURES_LIMIT` times in a row before it is ready stops the server.
    access_log:
        Write one JSON line per request to stdout.
    ready:
        Called with the URL once every worker is accepting connections.
    timeout_keep_alive, header_timeout, body_timeout, max_connections:
        Connection limits per worker, see :class:`ServerLimits`.
    allow_unauthenticated:
        Listen on a non-loopback ``host`` without a token (``token=`` / ``LOOPWRIGHT_TOKEN``, or
        ``store_tokens=True``): only when something else (a network policy, an authenticating proxy)
        guards the port. Refused otherwise.
    options:
        Passed to :class:`~loopwright.serving.app.ServingApp` (``token``, ``store_tokens``, ``max_body_bytes``,
        ``poll_interval``, ``prefer_onnx``, ``log_predictions``, ``log_queue_rows``; ``freeze_gc``
        defaults to ``True`` here: this process is the server's own).

    Examples
    --------
    >>> import loopwright as lw
    >>> lw.serve("models:/churn@champion", port=8080, header_timeout=5)  # doctest: +SKIP
    """
    if workers < 1:
        raise InvalidInput("workers must be at least 1")
    if (
        not allow_unauthenticated
        and not is_loopback(host)
        and not (options.get("token") or get_settings().token or options.get("store_tokens"))
    ):
        raise PermissionDenied(
            f"refusing to listen on {host} without a token: anyone who can reach it could predict and reload "
            "models; set --token or LOOPWRIGHT_TOKEN, or --store-tokens, or pass --allow-unauthenticated when "
            "a network policy or an authenticating proxy guards the port"
        )
    limits = ServerLimits(timeout_keep_alive, header_timeout, body_timeout, max_connections)
    configure_server_process()
    options.setdefault("freeze_gc", True)  # this process (and each worker) is the server's own
    _configure_access_log(access_log)
    if workers == 1:
        app = build_app(target, **options)
        sock = _listen_socket(host, port, reuse_port=False)
        server = _server(app, host, sock.getsockname()[1], limits)
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
        limits,
        options,
    )


def _server(app: Any, host: str, port: int, limits: ServerLimits) -> uvicorn.Server:
    import uvicorn

    return uvicorn.Server(_uvicorn_config(app, host, port, limits))


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _announce(server: uvicorn.Server, url: str, ready: Any) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.02)
    if server.started:
        ready(url)


# -- several worker processes ---------------------------------------------------------------------
RESTART_DELAY = 0.5  # seconds before restarting a dead worker; doubles with each death in a row
RESTART_DELAY_MAX = 30.0
STABLE_AFTER = 60.0  # a worker ready this long before dying restarts after RESTART_DELAY again
START_FAILURES_LIMIT = 5  # deaths in a row before ready: the server gives up


def _serve_workers(
    deployment: Deployment,
    host: str,
    port: int,
    workers: int,
    access_log: bool,
    ready: Any,
    limits: ServerLimits,
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
    created_metrics_dir = not env.get("PROMETHEUS_MULTIPROC_DIR")
    if created_metrics_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="loopwright-metrics-")
    # hold the port (bound, not listening: it gets no connections) for as long as we serve, so
    # port 0 gives every worker the same port and a restarted worker finds it free
    holder = _listen_socket(host, port, reuse_port=True)
    bound_port = holder.getsockname()[1]
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    config = {
        "deployment": spec,
        "host": host,
        "port": bound_port,
        "access_log": access_log,
        "limits": asdict(limits),
        "options": options_json,
    }
    supervisor = _Supervisor(config, workers, env, stop)

    def on_ready() -> None:
        if ready is not None:
            ready(_url(host, bound_port))

    try:
        supervisor.run(on_ready)
    finally:
        supervisor.close()
        holder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if created_metrics_dir:
            shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


@dataclass
class _Worker:
    """One worker slot: its current process and how its recent starts went."""

    index: int
    proc: subprocess.Popen[bytes] | None = None
    ready_at: float | None = None  # monotonic time the current process reported ready
    deaths: int = 0  # deaths in a row (each doubles the restart delay)
    start_failures: int = 0  # deaths in a row before ready
    last_error: str = ""  # the last ``error`` report of this slot's processes
    restart_at: float | None = None  # when a dead worker's replacement starts


class _Supervisor:
    """Starts the workers, relays their reports, restarts the dead ones.

    Reports arrive on one pipe that every worker writes lines to: ``ready PID``, ``error PID
    MESSAGE`` (start-up failed), and the reload relay. Start-up: every worker reports ready (then
    ``on_ready()`` runs); the first ``error`` fails the start (the models cannot be served). A
    worker that dies is restarted after a delay that doubles with each death in a row (:data:`RESTART_DELAY` up to
    :data:`RESTART_DELAY_MAX`, back to the start once a worker stayed up :data:`STABLE_AFTER` s);
    the replacement counts itself in ``loopwright_worker_restarts_total`` once it serves. A slot
    whose processes die :data:`START_FAILURES_LIMIT` times in a row before ready stops the server.

    Reloads: a worker's ``POST /admin/reload`` makes it write ``reload PID``; every other worker
    gets ``reload PID`` on stdin, reloads and answers ``reloaded PID SELF``; when all have (or
    died), the asking worker gets ``done``, so its HTTP answer comes after every worker serves the
    new version. A reload may arrive before the last worker is ready: it is relayed the same way.
    """

    def __init__(self, config: dict[str, Any], count: int, env: dict[str, str], stop: threading.Event):
        self.config = config
        self.env = env
        self.stop = stop
        self.reports, self.report_w = os.pipe()
        os.set_blocking(self.reports, False)
        self.workers = [_Worker(i) for i in range(count)]
        self.started = False  # every worker was ready once
        self.waiting: dict[int, set[int]] = {}  # asking worker -> workers still reloading for it
        self.pending = b""

    def by_pid(self, pid: int) -> _Worker | None:
        return next((w for w in self.workers if w.proc is not None and w.proc.pid == pid), None)

    def spawn(self, worker: _Worker, restart: bool) -> None:
        config = {**self.config, "report_fd": self.report_w, "restart": restart}
        proc = subprocess.Popen(
            [sys.executable, "-m", "loopwright.serving.worker"],
            stdin=subprocess.PIPE,
            env=self.env,
            pass_fds=(self.report_w,),
            # not in our process group: a terminal's Ctrl-C reaches only this process, which then
            # stops every worker the one way (closing stdin), even mid-startup
            start_new_session=True,
        )
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(config) + "\n").encode())
        proc.stdin.flush()  # stdin stays open: its end tells the worker to stop
        worker.proc, worker.ready_at, worker.restart_at = proc, None, None

    def tell(self, pid: int, message: str) -> None:
        worker = self.by_pid(pid)
        if worker is not None and worker.proc is not None and worker.proc.stdin is not None:
            with contextlib.suppress(OSError):  # a worker that just died is handled by reap()
                worker.proc.stdin.write(message.encode() + b"\n")
                worker.proc.stdin.flush()

    def run(self, on_ready: Callable[[], None]) -> None:
        for worker in self.workers:
            self.spawn(worker, restart=False)
        with selectors.DefaultSelector() as selector:
            selector.register(self.reports, selectors.EVENT_READ)
            while not self.stop.is_set():
                selector.select(timeout=0.2)
                # reports first: a worker that failed says why before its exit is noticed
                self.read_reports(on_ready)
                self.reap()
                now = time.monotonic()
                for worker in self.workers:
                    if worker.restart_at is not None and now >= worker.restart_at and not self.stop.is_set():
                        self.spawn(worker, restart=True)

    def read_reports(self, on_ready: Callable[[], None]) -> None:
        while True:
            try:
                chunk = os.read(self.reports, 65536)
            except BlockingIOError:
                return
            if not chunk:  # cannot happen while we hold the write end; never spin on it
                return
            *lines, self.pending = (self.pending + chunk).split(b"\n")
            for line in lines:
                if line.strip():
                    self.handle(line.decode(), on_ready)
            for origin in [o for o, rest in self.waiting.items() if not rest]:
                del self.waiting[origin]
                self.tell(origin, "done")

    def handle(self, message: str, on_ready: Callable[[], None]) -> None:
        command, _, rest = message.partition(" ")
        pid_text, _, detail = rest.partition(" ")
        pid = int(pid_text)
        worker = self.by_pid(pid)
        if command == "error":
            if not self.started:
                raise LoopwrightError(f"a worker failed to start: {detail}")
            if worker is not None:
                worker.last_error = detail
        elif command == "ready" and worker is not None:
            worker.ready_at = time.monotonic()
            worker.start_failures = 0
            if not self.started and all(w.ready_at is not None for w in self.workers):
                self.started = True
                on_ready()
            elif self.started:
                log.warning("worker %d is serving again (pid %d)", worker.index, pid)
        elif command == "reload":
            self.waiting[pid] = {w.proc.pid for w in self.workers if w.proc is not None and w.proc.pid != pid}
            for other in self.waiting[pid]:
                self.tell(other, f"reload {pid}")
        elif command == "reloaded":  # reloaded ORIGIN WORKER
            self.waiting.get(pid, set()).discard(int(detail))

    def reap(self) -> None:
        """Notice dead workers: schedule a restart, or give up."""
        for worker in self.workers:
            proc = worker.proc
            if proc is None or proc.poll() is None:
                continue
            worker.proc = None
            self.forget(proc.pid)
            code = proc.returncode
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            now = time.monotonic()
            if worker.ready_at is None:
                worker.start_failures += 1
                if worker.start_failures >= START_FAILURES_LIMIT:
                    why = worker.last_error or f"the last one {how}"
                    raise LoopwrightError(
                        f"worker {worker.index} failed to start {worker.start_failures} times in a row "
                        f"({why}); stopping the server"
                    )
            elif now - worker.ready_at >= STABLE_AFTER:
                worker.deaths = 0
            delay = min(RESTART_DELAY * 2**worker.deaths, RESTART_DELAY_MAX)
            worker.deaths += 1
            worker.restart_at = now + delay
            log.warning("worker %d (pid %d) %s; restarting it in %.1f s", worker.index, proc.pid, how, delay)

    def forget(self, pid: int) -> None:
        """A dead worker: drop its live metrics and stop waiting for its reloads."""
        from prometheus_client import multiprocess  # the [serve] extra, as the workers use it

        multiprocess.mark_process_dead(pid, self.env["PROMETHEUS_MULTIPROC_DIR"])
        self.waiting.pop(pid, None)
        for rest in self.waiting.values():
            rest.discard(pid)

    def close(self, timeout: float = 15.0) -> None:
        """Close every worker's stdin (a graceful stop: requests finish, logs are written), then wait."""
        procs = [w.proc for w in self.workers if w.proc is not None]
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
        os.close(self.reports)
        os.close(self.report_w)


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
    limits: ServerLimits | None = None,
    **options: Any,
) -> ServerHandle:
    """Serve an app (or a model URI / deployment, built with ``options``) from a background thread.

    Parameters
    ----------
    app:
        A :class:`~loopwright.serving.app.ServingApp` or any ASGI app, or what :func:`build_app` takes.
    host, port:
        Where to listen; port 0 picks a free port (see ``handle.url``).
    limits:
        Timeouts and the connection cap (default :class:`ServerLimits`'s).

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
    server = _server(app, host, bound, limits or ServerLimits())
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
