"""Validating HTTP requests and responses against the vendors' own OpenAPI documents in
``../shared/vendor-specs/`` (read at test time, never copied).

A request (``Call``) is checked for what the vendor would refuse: an operation the spec has
(path and method), every parameter (path, query with its style: ``form`` exploded or comma
separated, ``deepObject`` as ``name[key]``; headers) present when required, declared, and valid
against its schema after the string is read as the schema's type; a query parameter the operation
does not declare; the security the operation asks for (Basic, Bearer, API-key header); the
request body's media type and its schema.

OpenAPI 3.1 documents (BambooHR) are JSON Schema 2020-12 already. OpenAPI 3.0 documents (Personio,
Merge) are converted keyword by keyword: ``nullable: true`` adds ``null`` to the type (and to an
``enum``), or wraps a type-less schema (``allOf`` + ``nullable``) in ``anyOf [schema, null]``;
siblings of a ``$ref`` are dropped (3.0 ignores them); boolean ``exclusiveMinimum/Maximum`` become
the numeric form. Formats (date-time, date, email, uuid, uri) are checked, not ignored.

One erratum is applied, named and proven by a test: Personio's list responses ``allOf`` a base
``Response`` whose ``data`` is an object with a ``data`` that is an array, which no document can
satisfy (not even Personio's own example).
"""

from __future__ import annotations

import copy
import functools
import os
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from vendor_requests import RequestChecks

REPO_ROOT = Path(__file__).resolve().parents[2]
# Beside the repository; HRIS_SYNC_VENDOR_SPECS names it for a checkout elsewhere (a git worktree).
SPECS = Path(os.environ.get("HRIS_SYNC_VENDOR_SPECS") or REPO_ROOT.parent / "shared" / "vendor-specs")
SPEC_URI = "urn:vendor-spec"


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster


class _NoDates(_BaseLoader):  # type: ignore[misc]
    """YAML without the timestamp resolver: examples like 2022-12-24T08:15:30 stay strings."""


_NoDates.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_spec(name: str) -> dict[str, Any]:
    """A vendor's spec as parsed YAML (a fresh copy: callers may patch it)."""
    if not SPECS.is_dir():
        pytest.skip(f"vendor specs folder {SPECS} is missing (it sits beside the repository)")
    return copy.deepcopy(_parsed(name))


@functools.cache
def _parsed(name: str) -> dict[str, Any]:
    with (SPECS / name).open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_NoDates)  # noqa: S506 - a SafeLoader subclass
    return loaded


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")


