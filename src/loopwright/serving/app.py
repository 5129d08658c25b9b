"""The serving ASGI app: protocols, validation, batching, routing, hot swap, metrics, logs.

A lean hand-rolled ASGI router rather than FastAPI/Starlette routing: on a 2-core machine the
framework's per-request work (request/response objects, dependency resolution, pydantic) costs as
much as a small model's ``predict``. Predict routes go straight from the ASGI scope to the
batcher: read the body, parse with orjson, validate into a numpy array, await the batch, dump with
orjson. The app is a plain ASGI callable, so uvicorn runs it and a user's Starlette/FastAPI app can
mount it.

Routes
------
Open Inference Protocol v2: ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``,
``/v2/models/{name}[/versions/{v}]``, ``.../ready``, ``POST .../infer``.
MLflow scoring server: ``POST /invocations``, ``GET /ping``, ``/health``, ``/version``.
Loopwright: ``POST /endpoints/{name}/predict``, ``POST /endpoints/{name}/feedback``,
``GET /endpoints[/{name}]``, ``POST /admin/reload``, ``GET /metrics``.
OpenAI: ``POST /v1/embeddings``, ``POST /v1/chat/completions``, ``GET /v1/models``
(:mod:`loopwright.serving.openai`).
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson

from loopwright._version import __version__
from loopwright.auth import TokenAuthenticator, require
from loopwright.config import get_settings
from loopwright.errors import InvalidInput, NotFound, Unauthenticated
from loopwright.serving import openai
from loopwright.serving.deployment import Deployment, EndpointSpec, ModelSpec
from loopwright.serving.endpoint import Arrivals, Endpoint, Route, Slot
from loopwright.serving.feedback import feedback_records, store_feedback
from loopwright.serving.hotswap import AliasWatcher, Swap
from loopwright.serving.inputs import InputSchema, ModelInput, encode_output
from loopwright.serving.invocations import body_kind, decode_invocations, decode_table, invocations_error
from loopwright.serving.metrics import ServingMetrics, VersionMetrics
from loopwright.serving.oip import (
    EXTENSIONS,
    OutputRequest,
    TensorError,
    decode_infer,
    encode_infer,
    model_metadata,
    output_request,
    split_binary,
)
from loopwright.serving.prediction_log import DEFAULT_SPOOL_BYTES, PredictionLog
from loopwright.serving.request_ids import RecentRequestIds
from loopwright.serving.responses import HttpError, dumps, error_body, send_response
from loopwright.serving.sources import ModelSource
from loopwright.serving.spool import spool_root
from loopwright.serving.types import ModelLike, Receive, Scope, Send
from loopwright.tracking.client import Client, get_client
from loopwright.uris import parse_model_uri

log = logging.getLogger("loopwright.serving")
access_log = logging.getLogger("loopwright.serving.access")

DEFAULT_MAX_BODY = 10 * 1024 * 1024
# bodies from this size on are parsed and validated in a thread, one at a time (see _decode)
DECODE_IN_THREAD_BYTES = 256 * 1024
SHADOW_BACKLOG_ROWS = 4096  # shadow copies beyond this many queued rows are dropped, never waited for
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
Handler = Callable[..., Awaitable[Answer]]
Redecode = Callable[[InputSchema], ModelInput]
T = TypeVar("T")


class Request:
    """What a handler needs from one HTTP request, read from the ASGI scope once."""

    __slots__ = (
        "answer_type",
        "authorization",
        "client_id",
        "content_encoding",
        "content_length",
        "content_type",
        "endpoint",
        "inference_header",
        "method",
        "path",
        "protocol",
        "receive",
        "request_id",
        "routing_key",
        "rows",
        "slot",
        "t0",
        "ts_ms",
    )

    def __init__(self, scope: Scope, receive: Receive, path: str, t0: float):
        self.receive = receive
        self.method: str = scope["method"]
        self.path = path
        self.t0 = t0
        self.ts_ms = time.time_ns() // 1_000_000
        self.content_type: bytes | None = None
        self.content_length: int | None = None
        self.content_encoding: bytes | None = None
        self.authorization: bytes | None = None
        self.routing_key: str | None = None
        self.inference_header: int | None = None
        request_id = None
        for key, value in scope["headers"]:
            if key == b"content-type":
                self.content_type = value
            elif key == b"content-length":
                self.content_length = int(value) if value.isdigit() else None
            elif key == b"authorization":
                self.authorization = value
            elif key == b"content-encoding":
                self.content_encoding = value
            elif key == b"x-routing-key":
                self.routing_key = value.decode("latin-1")
            elif key == b"x-request-id":
                request_id = value.decode("latin-1")
            elif key == b"inference-header-content-length":
                self.inference_header = int(value) if value.isdigit() else -1
        # a client's id is kept (and must be unique per endpoint); a missing or malformed one is replaced
        self.client_id = bool(request_id and _REQUEST_ID.fullmatch(request_id))
        self.request_id = request_id if request_id and self.client_id else uuid.uuid4().hex
        self.endpoint: str | None = None
        self.slot: Slot | None = None
        self.protocol: str | None = None
        self.rows = 0
        self.answer_type = b"application/json"  # a handler answering otherwise sets it


class ServingApp:
    """The ASGI app serving one :class:`~loopwright.serving.deployment.Deployment`.

    Models are loaded (and warmed) when the app is built, so a bad URI fails at once.

    Parameters
    ----------
    deployment:
        A deployment, a model URI or a deployment YAML path.
    token:
        Bearer token of the ``predict`` role (predict and feedback routes, and admin routes when
        no admin token is set); ``None`` reads ``LOOPWRIGHT_TOKEN``; ``""`` turns auth off.
    admin_token:
        Bearer token of the ``admin`` role (``/admin/*``; it may also predict); ``None`` reads
        ``LOOPWRIGHT_ADMIN_TOKEN``. With it set, the predict token can no longer reload.
    store_tokens:
        Also accept tokens from the store (``loopwright tokens create``): any active one, ``viewer``
        and up, may predict and send feedback; ``maintainer`` and up may use ``/admin/*``. Turns auth
        on for every route even without a fixed token. A lookup is reused for 1 s per token (a revoked
        token stops working within a second) and made in a thread, never on the event loop.
    max_body_bytes:
        Larger request bodies get 413.
    poll_interval:
        Seconds between registry polls for served aliases (hot swap).
    prefer_onnx:
        Serve each package's ONNX variant when it has one.
    log_predictions:
        Keep the prediction log (``lw.list_predictions``).
    log_queue_rows:
        Rows the prediction log holds in memory before dropping (and counting) new requests.
    log_sync:
        Write each request to the prediction log's on-disk spool (fsync'd) before answering it:
        a kill loses nothing answered. Default: spooled within 0.5 s (a SIGKILL loses at most the
        requests answered in the last second).
    log_spool_bytes:
        Bound of the prediction log's spool per endpoint (``LOOPWRIGHT_HOME/spool``), where rows
        wait while the store cannot take them; past it the oldest are dropped and counted as lost.
    client:
        Store and blob store for the prediction log and feedback (default: the environment's).
    source:
        Model loader (default: the registry and model packages of the environment).
    freeze_gc:
        At startup, move every object alive (libraries, loaded models) out of the cyclic garbage
        collector's reach (``gc.freeze()``, process-wide), so full collections stop scanning them
        and stalling requests. ``loopwright serve`` / :func:`~loopwright.serving.server.serve` turn it
        on in their own processes; an app mounted in yours leaves your process alone unless asked.
    """

    def __init__(
        self,
        deployment: Deployment | str,
        *,
        token: str | None = None,
        admin_token: str | None = None,
        store_tokens: bool = False,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        poll_interval: float = 2.0,
        prefer_onnx: bool = False,
        log_predictions: bool = True,
        log_queue_rows: int = 200_000,
        log_sync: bool = False,
        log_spool_bytes: int = DEFAULT_SPOOL_BYTES,
        client: Client | None = None,
        source: ModelSource | None = None,
        freeze_gc: bool = False,
    ):
        self.deployment = Deployment.load(deployment)
        self.freeze_gc = freeze_gc
        self.source = source or ModelSource(prefer_onnx=prefer_onnx)
        settings = get_settings()
        self.token = (settings.token if token is None else token) or None
        self.admin_token = (settings.admin_token if admin_token is None else admin_token) or None
        predict = [t for t in (self.token, self.admin_token) if t]
        admin = [self.admin_token] if self.admin_token else predict
        # accepted fixed bearer tokens per role; an empty list means the role is open unless store
        # tokens are on
        self._accepted: dict[str, list[bytes]] = {
            "predict": [t.encode() for t in predict] if self.token else [],
            "admin": [t.encode() for t in admin],
        }
        self._client = client
        self.tokens = TokenAuthenticator(self._log_client().store) if store_tokens else None
        self.max_body_bytes = max_body_bytes
        self._large_decodes = asyncio.Semaphore(1)
        # set by a worker of serve(workers=N): makes the other workers reload too, and waits
        self.peers_reload: Callable[[], None] | None = None
        self.metrics = ServingMetrics()
        self.endpoints: dict[str, Endpoint] = {}
        for spec in self.deployment.endpoints:
            self.endpoints[spec.name] = self._build_endpoint(spec)
        self.default_endpoint = self.endpoints[self.deployment.endpoints[0].name]
        self._request_ids = {name: RecentRequestIds() for name in self.endpoints}
        self.prediction_log = (
            PredictionLog(
                self._log_client,
                max_queue_rows=log_queue_rows,
                sync=log_sync,
                spool_dir=self._spool_dir(),
                spool_max_bytes=log_spool_bytes,
                on_dropped=lambda e: self.metrics.log_dropped.labels(e).inc(),
                on_rows=self._count_log_rows,
            )
            if log_predictions
            else None
        )
        targets = [
            (endpoint, route)
            for endpoint in self.endpoints.values()
            for route in [*endpoint.routes, *([endpoint.shadow] if endpoint.shadow else [])]
            if route.follows_alias
        ]
        self.watcher = AliasWatcher(
            targets,
            self.source,
            self._make_slot,
            self._retire,
            poll_interval,
            on_failure=lambda e: self.metrics.swap_failures.labels(e).inc(),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._unrouted: dict[str, VersionMetrics] = {}
        self._static: dict[str, dict[str, Handler]] = {
            "/v2": {"GET": self._server_metadata},
            "/v2/health/live": {"GET": self._live},
            "/v2/health/ready": {"GET": self._ready},
            "/invocations": {"POST": self._invocations},
            "/ping": {"GET": self._ping},
            "/health": {"GET": self._ping},
            "/version": {"GET": self._version},
            "/metrics": {"GET": self._metrics},
            "/endpoints": {"GET": self._list_endpoints},
            "/admin/reload": {"POST": self._reload},
            "/v1/embeddings": {"POST": self._openai_embeddings},
            "/v1/chat/completions": {"POST": self._openai_chat},
            "/v1/models": {"GET": self._openai_models},
        }
        self._patterns: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(r"/endpoints/([^/]+)/predict"), {"POST": self._predict}),
            (re.compile(r"/v2/models/([^/]+)/infer"), {"POST": self._infer}),
            (re.compile(r"/v2/models/([^/]+)/versions/([^/]+)/infer"), {"POST": self._infer}),
            (re.compile(r"/endpoints/([^/]+)/feedback"), {"POST": self._feedback}),
            (re.compile(r"/endpoints/([^/]+)"), {"GET": self._show_endpoint}),
            (re.compile(r"/v2/models/([^/]+)"), {"GET": self._model_metadata}),
            (re.compile(r"/v2/models/([^/]+)/ready"), {"GET": self._model_ready}),
            (re.compile(r"/v2/models/([^/]+)/versions/([^/]+)"), {"GET": self._model_metadata}),
            (re.compile(r"/v2/models/([^/]+)/versions/([^/]+)/ready"), {"GET": self._model_ready}),
        ]

    # -- building and swapping ---------------------------------------------------------------
    def _build_endpoint(self, spec: EndpointSpec) -> Endpoint:
        arrivals = Arrivals()
        unset: list[str] = []  # why each dormant route has nothing to serve yet
        routes = [self._initial_route(spec, r.model, r.weight, "route", arrivals, unset) for r in spec.routes]
        if all(r.slot is None for r in routes):
            raise NotFound(f"endpoint {spec.name!r} has nothing to serve: {'; '.join(unset)}")
        shadow = None
        if spec.shadow is not None:
            shadow = self._initial_route(spec, spec.shadow, 0.0, "shadow", arrivals, unset)
        return Endpoint(spec.name, routes, shadow, spec.batching, arrivals)

    def _initial_route(
        self,
        spec: EndpointSpec,
        model: ModelSpec,
        weight: float,
        role: str,
        arrivals: Arrivals,
        unset: list[str],
    ) -> Route:
        loaded: ModelLike
        name: str | None
        if isinstance(model, str) and openai.is_bundled(model):
            bundled = openai.bundled_model(model)
            bundled.warm_up()
            uri, loaded, name, version = None, bundled, bundled.name, None
        elif isinstance(model, str):
            uri = parse_model_uri(model)
            try:
                version = self.source.current_version(uri)
            except NotFound as error:
                if uri.alias is None:
                    raise
                # an unset alias (a canary between canaries): dormant until the alias is set
                log.info("endpoint %s: %s is not set; its route waits for it", spec.name, model)
                unset.append(f"{model}: {error}")
                return Route(None, weight, uri)
            loaded = self.source.load(uri, version)
            name = uri.name
        else:
            uri, loaded = None, model
            name, version = getattr(model, "name", None), getattr(model, "version", None)
        slot = Slot(spec.name, loaded, name, version, spec.batching, self.metrics, arrivals, role)
        self.metrics.served.labels(spec.name, slot.label, role).set(1)
        return Route(slot, weight, uri)

    def _make_slot(self, endpoint: Endpoint, route: Route, model: ModelLike, version: int | None) -> Slot:
        role = "shadow" if route is endpoint.shadow else "route"
        name = route.uri.name if route.uri else None
        slot = Slot(
            endpoint.name, model, name, version, endpoint.batching, self.metrics, endpoint.arrivals, role
        )
        self.metrics.served.labels(endpoint.name, slot.label, role).set(1)
        return slot

    def _retire(self, slot: Slot) -> None:
        """Called by the watcher thread after a switch: close ``slot`` once its requests are done."""
        self.metrics.swaps.labels(slot.endpoint).inc()
        if not any(
            s.label == slot.label
            for e in self.endpoints.values()
            for s in e.slots()
            if s.endpoint == slot.endpoint
        ):
            self.metrics.served.labels(slot.endpoint, slot.label, slot.role).set(0)
        slot.retire(self._loop)

    def reload(self) -> list[Swap]:
        """Poll every served alias now and swap what moved (``POST /admin/reload``)."""
        return self.watcher.check_now()

    def _log_client(self) -> Client:
        return self._client if self._client is not None else get_client()

    def _spool_dir(self) -> Path:
        """The prediction log's spool for the store it writes to (known without reaching it)."""
        if self._client is not None:
            home = self._client.settings.home
            return spool_root(home, self._client.store.uri, str(self._client.blobs.root))
        settings = get_settings()
        return spool_root(settings.home, settings.store_uri, settings.artifact_uri)

    def _count_log_rows(self, event: str, endpoint: str, rows: int) -> None:
        if event == "written":
            self.metrics.log_written.labels(endpoint).inc(rows)
        else:
            self.metrics.log_rows[event].labels(endpoint).inc(rows)

    def start(self) -> None:
        """Bind to the running loop and start the alias watcher (lifespan startup or first request)."""
        self._loop = asyncio.get_running_loop()
        # Libraries and loaded models are hundreds of thousands of long-lived objects; without
        # freezing them every full collection scans them all and stalls requests 100-250 ms.
        if self.freeze_gc:
            gc.freeze()
            for endpoint in self.endpoints.values():  # process-wide settings, only in our own process
                for slot in endpoint.slots():
                    setup = getattr(slot.model, "own_process", None)
                    if callable(setup):
                        setup()
        self.watcher.start()
        if self.prediction_log is not None:
            self.prediction_log.start()  # writes what an earlier run left in the spool

    def close(self) -> None:
        """Stop polling, write the prediction log, close the model threads."""
        self._closing = True
        self.watcher.stop()
        if self.prediction_log is not None:
            self.prediction_log.close()
        for endpoint in self.endpoints.values():
            for slot in endpoint.slots():
                slot.close()

    # -- ASGI --------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        if self._loop is None:
            self.start()
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        req = Request(scope, receive, path, t0)
        try:
            handler, args = self._route(req)
            status, body, headers = await handler(req, *args)
            content_type = req.answer_type
        except Exception as error:
            content_type = b"application/json"
            if req.protocol == "openai" or path.startswith("/v1/"):
                answer = openai.openai_error_body
            else:
                answer = invocations_error if req.protocol == "invocations" else error_body
            status, body = answer(error, req.request_id)
            headers = error.headers if isinstance(error, HttpError) else []
            if req.slot is not None:  # the model that failed still names itself
                headers.append((b"x-model-version", req.slot.label_bytes))
            if status == 500:
                log.error("request %s to %s failed", req.request_id, path, exc_info=error)
        headers.append((b"x-request-id", req.request_id.encode()))
        await send_response(send, status, body, headers, content_type)
        self._account(req, status)

    def _route(self, req: Request) -> tuple[Handler, tuple[str, ...]]:
        methods = self._static.get(req.path)
        args: tuple[str, ...] = ()
        if methods is None:
            for pattern, candidate in self._patterns:
                m = pattern.fullmatch(req.path)
                if m:
                    methods, args = candidate, m.groups()
                    break
            else:
                return self._no_route, ()
        # HEAD is GET without the body (probes use it): uvicorn drops the body and keeps the headers
        handler = methods.get("GET" if req.method == "HEAD" else req.method)
        if handler is None:
            allowed = [*methods, "HEAD"] if "GET" in methods else list(methods)
            raise HttpError(
                405,
                f"{req.method} is not allowed on {req.path}; use {', '.join(allowed)}",
                [(b"allow", ", ".join(allowed).encode())],
            )
        return handler, args

    def _account(self, req: Request, status: int) -> None:
        """Metrics and the access log, after the response is sent."""
        seconds = time.perf_counter() - req.t0
        if req.protocol is not None and req.endpoint is not None:
            metrics = req.slot.metrics if req.slot is not None else self._unrouted_metrics(req.endpoint)
            metrics.answered(req.protocol, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                orjson.dumps(
                    {
                        "ts": req.ts_ms,
                        "request_id": req.request_id,
                        "method": req.method,
                        "path": req.path,
                        "status": status,
                        "latency_ms": round(seconds * 1000, 3),
                        "endpoint": req.endpoint,
                        "model_version": req.slot.version if req.slot is not None else None,
                        "rows": req.rows,
                    }
                ).decode()
            )

    async def _no_route(self, req: Request) -> Answer:
        await self._authorize(req)  # with auth on, only a token holder learns which paths exist
        raise HttpError(404, f"no route {req.path!r}; see GET /endpoints and /v2/models/{{name}}")

    def _unrouted_metrics(self, endpoint: str) -> VersionMetrics:
        metrics = self._unrouted.get(endpoint)
        if metrics is None:
            metrics = self._unrouted[endpoint] = self.metrics.for_version(endpoint, "")
        return metrics

    # -- request helpers ---------------------------------------------------------------------
    def _endpoint(self, name: str) -> Endpoint:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise NotFound(f"no endpoint or model named {name!r}; serving {sorted(self.endpoints)}")
        return endpoint

    async def _authorized_endpoint(self, req: Request, name: str, protocol: str | None = None) -> Endpoint:
        """Authenticate, then look the endpoint up: a 404 before the token check would tell anyone
        which endpoints exist."""
        known = self.endpoints.get(name)
        if known is not None and protocol is not None:
            req.endpoint, req.protocol = known.name, protocol  # refusals count in its metrics
        await self._authorize(req)
        return self._endpoint(name)

    async def _authorize(self, req: Request, role: str = "predict") -> None:
        accepted = self._accepted[role]
        if not accepted and self.tokens is None:
            return
        scheme, _, credentials = (req.authorization or b"").partition(b" ")
        if scheme.lower() != b"bearer":  # auth schemes are case-insensitive (RFC 7235)
            raise HttpError(
                401,
                "a token is required: send 'Authorization: Bearer <token>'",
                [(b"www-authenticate", b"Bearer")],
            )
        given = credentials.strip(b" ")
        # compare against every accepted token (constant time each) so timing reveals nothing
        if not any([hmac.compare_digest(given, expected) for expected in accepted]):
            if role == "admin" and any(
                hmac.compare_digest(given, expected) for expected in self._accepted["predict"]
            ):
                raise HttpError(403, "this token may predict but not administer: use the admin token")
            if self.tokens is not None:
                await self._authorize_store_token(given, role)
                return
            raise HttpError(
                403,
                "the token is not accepted: send 'Authorization: Bearer <token>' with the server's token",
                [(b"www-authenticate", b'Bearer error="invalid_token"')],
            )

    async def _authorize_store_token(self, given: bytes, role: str) -> None:
        """A token from the store: the cached principal on the event loop, else a lookup in a thread."""
        assert self.tokens is not None
        token = given.decode("latin-1")
        principal = self.tokens.cached(token)
        if principal is None:
            try:
                principal = await asyncio.to_thread(self.tokens.authenticate, token)
            except Unauthenticated as error:
                raise HttpError(
                    401, str(error), [(b"www-authenticate", b'Bearer error="invalid_token"')]
                ) from None
        require(principal, "maintainer" if role == "admin" else "viewer")  # else PermissionDenied: 403

    async def _body(self, req: Request, endpoint: Endpoint | None) -> bytes:
        encoding = req.content_encoding
        if encoding is not None and encoding.strip().lower() not in (b"", b"identity"):
            raise HttpError(
                415,
                f"Content-Encoding {encoding.decode('latin-1')!r} is not supported; send the body uncompressed",
                [(b"accept-encoding", b"identity")],
            )
        limit = self.max_body_bytes
        if req.content_length is not None and req.content_length > limit:
            raise HttpError(413, f"request body of {req.content_length} bytes is over the {limit}-byte limit")
        message = await req.receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise HttpError(413, f"request body is over the {limit}-byte limit")
            return body
        # a body in several chunks: batchers of this endpoint may wait for it (max_latency_ms)
        if endpoint is not None:
            endpoint.arrivals.count += 1
        try:
            chunks = [body]
            size = len(body)
            while message.get("more_body", False):
                message = await req.receive()
                if message["type"] == "http.disconnect":
                    raise HttpError(400, "client disconnected while sending the body")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise HttpError(413, f"request body is over the {limit}-byte limit")
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            if endpoint is not None:
                endpoint.arrivals.count -= 1
                endpoint.poke()

    async def _json_body(self, req: Request, endpoint: Endpoint | None) -> bytes:
        ct = req.content_type
        if ct is not None and not ct.lower().startswith(b"application/json"):
            raise HttpError(
                415, f"content type {ct.decode('latin-1')!r} is not supported; send application/json"
            )
        return await self._body(req, endpoint)

    async def _json(self, req: Request, endpoint: Endpoint | None) -> Any:
        body = await self._json_body(req, endpoint)
        return await self._decode(len(body), partial(_parse_json, body))

    async def _decode(self, size: int, decode: Callable[[], T]) -> T:
        """Parse and validate a body of ``size`` bytes: a small one right here, a large one in a thread,
        one at a time. A 10 MB body takes a few hundred ms and ~60 MB of Python objects to decode: on
        the event loop four of them stalled health probes for seconds, and decoded side by side
        their objects added up."""
        if size < DECODE_IN_THREAD_BYTES:
            return decode()
        async with self._large_decodes:
            return await asyncio.to_thread(decode)

    async def _run(
        self,
        req: Request,
        endpoint: Endpoint,
        slot: Slot,
        data: ModelInput,
        redecode: Callable[[InputSchema], ModelInput] | None,
        logged: ModelInput | None = None,
    ) -> Any:
        """Submit to the slot's batcher (and a copy to the shadow), await, log (``logged`` is what the
        prediction log keeps when it is not ``data``)."""
        ids = self._request_ids[endpoint.name] if req.client_id else None
        if ids is not None and not ids.claim(req.request_id):
            raise HttpError(
                409,
                f"request id {req.request_id!r} was already used on endpoint {endpoint.name!r}: feedback "
                "joins predictions on it, so send a new X-Request-ID (or none, and the server assigns one)",
            )
        req.slot = slot
        req.rows = data.rows
        slot.enter()
        try:
            future = slot.batcher.submit(data.data, data.rows)
            if redecode is not None and endpoint.shadow is not None:
                self._shadow(req, endpoint, slot, data, redecode)
            output = await future
        except BaseException:
            if ids is not None:  # nothing was predicted: the id may be used again
                ids.release(req.request_id)
            raise
        finally:
            slot.leave()
        if self.prediction_log is not None:
            spooled = self.prediction_log.record(
                endpoint.name,
                req.request_id,
                req.ts_ms,
                slot.model,
                slot.name,
                slot.version,
                (time.perf_counter() - req.t0) * 1000.0,
                data if logged is None else logged,
                output,
            )
            # the synchronous log: the answer waits for the spool, and says so when it failed
            if spooled is not None and req.request_id in await asyncio.wrap_future(spooled):
                raise HttpError(
                    503,
                    "the prediction log cannot record this request (synchronous log): "
                    f"{self.prediction_log.degraded or 'its queue is full'}",
                )
        return output

    def _shadow(
        self,
        req: Request,
        endpoint: Endpoint,
        primary: Slot,
        data: ModelInput,
        redecode: Callable[[InputSchema], ModelInput],
    ) -> None:
        """Fire and forget: a copy to the shadow model, whose answer is only logged."""
        assert endpoint.shadow is not None
        shadow = endpoint.shadow.slot
        if shadow is None:  # its alias is unset: nothing to compare with
            return
        counter = self.metrics.shadow
        if shadow.batcher.queued_rows > SHADOW_BACKLOG_ROWS:
            counter.labels(endpoint.name, shadow.label, "dropped").inc()
            return
        try:
            copy = data if shadow.schema.key == primary.schema.key else redecode(shadow.schema)
            future = shadow.batcher.submit(copy.data, copy.rows)
            shadow.enter()
        except Exception:
            counter.labels(endpoint.name, shadow.label, "error").inc()
            return
        future.add_done_callback(
            partial(self._shadow_done, req.request_id, req.ts_ms, req.t0, endpoint.name, shadow, copy)
        )

    def _shadow_done(
        self,
        request_id: str,
        ts_ms: int,
        t0: float,
        endpoint: str,
        shadow: Slot,
        data: ModelInput,
        future: asyncio.Future[Any],
    ) -> None:
        shadow.leave()
        error = future.exception()
        self.metrics.shadow.labels(endpoint, shadow.label, "error" if error else "ok").inc()
        if error is None and self.prediction_log is not None:
            latency = (time.perf_counter() - t0) * 1000.0
            self.prediction_log.record(
                endpoint,
                request_id,
                ts_ms,
                shadow.model,
                shadow.name,
                shadow.version,
                latency,
                data,
                future.result(),
                shadow=True,
            )

    # -- predict routes ----------------------------------------------------------------------
    async def _predict(self, req: Request, name: str) -> Answer:
        endpoint = await self._authorized_endpoint(req, name, "predict")
        body = await self._json_body(req, endpoint)
        slot = endpoint.pick(req.routing_key)
        shadowed = endpoint.shadow is not None

        def decode() -> tuple[ModelInput, Redecode | None]:
            doc = _parse_json(body)
            if not isinstance(doc, dict) or "instances" not in doc:
                raise InvalidInput('the body must be {"instances": [{column: value, ...}, ...]}')
            instances = doc["instances"]
            # the parsed records outlive decoding only when a shadow needs them
            redecode = (lambda schema: schema.from_records(instances)) if shadowed else None
            return slot.schema.from_records(instances), redecode

        data, redecode = await self._decode(len(body), decode)
        output = await self._run(req, endpoint, slot, data, redecode)
        body = dumps(
            {
                "predictions": encode_output(output),
                "model_name": slot.name,
                "model_version": slot.version,
                "request_id": req.request_id,
            }
        )
        return 200, body, [(b"x-model-version", slot.label_bytes)]

    async def _infer(self, req: Request, name: str, version: str | None = None) -> Answer:
        endpoint = await self._authorized_endpoint(req, name, "oip")
        binary = req.inference_header  # Triton's binary tensor extension
        body = await (self._json_body(req, endpoint) if binary is None else self._body(req, endpoint))
        if version is None:
            slot = endpoint.pick(req.routing_key)
        else:
            found = endpoint.slot_for_version(version)
            if found is None:
                raise NotFound(f"model {name!r} has no version {version!r} being served")
            slot = found
        shadowed = version is None and endpoint.shadow is not None

        def decode() -> tuple[ModelInput, Redecode | None, Any, OutputRequest]:
            doc = _parse_json(body) if binary is None else split_binary(body, binary)
            data = decode_infer(doc, slot.schema)
            redecode = (lambda schema: decode_infer(doc, schema)) if shadowed else None
            return data, redecode, doc.get("id"), output_request(doc)

        data, redecode, given, asked = await self._decode(len(body), decode)
        proba = "predict_proba" in asked.names
        if proba and not slot.has_proba:
            raise TensorError(f"unknown output 'predict_proba': model {name!r} has no class probabilities")
        output = await self._run(req, endpoint, slot, data, redecode)
        # probabilities only when asked: a second model call that /predict and /invocations never pay
        extra = {"predict_proba": await asyncio.to_thread(slot.predict_proba, data.data)} if proba else None
        response_id = given if isinstance(given, str) else req.request_id
        answer, headers = encode_infer(output, endpoint.name, slot.label, response_id, asked, extra)
        if headers:
            req.answer_type = b"application/octet-stream"
        return 200, answer, [*headers, (b"x-model-version", slot.label_bytes)]

    async def _invocations(self, req: Request) -> Answer:
        endpoint = self.default_endpoint
        req.endpoint, req.protocol = endpoint.name, "invocations"
        await self._authorize(req)
        slot = endpoint.pick(req.routing_key)
        kind = body_kind(req.content_type)  # 415 before reading the body
        raw = await self._body(req, endpoint)
        shadowed = endpoint.shadow is not None

        def decode() -> tuple[ModelInput, Redecode | None]:
            if kind != "json":
                redecode_table = partial(decode_table, raw, kind) if shadowed else None
                return decode_table(raw, kind, slot.schema), redecode_table
            doc = _parse_json(raw)
            redecode = partial(decode_invocations, doc) if shadowed else None
            return decode_invocations(doc, slot.schema), redecode

        data, redecode = await self._decode(len(raw), decode)
        output = await self._run(req, endpoint, slot, data, redecode)
        return 200, dumps({"predictions": encode_output(output)}), [(b"x-model-version", slot.label_bytes)]

    async def _feedback(self, req: Request, name: str) -> Answer:
        endpoint = await self._authorized_endpoint(req, name)
        doc = await self._json(req, None)
        if not isinstance(doc, dict) or "request_id" not in doc or "label" not in doc:
            raise InvalidInput('the body must be {"request_id": "...", "label": value or [values per row]}')
        records = feedback_records(endpoint.name, doc["request_id"], doc["label"])
        await asyncio.to_thread(store_feedback, self._log_client, records)
        return 200, dumps({"request_id": doc["request_id"], "rows": len(records)}), []

    # -- OpenAI-compatible routes -----------------------------------------------------------
    async def _openai_slot(self, req: Request, model: str, task: str) -> tuple[Endpoint, Slot]:
        """The endpoint named ``model`` and the slot answering, which must do ``task``."""
        endpoint = self.endpoints.get(model)
        if endpoint is None or not any(openai.task_of(s.model) for s in endpoint.slots()):
            served = [name for name, _ in self._openai_served()]
            raise HttpError(404, f"no model {model!r} is served for the OpenAI routes; serving {served}")
        slot = endpoint.pick(req.routing_key)
        if openai.task_of(slot.model) != task:
            raise HttpError(
                400, f"model {model!r} is a {openai.task_of(slot.model)} model, not a {task} model"
            )
        req.endpoint = endpoint.name
        return endpoint, slot

    def _openai_served(self) -> list[tuple[str, str]]:
        out = []
        for endpoint in self.endpoints.values():
            tasks = [t for t in (openai.task_of(s.model) for s in endpoint.slots()) if t]
            if tasks:
                out.append((endpoint.name, tasks[0]))
        return out

    async def _openai_embeddings(self, req: Request) -> Answer:
        req.protocol = "openai"
        await self._authorize(req)
        body = await self._json_body(req, None)
        request = await self._decode(len(body), lambda: openai.parse_embeddings(_parse_json(body)))
        endpoint, slot = await self._openai_slot(req, request.model, "embeddings")
        texts = request.texts
        column = np.empty((len(texts), 1), dtype=object)  # the log keeps the texts as an ``input`` column
        column[:, 0] = texts
        output = await self._run(
            req,
            endpoint,
            slot,
            ModelInput(texts, len(texts)),
            None,
            ModelInput(column, len(texts), ("input",)),
        )
        vectors = np.asarray(output, dtype=np.float32)
        if vectors.ndim != 2:
            raise HttpError(
                502, f"model {request.model!r} returned {vectors.ndim}-D output, not one vector per text"
            )
        counter = getattr(slot.model, "count_tokens", openai.count_words)
        answer = openai.embeddings_body(endpoint.name, vectors, sum(counter(texts)), request.base64)
        return 200, answer, [(b"x-model-version", slot.label_bytes)]

    async def _openai_chat(self, req: Request) -> Answer:
        req.protocol = "openai"
        await self._authorize(req)
        body = await self._json_body(req, None)
        request = await self._decode(len(body), lambda: openai.parse_chat(_parse_json(body)))
        endpoint, slot = await self._openai_slot(req, request.model, "chat")
        column = np.empty((1, 1), dtype=object)
        column[0, 0] = orjson.dumps(request.payload["messages"]).decode()
        output = await self._run(
            req, endpoint, slot, ModelInput([request.payload], 1), None, ModelInput(column, 1, ("messages",))
        )
        return (
            200,
            openai.chat_body(endpoint.name, request, output[0]),
            [(b"x-model-version", slot.label_bytes)],
        )

    async def _openai_models(self, req: Request) -> Answer:
        req.protocol = "openai"
        await self._authorize(req)
        return 200, openai.models_body(self._openai_served()), []

    # -- metadata, health, admin -------------------------------------------------------------
    async def _server_metadata(self, req: Request) -> Answer:
        return 200, dumps({"name": "loopwright", "version": __version__, "extensions": EXTENSIONS}), []

    async def _live(self, req: Request) -> Answer:
        return 200, b'{"live":true}', []

    async def _ready(self, req: Request) -> Answer:
        """Ready while serving; the body says what is degraded without failing the probe (a store
        outage failing every replica's readiness would take the whole service down)."""
        if self._closing:
            raise HttpError(503, "shutting down")
        answer: dict[str, Any] = {"ready": True, "prediction_log": "off"}
        if self.prediction_log is not None:
            problem = self.prediction_log.degraded
            answer["prediction_log"] = "degraded" if problem else "ok"
            if problem:
                answer["prediction_log_error"] = problem
        answer["routes_behind"] = [b.describe() for b in self.watcher.behind()]
        return 200, dumps(answer), []

    async def _ping(self, req: Request) -> Answer:
        return 200, b"\n", []

    async def _version(self, req: Request) -> Answer:
        req.answer_type = b"text/plain; charset=utf-8"  # the bare version, as MLflow's scoring server answers
        return 200, __version__.encode(), []

    async def _metrics(self, req: Request) -> Answer:
        for endpoint in self.endpoints.values():
            for slot in endpoint.slots():
                slot.metrics.queue.set(slot.batcher.queued_rows)
        if self.prediction_log is not None:
            self.metrics.log_degraded.set(1 if self.prediction_log.degraded else 0)
        body, _ = self.metrics.render()
        req.protocol = "metrics"
        req.answer_type = b"text/plain; version=0.0.4; charset=utf-8"
        return 200, body, []

    async def _model_metadata(self, req: Request, name: str, version: str | None = None) -> Answer:
        endpoint = self._endpoint(name)
        if version is None:
            active = endpoint.active_routes
            slot = active[0].slot if active else None
        else:
            slot = endpoint.slot_for_version(version)
        if slot is None:
            raise NotFound(f"model {name!r} has no version {version!r} being served")
        versions = list(dict.fromkeys(s.label for s in endpoint.slots()))
        flavor = getattr(slot.model, "flavor", None)
        classes = None
        if slot.has_proba:
            labels = getattr(slot.model, "classes", None)
            classes = len(labels) if labels is not None else -1
        return 200, dumps(model_metadata(endpoint.name, versions, slot.schema, flavor, classes)), []

    async def _model_ready(self, req: Request, name: str, version: str | None = None) -> Answer:
        endpoint = self._endpoint(name)
        if version is not None and endpoint.slot_for_version(version) is None:
            raise NotFound(f"model {name!r} has no version {version!r} being served")
        # not ready is a non-200 status: clients (tritonclient, probes) read the status, not the body
        if self._closing:
            raise HttpError(503, f"model {endpoint.name!r} is not ready: the server is shutting down")
        if not endpoint.active_routes:
            raise HttpError(503, f"model {endpoint.name!r} is not ready: every alias it follows is unset")
        return 200, dumps({"name": endpoint.name, "ready": True}), []

    async def _list_endpoints(self, req: Request) -> Answer:
        return 200, dumps({"endpoints": [e.describe() for e in self.endpoints.values()]}), []

    async def _show_endpoint(self, req: Request, name: str) -> Answer:
        return 200, dumps(self._endpoint(name).describe()), []

    async def _reload(self, req: Request) -> Answer:
        await self._authorize(req, role="admin")
        swaps = await asyncio.to_thread(self.reload)
        if self.peers_reload is not None:
            await asyncio.to_thread(self.peers_reload)
        answer: dict[str, Any] = {
            "swapped": [s.__dict__ for s in swaps],
            "endpoints": [e.describe() for e in self.endpoints.values()],
        }
        behind = self.watcher.behind()
        if not behind:
            return 200, dumps(answer), []
        # the reload did not reach what the registry names: say so (a 200 would read as done);
        # 503 when only the registry or artifact store was unreachable, 502 for a version that
        # cannot be served
        status = 503 if all(b.unavailable for b in behind) else 502
        message = "; ".join(
            f"{b.reason}; version {b.serving_version if b.serving_version is not None else 'none'} keeps serving"
            for b in behind
        )
        _, error = error_body(HttpError(status, f"reload failed: {message}"), req.request_id)
        return status, dumps({**orjson.loads(error), **answer, "failed": [b.describe() for b in behind]}), []


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise HttpError(400, f"malformed JSON: {error}") from None
