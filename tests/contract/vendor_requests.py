"""The request half of the contract checks: which operation of a vendor's spec an HTTP request
is, and what in it the vendor would refuse (see ``RequestChecks``). ``vendor_openapi.OpenAPI``
mixes this in.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

if TYPE_CHECKING:
    from infra.local.fake_hris import Exchange


@dataclass(frozen=True)
class Call:
    """One HTTP request as it went over the wire (the fake server's view of it)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    # Lower-cased names.
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def of(
        cls,
        method: str,
        path: str,
        query: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Call:
        pairs = tuple((k, v) for k, values in (query or {}).items() for v in values)
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        return cls(method.upper(), path, pairs, lowered, body)

    @classmethod
    def heard(cls, exchange: Exchange) -> Call:
        """The request of one exchange a fake recorded."""
        request = exchange.request
        headers = {name: str(value) for name, value in request.headers.items()}
        return cls.of(request.method, request.path, request.query, headers, request.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def replace(self, **changes: Any) -> Call:
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        query = urllib.parse.urlencode(self.query)
        return f"{self.method} {self.path}{'?' + query if query else ''}"


@dataclass(frozen=True)
class Operation:
    """A spec operation a call matched: its path template and what it declares."""

    template: str
    method: str
    parameters: tuple[dict[str, Any], ...]
    path_params: Mapping[str, str]
    request_body: Mapping[str, Any] | None
    security: tuple[Mapping[str, Any], ...]

    def parameter(self, location: str, name: str) -> dict[str, Any] | None:
        for parameter in self.parameters:
            if parameter["in"] == location and parameter["name"].lower() == name.lower():
                return parameter
        return None


_DEEP_KEY = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<key>[^\[\]]*)\]$")


class RequestChecks:
    """``OpenAPI``'s request half: which operation a call is, and what in it the vendor refuses."""

    spec: dict[str, Any]
    prefix: str
    # The spec's prose says the Content-Type must be exactly the media type (BambooHR).
    exact_content_type: bool = False

    def validator(self, schema: Any) -> Draft202012Validator:
        raise NotImplementedError

    def resolve(self, node: Any) -> Any:
        """A ``$ref`` followed (repeatedly) to what it names."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            found: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                found = found[part.replace("~1", "/").replace("~0", "~")]
            node = found
        return node

    def operation(self, call: Call) -> Operation | None:
        """The operation ``call`` is, literal path segments winning over templated ones."""
        path = (
            call.path[len(self.prefix) :] if self.prefix and call.path.startswith(self.prefix) else call.path
        )
        candidates = []
        for template, item in self.spec.get("paths", {}).items():
            # Path parameter names may hold a hyphen (Graph's ``{user-id}``): matched by position.
            pieces = re.split(r"\{([\w-]+)\}", template)  # literal, name, literal, name, ...
            names = pieces[1::2]
            regex = "([^/]+)".join(re.escape(literal) for literal in pieces[::2])
            match = re.fullmatch(regex, path)
            if match is not None:
                candidates.append(
                    (template.count("{"), template, item, dict(zip(names, match.groups(), strict=True)))
                )
        for _, template, item, params in sorted(candidates, key=lambda c: c[0]):
            operation = item.get(call.method.lower())
            if not isinstance(operation, dict):
                continue
            merged = {
                (p["in"], p["name"]): p
                for p in (
                    self.resolve(x) for x in [*item.get("parameters", []), *operation.get("parameters", [])]
                )
            }
            security = operation.get("security", self.spec.get("security", []))
            return Operation(
                template,
                call.method.lower(),
                tuple(merged.values()),
                params,
                self.resolve(operation.get("requestBody")),
                tuple(security),
            )
        return None

    def request_errors(self, call: Call) -> list[str]:
        """What in ``call`` the vendor's spec refuses (empty: a request the vendor accepts)."""
        operation = self.operation(call)
        if operation is None:
            return [f"{call.method} {call.path}: no such operation in the spec"]
        problems = [
            *self._parameter_errors(call, operation),
            *self._security_errors(call, operation),
            *self._body_errors(call, operation),
        ]
        return [f"{call.method} {operation.template}: {p}" for p in problems]

    def assert_request_valid(self, call: Call) -> None:
        problems = self.request_errors(call)
        if problems:
            raise AssertionError(f"{call} breaks the vendor's spec:\n  " + "\n  ".join(problems))

    def assert_recorded_valid(
        self, exchanges: Iterable[Exchange], paths: Iterable[str], listing: str
    ) -> None:
        """The recorded requests on ``paths`` (the ones in the spec): each of them used, several
        pages of ``listing`` read, and every one valid."""
        in_spec = set(paths)
        checked = [c for c in map(Call.heard, exchanges) if c.path in in_spec]
        assert {c.path for c in checked} == in_spec
        assert sum(c.path == listing for c in checked) > 2, "several pages were read"
        for call in checked:
            self.assert_request_valid(call)

    # -- parameters -----------------------------------------------------------------------------

    def _parameter_errors(self, call: Call, operation: Operation) -> list[str]:
        problems: list[str] = []
        query: dict[str, list[str]] = {}
        for name, value in call.query:
            query.setdefault(name, []).append(value)
        used: set[str] = set()
        for parameter in operation.parameters:
            name, location = parameter["name"], parameter["in"]
            schema = self.resolve(parameter.get("schema", {}))
            present, value = False, None
            if location == "path":
                present, value = name in operation.path_params, operation.path_params.get(name)
                value = self._typed(schema, value)
            elif location == "header":
                raw = call.header(name)
                present, value = raw is not None, self._typed(schema, raw)
            elif location == "query":
                present, value, keys = self._query_value(parameter, schema, query)
                used |= keys
            if not present:
                if parameter.get("required"):
                    problems.append(f"the required {location} parameter {name!r} is missing")
                continue
            for error in self.validator(schema).iter_errors(value):
                where = "/".join(map(str, error.absolute_path))
                problems.append(
                    f"{location} parameter {name}{'.' + where if where else ''}: {error.message[:200]}"
                )
        undeclared = sorted(set(query) - used - self._security_query_names(operation))
        problems.extend(f"the query parameter {name!r} is not declared" for name in undeclared)
        return problems

    def _query_value(
        self, parameter: dict[str, Any], schema: Any, query: Mapping[str, list[str]]
    ) -> tuple[bool, Any, set[str]]:
        name = parameter["name"]
        style = parameter.get("style", "form")
        if style == "deepObject":
            found: dict[str, Any] = {}
            keys: set[str] = set()
            for key, values in query.items():
                match = _DEEP_KEY.match(key)
                if match is None or match.group("name") != name:
                    continue
                keys.add(key)
                sub = self.property_schema(schema, match.group("key"))
                found[match.group("key")] = self._typed(sub, values[-1])
            return bool(keys), found, keys
        values = query.get(name)
        if values is None:
            return False, None, set()
        if _types(self.resolve(schema)) == {"array"}:
            explode = parameter.get("explode", style == "form")
            items = values if explode else [part for v in values for part in v.split(",")]
            item_schema = self.resolve(self.resolve(schema).get("items", {}))
            return True, [self._typed(item_schema, v) for v in items], {name}
        return True, self._typed(schema, values[-1]), {name}

    def property_schema(self, schema: Any, key: str) -> Any:
        """The schema of ``key`` in an object schema (through ``$ref`` and ``allOf``); {} if none."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return {}
        found = (schema.get("properties") or {}).get(key)
        if found is not None:
            return self.resolve(found)
        for part in schema.get("allOf", []):
            sub = self.property_schema(part, key)
            if sub:
                return sub
        return {}

    def _typed(self, schema: Any, value: str | None) -> Any:
        """A parameter's string read as its schema's type; left a string when it cannot be."""
        if value is None:
            return None
        schema = self.resolve(schema)
        types = _types(schema)
        if types & {"integer", "number"} and re.fullmatch(r"-?\d+", value):
            return int(value)
        if "number" in types and re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", value):
            return float(value)
        if "boolean" in types and value in ("true", "false"):
            return value == "true"
        if "array" in types:
            items = self.resolve(schema.get("items", {}))
            return [self._typed(items, part) for part in value.split(",")]
        return value

    # -- security -------------------------------------------------------------------------------

    def _schemes(self) -> Mapping[str, Any]:
        schemes: Mapping[str, Any] = self.spec.get("components", {}).get("securitySchemes", {})
        return schemes

    def _security_query_names(self, operation: Operation) -> set[str]:
        names = set()
        for requirement in operation.security:
            for scheme_name in requirement:
                scheme = self._schemes().get(scheme_name, {})
                if scheme.get("type") == "apiKey" and scheme.get("in") == "query":
                    names.add(scheme["name"])
        return names

    def _satisfies(self, call: Call, scheme: Mapping[str, Any]) -> bool:
        authorization = (call.header("Authorization") or "").strip()
        kind = scheme.get("type")
        if kind == "http":
            return authorization.lower().startswith(f"{str(scheme.get('scheme', '')).lower()} ")
        if kind in ("oauth2", "openIdConnect"):
            return authorization.lower().startswith("bearer ")
        if kind == "apiKey":
            where, name = scheme.get("in"), str(scheme.get("name", ""))
            if where == "header":
                return bool(call.header(name))
            if where == "query":
                return any(k == name and v for k, v in call.query)
        return False

    def _security_errors(self, call: Call, operation: Operation) -> list[str]:
        if not operation.security or any(not requirement for requirement in operation.security):
            return []
        for requirement in operation.security:
            if all(self._satisfies(call, self._schemes().get(name, {})) for name in requirement):
                return []
        wanted = " or ".join(sorted({"+".join(r) for r in operation.security}))
        return [f"the credentials do not satisfy the operation's security ({wanted})"]

    # -- body -----------------------------------------------------------------------------------

    def _body_errors(self, call: Call, operation: Operation) -> list[str]:  # noqa: PLR0911 - one per refusal
        body = operation.request_body
        if body is None:
            return ["the operation takes no request body"] if call.body else []
        if not call.body:
            return ["the required request body is missing"] if body.get("required") else []
        content = body.get("content", {})
        sent = call.header("Content-Type") or ""
        media = sent.split(";")[0].strip().lower()
        if self.exact_content_type and sent.strip() not in content:
            return [f"Content-Type {sent!r} is not exactly one of {sorted(content)}"]
        if media not in content:
            return [f"Content-Type {sent!r} is not one of {sorted(content)}"]
        schema = content[media].get("schema", {})
        if media == "application/json" or media.endswith("+json"):
            try:
                document = json.loads(call.body)
            except ValueError:
                return ["the body is not JSON"]
        elif media == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(call.body.decode("utf-8", "replace"), keep_blank_values=True)
            document = {k: self._typed(self.property_schema(schema, k), v[-1]) for k, v in form.items()}
        else:
            return []
        return [
            f"body at /{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
            for e in self.validator(schema).iter_errors(document)
        ]


def _types(schema: Any) -> set[str]:
    if not isinstance(schema, dict):
        return set()
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    return set()