def oas30_to_jsonschema(schema: Any) -> Any:
    """One OpenAPI 3.0 Schema Object as JSON Schema 2020-12 (recursively)."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"$ref": schema["$ref"]}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: oas30_to_jsonschema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [oas30_to_jsonschema(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = oas30_to_jsonschema(value)
        elif key != "nullable":
            out[key] = value
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool) and out.pop(bound) and limit in out:
            out[bound] = out.pop(limit)
    if schema.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _convert_components(spec: dict[str, Any]) -> dict[str, Any]:
    converted = copy.deepcopy(spec)
    schemas = converted.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        schemas[name] = oas30_to_jsonschema(schema)
    for item in converted.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            contents = [response.get("content") or {} for response in operation.get("responses", {}).values()]
            contents.append((operation.get("requestBody") or {}).get("content") or {})
            for content in contents:
                for media in content.values():
                    if isinstance(media, dict) and "schema" in media:
                        media["schema"] = oas30_to_jsonschema(media["schema"])
            for parameter in [*operation.get("parameters", []), *item.get("parameters", [])]:
                if isinstance(parameter, dict) and "schema" in parameter:
                    parameter["schema"] = oas30_to_jsonschema(parameter["schema"])
    for response in converted.get("components", {}).get("responses", {}).values():
        for media in (response.get("content") or {}).values() if isinstance(response, dict) else ():
            if isinstance(media, dict) and "schema" in media:
                media["schema"] = oas30_to_jsonschema(media["schema"])
    for parameter in converted.get("components", {}).get("parameters", {}).values():
        if isinstance(parameter, dict) and "schema" in parameter:
            parameter["schema"] = oas30_to_jsonschema(parameter["schema"])
    return converted


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # a format constrains strings only
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", value):
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(_date_time)
FORMATS.checks("date")(_date)
FORMATS.checks("uuid")(_uuid)
FORMATS.checks("email")(
    lambda v: not isinstance(v, str) or re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v) is not None
)
FORMATS.checks("uri")(
    lambda v: not isinstance(v, str) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$", v) is not None
)


class OpenAPI(RequestChecks):
    """A vendor's OpenAPI document, ready to validate response bodies by path, method and status."""

    def __init__(
        self,
        name: str,
        *,
        prefix: str = "",
        errata: Callable[[dict[str, Any]], None] | None = None,
        exact_content_type: bool = False,
    ) -> None:
        raw = load_spec(name)
        self.version = str(raw.get("openapi"))
        self.spec = raw if self.version.startswith("3.1") else _convert_components(raw)
        if errata is not None:
            errata(self.spec)
        self.prefix = prefix
        self.exact_content_type = exact_content_type
        resource = Resource.from_contents(self.spec, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)

    def schema(self, path: str, method: str, status: int, content_type: str = "application/json") -> Any:
        spec_path = path[len(self.prefix) :] if self.prefix and path.startswith(self.prefix) else path
        responses = self.spec["paths"][spec_path][method.lower()]["responses"]
        # An exact status, else its range (``2XX``, as Graph writes them), else the default.
        response = responses.get(str(status)) or responses.get(f"{status // 100}XX") or responses["default"]
        if "$ref" in response:
            response = self._pointer(response["$ref"])
        return response["content"][content_type]["schema"]

    def component(self, name: str) -> Any:
        return {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}

    def _pointer(self, ref: str) -> Any:
        node: Any = self.spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def validator(self, schema: Any) -> Draft202012Validator:
        rooted = _rebase(schema)
        return Draft202012Validator(rooted, registry=self.registry, format_checker=FORMATS)

    def errors(self, schema: Any, document: Any) -> list[ValidationError]:
        return sorted(self.validator(schema).iter_errors(document), key=lambda e: list(e.path))

    def validate(self, path: str, method: str, status: int, document: Any) -> None:
        self.assert_valid(self.schema(path, method, status), document)

    def assert_valid(self, schema: Any, document: Any) -> None:
        errors = self.errors(schema, document)
        if errors:
            shown = "\n".join(
                f"  at {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10]
            )
            raise AssertionError(f"{len(errors)} schema violation(s):\n{shown}")


