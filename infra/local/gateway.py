"""The local API Gateway: HTTP on 127.0.0.1 -> API Gateway (REST) proxy events -> the real handlers.

Routes come from the synthesized template (``AWS::ApiGateway::Resource`` path parts and
``AWS::ApiGateway::Method`` integrations), so the local gateway serves what the deployed API
serves: ``/v1/{proxy+}`` (any method) to the admin API behind the authorizer, ``POST
/webhooks/{connection_id}`` to the webhook ingest without one. A route behind an authorizer needs
a valid local dev token (``Authorization: Bearer ...``): without one the answer is API Gateway's
401 and no handler runs; with one the handler gets the claims in ``requestContext.authorizer``.

Methods: API Gateway (REST) has seven (``ANY`` is those seven); a request with any other (TRACE,
CONNECT, PROPFIND ...) never reaches an integration, API Gateway refuses it itself. Here it is
answered 405 with the path's methods in ``Allow`` and no function runs, as is a method the path
does not define (API Gateway answers that one with its MISSING_AUTHENTICATION_TOKEN response).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.local.lambdas import FunctionError, LocalFunctions
from infra.local.template import ACCOUNT, resources_of_type
from infra.local.tokens import DevTokens, InvalidToken, authorizer_context

HOST = "127.0.0.1"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_TEXT_TYPES = ("json", "text", "xml", "javascript", "html", "x-www-form-urlencoded", "yaml")
# The methods of API Gateway REST APIs (an ``ANY`` method is these).
METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


@dataclass(frozen=True)
class Route:
    method: str  # ANY or an HTTP method
    resource: str  # /v1/{proxy+}
    pattern: re.Pattern[str]
    function: str  # the function's logical id
    authorized: bool

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS if self.method == "ANY" else (self.method,)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method not in self.methods:
            return None
        found = self.pattern.fullmatch(path)
        return None if found is None else {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}


def _pattern(resource: str) -> re.Pattern[str]:
    out = ""
    for part in resource.strip("/").split("/"):
        if part.startswith("{") and part.endswith("+}"):
            out += f"/(?P<{part[1:-2]}>.+)"
        elif part.startswith("{") and part.endswith("}"):
            out += f"/(?P<{part[1:-1]}>[^/]+)"
        else:
            out += "/" + re.escape(part)
    return re.compile(out or "/")


def routes_from_template(template: Mapping[str, Any]) -> list[Route]:
    """Every method of the REST API with a Lambda proxy integration, most specific first."""
    resources = resources_of_type(template, "AWS::ApiGateway::Resource")

    def path_of(ref: Any) -> str:
        if isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in resources:
            props = resources[ref["Ref"]]["Properties"]
            return path_of(props["ParentId"]) + "/" + str(props["PathPart"])
        return ""  # the API's root resource

    routes: list[Route] = []
    for method in resources_of_type(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        integration = props.get("Integration") or {}
        if integration.get("Type") != "AWS_PROXY":
            continue
        function = _function_of(integration.get("Uri"))
        if function is None:
            continue
        resource = path_of(props["ResourceId"]) or "/"
        routes.append(
            Route(
                method=str(props["HttpMethod"]),
                resource=resource,
                pattern=_pattern(resource),
                function=function,
                authorized=str(props.get("AuthorizationType", "NONE")) != "NONE",
            )
        )
    routes.sort(key=lambda r: ("+}" in r.resource, -r.resource.count("/"), r.method == "ANY"))
    return routes


def _function_of(uri: Any) -> str | None:
    """The logical id of the function a Lambda proxy integration's URI names."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "Fn::GetAtt" in value:
                found.append(str(value["Fn::GetAtt"][0]))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(uri)
    return found[0] if found else None


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    return status, {"Content-Type": "application/json", **(headers or {})}, body


