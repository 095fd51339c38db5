"""AWS on one machine: moto's server in this process, and a proxy that answers Lambda for it.

(The tables are not here: they run on DynamoDB Local, ``infra.local.dynamodb_local``.)
``LocalAws.start()`` runs moto's server on a free port of 127.0.0.1 and, on another, a small
proxy. ``MOTO_PORT`` points moto's Step Functions interpreter at the proxy, so every Lambda task
of an execution arrives there as ``POST /2015-03-31/functions/{name}/invocations``: the proxy
calls the real handler in-process (``LocalFunctions``) and passes every other request to moto
unchanged. Execution is switched on through ``/moto-api/config``. The facts this relies on were
measured on moto 5.2.5 (DESIGN.md, "Running the state machine locally"). ``start()`` applies
``MotoPatches`` and ``stop()`` undoes them.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.config import Config

from infra.local.lambdas import FunctionError, UnknownFunction
from infra.local.moto_patches import MotoPatches
from infra.local.template import ACCOUNT, REGION

HOST = "127.0.0.1"
_INVOKE_PREFIX = "/2015-03-31/functions/"
_INVOKE_SUFFIX = "/invocations"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}

# The process-wide AWS settings of the local stack: fake credentials, one region, moto's endpoint.
BASE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "MOTO_ACCOUNT_ID": ACCOUNT,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "AWS_XRAY_SDK_ENABLED": "false",
}

Invoker = Callable[[str, bytes], bytes]


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # 48 ms -> 4 ms per forwarded request
    server: _ProxyServer

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        if self.command == "POST" and path.startswith(_INVOKE_PREFIX) and path.endswith(_INVOKE_SUFFIX):
            name = urllib.parse.unquote(path[len(_INVOKE_PREFIX) : -len(_INVOKE_SUFFIX)])
            self._invoke(name, body)
            return
        self._forward(body)

    def _invoke(self, name: str, body: bytes) -> None:
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/json"}
        try:
            result = self.server.invoke(name, body)
        except UnknownFunction:
            headers["x-amzn-ErrorType"] = "ResourceNotFoundException"
            message = json.dumps({"Type": "User", "Message": f"Function not found: {name}"}).encode()
            self._reply(404, headers, message)
            return
        except FunctionError as error:
            headers["X-Amz-Function-Error"] = "Unhandled"
            self._reply(200, headers, json.dumps(error.payload()).encode())
            return
        headers["X-Amz-Executed-Version"] = "$LATEST"
        self._reply(200, headers, result)

    def _forward(self, body: bytes) -> None:
        connection = self.server.upstream()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.server.drop_upstream()
            raise
        out = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
        self._reply(response.status, out, data)

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:  # quiet: no line per request
        return


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int, invoke: Invoker) -> None:
        super().__init__((HOST, 0), _ProxyHandler)
        self.upstream_port = upstream_port
        self.invoke = invoke
        self._local = threading.local()

    def upstream(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(HOST, self.upstream_port, timeout=300)
            self._local.connection = connection
        return connection

    def drop_upstream(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


class _MotoServer:
    """moto's WSGI app on a werkzeug server of our own (as ``ThreadedMotoServer`` builds it), whose
    request handler sets TCP_NODELAY: moto's writes headers and body separately, so without it
    every AWS call waits out a delayed ACK (~40 ms; a sync step's 181 calls took 16 s)."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - moto loads only for the stack
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server  # noqa: PLC0415

        class NoDelayHandler(MotoRequestHandler):
            disable_nagle_algorithm = True

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(HOST, 0, app, threaded=True, request_handler=NoDelayHandler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class LocalAws:
    """moto's server and the Lambda proxy, on loopback; ``clients`` talk to moto directly."""

    def __init__(self) -> None:
        self._moto: _MotoServer | None = None
        self._patches = MotoPatches()
        self._proxy: _ProxyServer | None = None
        self._proxy_thread: threading.Thread | None = None
        self._invoke: Invoker | None = None
        self.port = 0
        self.proxy_port = 0

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> LocalAws:
        self._patches.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        # The interpreter logs every failed state with its whole parse tree; the run records why.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        self._moto = _MotoServer()
        self.port = self._moto.port
        self._proxy = _ProxyServer(self.port, self._dispatch)
        self.proxy_port = int(self._proxy.server_address[1])
        self._proxy_thread = threading.Thread(
            target=self._proxy.serve_forever, name="lambda-proxy", daemon=True
        )
        self._proxy_thread.start()
        # The interpreter sends its Lambda calls to localhost:MOTO_PORT: the proxy.
        os.environ["MOTO_PORT"] = str(self.proxy_port)
        # moto's backends are process-wide: start from nothing, whatever ran before in this process.
        self.moto_api("reset", {})
        self.moto_api("config", {"stepfunctions": {"execute_state_machine": True}})
        return self

    def answer_lambda_with(self, invoke: Invoker) -> None:
        self._invoke = invoke

    def _dispatch(self, name: str, payload: bytes) -> bytes:
        if self._invoke is None:
            raise UnknownFunction(name)
        return self._invoke(name, payload)

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.shutdown()
            self._proxy.server_close()
            self._proxy = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        os.environ.pop("MOTO_PORT", None)
        self._patches.undo()

    def moto_api(self, path: str, body: Any | None = None, *, method: str | None = None) -> Any:
        """Call moto's own API (``/moto-api/<path>``): config, reset, SES's sent mail ..."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            data = json.dumps(body).encode() if body is not None else None
            connection.request(
                method or ("POST" if data is not None else "GET"), f"/moto-api/{path}", body=data
            )
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        if response.status >= 400:
            raise RuntimeError(f"moto-api {path}: HTTP {response.status}")
        return json.loads(raw) if raw.strip() else None

    def client(self, service: str) -> Any:
        make: Any = boto3.client  # the stubs type a client per literal name; this takes any name
        return make(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
        )