def _rebase(schema: Any) -> Any:
    """Point local ``#/...`` refs of an inline response schema at the registered spec document."""
    if isinstance(schema, dict):
        return {
            k: (f"{SPEC_URI}{v}" if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def personio_errata(spec: dict[str, Any]) -> None:
    """Personio's list responses: keep the base Response's rules except its object-typed ``data``."""
    schemas = spec["components"]["schemas"]
    for name in PERSONIO_LIST_RESPONSES:
        parts = schemas[name]["allOf"]
        if parts and parts[0] == {"$ref": "#/components/schemas/Response"}:
            parts[0] = {
                "type": "object",
                "required": ["success", "data"],
                "properties": {"success": {"type": "boolean"}},
            }


PERSONIO_LIST_RESPONSES = ("EmployeesResponse",)


def bamboohr_errata(spec: dict[str, Any]) -> None:
    """BambooHR's ``GET /api/v1/employees`` parameters, as its own examples use them.

    ``fields`` is one comma-separated value (the parameter's example ``workEmail,mobilePhone``),
    not a repeated parameter as an exploded ``form`` array would be; ``page[after]`` and
    ``page[before]`` carry the opaque cursors the responses hand out (``meta.page.nextCursor``: a
    string such as ``eyJjdXJzb3IiOiAiYWZ0ZXItMTI0In0=``), not the integers the schema says.
    """
    for parameter in spec["paths"]["/api/v1/employees"]["get"]["parameters"]:
        if parameter.get("name") == "fields":
            parameter["explode"] = False
    paging = spec["components"]["schemas"]["EmployeeCursorPaginationQueryObject"]["allOf"][1]["properties"]
    for name in ("after", "before"):
        paging[name]["type"] = "string"


def merge_v3_errata(spec: dict[str, Any]) -> None:
    """Merge's hris_v3 types each enum field ``oneOf: [<Enum>, {type: string}]`` (the enum, or the
    vendor's raw value with ``show_enum_origins``): every documented value matches both branches,
    which ``oneOf`` forbids, so no valid document passes. Read as ``anyOf``, what Merge means."""
    schemas = spec["components"]["schemas"]

    def is_enum(branch: Any) -> bool:
        ref = branch.get("$ref", "") if isinstance(branch, dict) else ""
        target = schemas.get(ref.rsplit("/", 1)[-1], {}) if ref.startswith("#/components/schemas/") else {}
        return "enum" in target or "enum" in (branch if isinstance(branch, dict) else {})

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            branches = node.get("oneOf")
            if (
                isinstance(branches, list)
                and {"type": "string"} in branches
                and any(is_enum(b) for b in branches)
            ):
                node["anyOf"] = node.pop("oneOf")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)


def slack_errata(spec: dict[str, Any]) -> None:
    """Slack's users API is a Swagger 2.0 document, read here as OpenAPI 3 (in place), with two
    errata named and proven by tests:

    - Swagger 2.0 -> OpenAPI 3: a parameter's ``type`` becomes its ``schema``, a response's
      ``schema`` its ``application/json`` content, ``securityDefinitions`` the security schemes.
      ``definitions`` stay where the ``$ref`` s point.
    - The ``token`` query parameter is the OAuth token, which Slack takes as ``Authorization:
      Bearer`` too (and recommends): the parameter is dropped and the security scheme is the bearer
      token (``users.info`` marks ``token`` required, so a Bearer request would otherwise fail).
    - Slack's generator writes "one of these" as ``items: [a, b]`` on schemas that are not arrays
      (``objs_user``: the workspace or the enterprise user; ``tz``): under JSON Schema that checks
      nothing of an object, so it is read as ``anyOf``.
    """
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            parameters = []
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "token" and parameter.get("in") == "query":
                    continue
                schema = {k: parameter.pop(k) for k in ("type", "format", "items", "enum") if k in parameter}
                parameters.append({**parameter, "schema": schema})
            operation["parameters"] = parameters
            for response in operation.get("responses", {}).values():
                if "schema" in response:
                    response["content"] = {"application/json": {"schema": response.pop("schema")}}
    spec["components"] = {"securitySchemes": {"slackAuth": {"type": "oauth2"}}}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("items"), list) and node.get("type") != "array":
                node["anyOf"] = node.pop("items")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec.get("definitions", {}))
    walk(spec.get("paths", {}))


def graph_errata(spec: dict[str, Any]) -> None:
    """Microsoft Graph's generator marks every type open with ``additionalProperties: {type:
    object}`` (``microsoft.graph.entity``, the collections, the errors' service-specific
    ``innerError`` ...), meaning "other properties may appear", not "they are objects". Read as
    JSON Schema it refuses what Graph itself sends: every entity type is ``allOf: [<base>,
    {properties ...}]`` and the base's ``additionalProperties`` applies to each property it does not
    list (a user's ``displayName`` would have to be an object), a collection's ``@odata.context``
    and an error's ``innerError.request-id`` are strings. The marker is dropped (open types)."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("additionalProperties") == {"type": "object"}:
                del node["additionalProperties"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec.get("components", {}))
    walk(spec.get("paths", {}))  # inline response schemas (delta's collection)


def finch_errata(spec: dict[str, Any]) -> None:
    """Finch's ``Finch-API-Version`` parameter writes its format as a ``pattern``
    (``'YYYY-MM-DD'``, literally): no real version (its own default ``2020-09-17``) matches it, so
    it is read as the date it describes."""
    parameter = spec["components"]["parameters"]["API-Version"]
    if parameter["schema"].get("pattern") == "YYYY-MM-DD":
        parameter["schema"]["pattern"] = r"^\d{4}-\d{2}-\d{2}$"