class Gateway:
    """Turns requests into proxy events for the functions; usable without HTTP (``handle``)."""

    def __init__(
        self,
        routes: list[Route],
        functions: LocalFunctions,
        tokens: DevTokens,
        *,
        function_names: Mapping[str, str],
        stage: str = "local",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.routes = routes
        self.functions = functions
        self.tokens = tokens
        self.function_names = function_names  # logical id -> function name
        self.stage = stage
        self.clock = clock
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        # One request at a time per function, as Lambda gives one execution environment one
        # request at a time: Powertools' resolver keeps the current event and its context on the
        # class (``BaseRouter.current_event``), so two requests in one process at once (a browser's
        # parallel fetches) would read each other's event, or find the context another cleared.
        self._invocations: dict[str, threading.Lock] = {}
        self._invocations_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        split = urllib.parse.urlsplit(target)
        path = split.path
        if path.startswith(f"/{self.stage}/"):
            # API Gateway's default endpoint names the stage first (``/<stage>/v1/...``), as the
            # URLs the handlers build from their request context do (the OAuth callback's).
            path = path[len(self.stage) + 1 :]
        for route in self.routes:
            params = route.match(method, path)
            if params is None:
                continue
            context: dict[str, Any] | None = None
            if route.authorized:
                try:
                    context = authorizer_context(self.tokens.verify(_bearer(headers), self.clock()))
                except InvalidToken:
                    return _error(401, "UNAUTHORIZED", "Unauthorized")
            event = self._event(route, method, path, split.query, params, headers, body, context)
            return self._call(route, event)
        allowed = sorted({m for r in self.routes if r.pattern.fullmatch(path) for m in r.methods})
        if allowed:
            return _error(
                405, "METHOD_NOT_ALLOWED", f"{method[:16]} is not allowed here", {"Allow": ", ".join(allowed)}
            )
        return _error(404, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")

    def _event(  # noqa: PLR0917 - the parts of one request
        self,
        route: Route,
        method: str,
        path: str,
        query: str,
        params: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
        authorizer: dict[str, Any] | None,
    ) -> dict[str, Any]:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        multi_query: dict[str, list[str]] = {}
        for key, value in pairs:
            multi_query.setdefault(key, []).append(value)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        text = not body or any(t in content_type.lower() for t in _TEXT_TYPES) or not content_type
        try:
            decoded = body.decode("utf-8") if text else None
        except UnicodeDecodeError:
            decoded = None
        now = time.time()
        request_context: dict[str, Any] = {
            "resourcePath": route.resource,
            "httpMethod": method,
            # As on a custom domain: the stage is not part of the URL (links built from the
            # request, such as the portal's, point where the request came).
            "path": path,
            "stage": self.stage,
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": str(uuid.uuid4()),
            "accountId": ACCOUNT,
            "apiId": "local",
            "resourceId": "local",
            "protocol": "HTTP/1.1",
            "domainName": f"{HOST}:{self.port}",
            "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now * 1000),
            "identity": {
                "sourceIp": HOST,
                "userAgent": next((v for k, v in headers.items() if k.lower() == "user-agent"), ""),
            },
        }
        if authorizer is not None:
            request_context["authorizer"] = authorizer
        # API Gateway tells the function the scheme the client used (here always plain HTTP).
        headers = {
            **{k: v for k, v in headers.items() if k.lower() != "x-forwarded-proto"},
            "X-Forwarded-Proto": "http",
        }
        multi_headers: dict[str, list[str]] = {}
        for key, value in headers.items():
            multi_headers.setdefault(key, []).append(value)
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": method,
            "headers": dict(headers) or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": dict(pairs) or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": request_context,
            "body": (decoded if decoded is not None else base64.b64encode(body).decode()) if body else None,
            "isBase64Encoded": bool(body) and decoded is None,
        }

    def _call(self, route: Route, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        name = self.function_names[route.function]
        with self._invocations_lock:
            one_at_a_time = self._invocations.setdefault(name, threading.Lock())
        try:
            with one_at_a_time:
                result = self.functions.invoke(name, event)
        except FunctionError:
            # API Gateway answers a crashed Lambda with its own 502 (the stack trace stays in the logs).
            return _error(502, "BAD_GATEWAY", "Internal server error")
        if not isinstance(result, dict) or "statusCode" not in result:
            return _error(502, "BAD_GATEWAY", "Malformed Lambda proxy response")
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[str(key)] = ", ".join(str(v) for v in values)
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        return int(result["statusCode"]), headers, data

    # --- HTTP

    def start(self, port: int = 0) -> Gateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    status, headers, data = _error(413, "REQUEST_TOO_LARGE", "Request Too Long")
                    self.close_connection = True
                else:
                    body = self.rfile.read(length) if length else b""
                    received = {k: v for k, v in self.headers.items()}
                    status, headers, data = gateway.handle(self.command, self.path, received, body)
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def __getattr__(self, name: str) -> Any:
                # http.server answers a method without a ``do_<METHOD>`` with its own 501: every
                # method goes to the gateway, which answers the ones API Gateway has not (405).
                if name.startswith("do_"):
                    return self._any
                raise AttributeError(name)

            def log_message(self, *_args: Any) -> None:  # quiet: no line per request
                return

        server = ThreadingHTTPServer((HOST, port), Handler)
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, name="local-gateway", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _bearer(headers: Mapping[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("no bearer token")
    return token.strip()
