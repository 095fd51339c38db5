"""A small validator for Google API discovery documents (the OpenAPI helpers read OpenAPI only).

``Discovery(name).check_request(method, path, query, body)`` finds the discovery method whose
``flatPath`` matches, checks every query parameter is declared (method or document-wide), the
required ones are there, integers are integers within ``minimum``/``maximum`` and enums hold, and
the body against the method's ``request`` schema; ``check_response`` checks a body against its
``response`` schema. Schemas: ``type`` (string, boolean, integer, number, array, object, any),
``$ref``, ``items``, ``properties`` (unknown properties refused: a fake must not invent fields),
``additionalProperties``, ``format: int64`` (a string of digits), ``enum``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from vendor_openapi import SPECS


@dataclass(frozen=True)
class Method:
    id: str
    http_method: str
    pattern: re.Pattern[str]
    spec: Mapping[str, Any]


class Discovery:
    def __init__(self, name: str) -> None:
        if not SPECS.is_dir():
            pytest.skip(f"vendor specs folder {SPECS} is missing (it sits beside the repository)")
        with (SPECS / name).open(encoding="utf-8") as handle:
            self.doc: dict[str, Any] = json.load(handle)
        self.schemas: Mapping[str, Any] = self.doc["schemas"]
        self.methods: list[Method] = []
        self._collect(self.doc.get("resources", {}))

    def _collect(self, resources: Mapping[str, Any]) -> None:
        for resource in resources.values():
            for spec in resource.get("methods", {}).values():
                flat = "/" + spec.get("flatPath", spec["path"])
                regex = re.sub(r"\{[^}]+\}", "[^/]+", re.escape(flat).replace(r"\{", "{").replace(r"\}", "}"))
                self.methods.append(Method(spec["id"], spec["httpMethod"], re.compile(f"^{regex}$"), spec))
            self._collect(resource.get("resources", {}))

    def method(self, http_method: str, path: str) -> Method:
        found = [m for m in self.methods if m.http_method == http_method and m.pattern.match(path)]
        assert found, f"{http_method} {path} is no method of the discovery document"
        # The most specific: literal segments beat placeholders (users/watch over users/{userKey}).
        return max(found, key=lambda m: len(m.pattern.pattern.replace("[^/]+", "")))

    def check_request(
        self, http_method: str, path: str, query: Mapping[str, Sequence[str]], body: Any = None
    ) -> Method:
        method = self.method(http_method, path)
        declared = {**self.doc.get("parameters", {}), **method.spec.get("parameters", {})}
        for name, values in query.items():
            assert name in declared, f"{method.id}: query parameter {name!r} is not declared"
            parameter = declared[name]
            assert parameter.get("location", "query") == "query", (
                f"{method.id}: {name} is not a query parameter"
            )
            for value in values:
                _check_scalar(parameter, value, f"{method.id}?{name}")
        for name, parameter in method.spec.get("parameters", {}).items():
            if parameter.get("required") and parameter.get("location") == "query":
                assert name in query, f"{method.id}: required query parameter {name!r} is missing"
        request = method.spec.get("request")
        if request is not None:
            assert body is not None, f"{method.id}: the request needs a body"
            self.check(body, request, f"{method.id} request")
        return method

    def check_response(self, http_method: str, path: str, body: Any) -> None:
        method = self.method(http_method, path)
        response = method.spec.get("response")
        if response is None:
            assert body in (None, b"", ""), f"{method.id}: answers no body"
            return
        self.check(body, response, f"{method.id} response")

    def check(self, value: Any, schema: Mapping[str, Any], where: str) -> None:
        if "$ref" in schema:
            self.check(value, self.schemas[schema["$ref"]], where)
            return
        kind = schema.get("type")
        if kind == "any" or (kind is None and "properties" not in schema):
            return
        if value is None:
            return  # JSON null: Google omits rather than nulls, a fake's null is an absent field
        if kind == "array":
            assert isinstance(value, list), f"{where}: expected an array"
            for index, item in enumerate(value):
                self.check(item, schema.get("items", {}), f"{where}[{index}]")
            return
        if kind == "object" or "properties" in schema:
            assert isinstance(value, dict), f"{where}: expected an object"
            properties = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                if key in properties:
                    self.check(item, properties[key], f"{where}.{key}")
                elif extra is not None:
                    self.check(item, extra, f"{where}.{key}")
                else:
                    raise AssertionError(f"{where}: property {key!r} is not in the schema")
            return
        _check_scalar(schema, value, where, typed=True)


def _check_scalar(schema: Mapping[str, Any], value: Any, where: str, *, typed: bool = False) -> None:
    """A query value (always text) or a JSON scalar (``typed``) against a discovery type."""
    kind, text = schema.get("type"), value if isinstance(value, str) else None
    if kind == "boolean":
        ok = isinstance(value, bool) if typed else value in ("true", "false")
        assert ok, f"{where}: expected a boolean, got {value!r}"
    elif kind in ("integer", "number"):
        if typed and not (schema.get("format") in ("int64", "uint64") and isinstance(value, str)):
            assert isinstance(value, int | float) and not isinstance(value, bool), (
                f"{where}: expected a number"
            )
            number = float(value)
        else:
            assert text is not None and re.fullmatch(r"-?\d+", text), (
                f"{where}: expected an integer, got {value!r}"
            )
            number = float(text)
        if "minimum" in schema:
            assert number >= float(schema["minimum"]), f"{where}: {value} is below {schema['minimum']}"
        if "maximum" in schema:
            assert number <= float(schema["maximum"]), f"{where}: {value} is above {schema['maximum']}"
    elif kind == "string":
        assert isinstance(value, str), f"{where}: expected a string, got {type(value).__name__}"
        if schema.get("format") in ("int64", "uint64"):
            assert re.fullmatch(r"-?\d+", value), f"{where}: expected an int64 string, got {value!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} is not one of {schema['enum']}"
