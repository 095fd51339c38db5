"""The plain domain values (``Employee``, ``Profile``, ``Member``) from outside data, and back.

The domain keeps these as plain slotted dataclasses that validate nothing (``shared.domain.models``);
what comes from outside is validated here, where it enters: HR records in the providers'
``build_employee`` (leniently, R04 and R25: see ``lenient_employee_fields``), stored items in the
adapters, admin edits in the services. Validation uses pydantic's ``TypeAdapter`` over the
dataclasses (types coerced as JSON has them: ISO dates, lists for tuples, enum values), with
unknown fields refused at every level, plus the checks a dataclass cannot carry: required ids are
not empty, versions are not negative. Every failure is a ``pydantic.ValidationError``.

Reading runs pydantic-core's validators directly: a stored member's JSON document is validated in
one pass (no decoded dict in between), since a sync reads every member of the tenant
(bench/reconcile.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails, SchemaValidator, core_schema

from shared.domain.models import NO_FLAGS, Employee, Member, Profile, lenient_employee_fields

_EMPLOYEE: TypeAdapter[Employee] = TypeAdapter(Employee)
_EMPLOYEES: TypeAdapter[list[Employee]] = TypeAdapter(list[Employee])
_MEMBER: TypeAdapter[Member] = TypeAdapter(Member)
_PROFILE: TypeAdapter[Profile] = TypeAdapter(Profile)

_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {Employee: _EMPLOYEE, Member: _MEMBER, Profile: _PROFILE}


def _reader(adapter: TypeAdapter[Any]) -> SchemaValidator:
    """The adapter's validator, with unknown fields refused (``unexpected_keyword_argument``) in
    nested dataclasses too (plain dataclasses carry no pydantic config, so their schema says it),
    and an empty frozenset (``Member.flags``, the only one) read as the shared ``NO_FLAGS``:
    immutable, and 20 MB fewer for 100,000 members, most without flags (bench/reconcile.py)."""

    def adapted(schema: Any) -> Any:
        if isinstance(schema, list):
            return [adapted(item) for item in schema]
        if not isinstance(schema, dict):
            return schema
        copied = {key: adapted(value) for key, value in schema.items()}
        if copied.get("type") == "dataclass-args":
            copied["extra_behavior"] = "forbid"
        if copied.get("type") == "frozenset":
            return core_schema.no_info_after_validator_function(_shared_when_empty, copied)
        return copied

    return SchemaValidator(adapted(adapter.core_schema))


def _shared_when_empty(items: frozenset[Any]) -> frozenset[Any]:
    return items or NO_FLAGS


_EMPLOYEE_READER = _reader(_EMPLOYEE)
_MEMBER_READER = _reader(_MEMBER)
_PROFILE_READER = _reader(_PROFILE)

Domain = Employee | Member | Profile


def employee_from(data: Mapping[str, Any]) -> Employee:
    """An ``Employee`` from an HR record's mapped fields (lenient: see the module docstring)."""
    employee: Employee = _EMPLOYEE_READER.validate_python(lenient_employee_fields(data))
    _not_empty(employee.hris_id, "hris_id", "Employee")
    return employee


def employees_from_json(data: str | bytes) -> list[Employee]:
    """Employees stored as a JSON list (``to_json`` of each, or ``to_plain`` of them all)."""
    employees = _EMPLOYEES.validate_json(data)
    for index, employee in enumerate(employees):
        _not_empty(employee.hris_id, "hris_id", "Employee", index)
    return employees


def member_from(data: Mapping[str, Any]) -> Member:
    """A ``Member`` from plain values (a stored item's fields, a blob's JSON decoded)."""
    member: Member = _MEMBER_READER.validate_python(data)
    return _checked(member)


def member_from_json(data: str | bytes) -> Member:
    """A ``Member`` from its JSON document (``to_json``), as the member store keeps it.

    Parsed and validated in one pass. Strings are made through pydantic-core's string cache (its
    default): the values that repeat across a tenant (its id, the connection, departments,
    titles, locations ...) become one string object each instead of one per member, which halves
    the memory of 100,000 members (bench/reconcile.py)."""
    member: Member = _MEMBER_READER.validate_json(data)
    return _checked(member)


def profile_from(data: Mapping[str, Any]) -> Profile:
    """A ``Profile`` from plain values (an admin's edit merged over the current profile)."""
    profile: Profile = _PROFILE_READER.validate_python(data)
    return profile


def to_plain(
    value: Domain,
    *,
    mode: Literal["json", "python"] = "json",
    exclude: set[str] | None = None,
    warnings: bool = True,
) -> dict[str, Any]:
    """A domain value's fields as plain values (``mode="json"``: JSON-safe). ``warnings=False``
    for a value built with ``dataclasses.replace`` from JSON values (dates still as strings)."""
    plain: dict[str, Any] = _adapter(type(value)).dump_python(
        value, mode=mode, exclude=exclude, warnings=warnings
    )
    return plain


def to_json(value: Domain, *, exclude_none: bool = False) -> str:
    """A domain value as one JSON document."""
    return _adapter(type(value)).dump_json(value, exclude_none=exclude_none).decode()


def _adapter(kind: type[Domain]) -> TypeAdapter[Any]:
    return _ADAPTERS[kind]


def _checked(member: Member) -> Member:
    _not_empty(member.member_id, "member_id", "Member")
    _not_empty(member.tenant_id, "tenant_id", "Member")
    if member.version < 0:
        raise _invalid("Member", "greater_than_equal", ("version",), member.version, {"ge": 0})
    return member


def _not_empty(value: str, name: str, title: str, index: int | None = None) -> None:
    if not value:
        loc = (name,) if index is None else (index, name)
        raise _invalid(title, "string_too_short", loc, value, {"min_length": 1})


def _invalid(
    title: str, kind: str, loc: tuple[str | int, ...], value: Any, context: dict[str, Any]
) -> ValidationError:
    return ValidationError.from_exception_data(
        title, [InitErrorDetails(type=kind, loc=loc, input=value, ctx=context)]
    )
